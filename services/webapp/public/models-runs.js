// Training runs, newest first, those that made no version included: a rejected run kept the model
// in service, a failed one made nothing. Without them the versions' run numbers have gaps.

import { api } from './api.js';
import { $, h } from './dom.js';
import { count, when } from './format.js';

/** Runs asked for: a page's worth; the API lists more on request. */
const RUNS_LIMIT = 50;

const OUTCOMES = {
  running: { badge: 'under way', className: 'state-built' },
  promoted: { badge: 'promoted', className: 'gate-pass' },
  rejected: { badge: 'rejected', className: 'gate-fail' },
  failed: { badge: 'failed', className: 'gate-fail' },
};

/** What became of a run, in words: the gate's verdict (gate-words.ts), the error, or that it is still training. */
function whatHappened(run, choose) {
  if (run.status === 'running') return ['Training since ', when(run.startedAt, { short: true }), '.'];
  const version = run.modelVersion === null
    ? null
    : h('button', { type: 'button', class: 'link-button', onclick: () => choose(run.modelVersion) }, run.modelVersion);
  if (run.status === 'failed') return [`Failed: ${run.error}.`, ...(version === null ? [] : [' Its version ', version, ' was never released.'])];
  const verdict = h('span', { class: 'gate-summary', 'data-passed': String(run.status === 'promoted'), text: run.verdict ?? run.status });
  if (run.status === 'rejected') return [verdict, ` — ${run.parentVersion ?? 'the model in service'} stayed in service.`];
  return [verdict, ...(version === null ? [] : [' — made ', version, '.'])];
}

/** Loads and shows the runs; `choose(version)` shows a version's details. */
export async function loadRuns({ choose }) {
  const container = $('runs');
  container.setAttribute('aria-busy', 'true');
  try {
    const { runs } = await api(`/api/training/runs?limit=${RUNS_LIMIT}`);
    if (runs.length === 0) {
      container.replaceChildren(h('p', { class: 'empty', text: 'No training run yet: the training service starts one once enough labelled digits are collected.' }));
      return;
    }
    container.replaceChildren(
      h('div', { class: 'table-scroll' },
        h('table', { class: 'compact runs' },
          h('thead', {}, h('tr', {}, ['Run', 'When', 'Outcome', 'What happened'].map((name) => h('th', { scope: 'col', text: name })))),
          h('tbody', {}, runs.map((run) => h('tr', { 'data-run': run.id, 'data-status': run.status },
            h('th', { scope: 'row', class: 'number', text: `#${run.id}` }),
            h('td', {}, when(run.finishedAt ?? run.startedAt, { short: true })),
            h('td', {}, h('span', { class: `badge ${OUTCOMES[run.status]?.className ?? ''}`, text: OUTCOMES[run.status]?.badge ?? run.status })),
            h('td', {}, ...whatHappened(run, choose))))))),
      ...(runs.length === RUNS_LIMIT
        ? [h('p', { class: 'hint' }, `The ${count(RUNS_LIMIT)} newest runs; `, h('a', { href: '/api/training/runs?limit=999', text: 'the API lists more' }), '.')]
        : []),
    );
  } catch (error) {
    container.replaceChildren(h('p', { class: 'error', text: `Could not load the training runs: ${error.message}.` }));
  } finally {
    container.setAttribute('aria-busy', 'false');
  }
}
