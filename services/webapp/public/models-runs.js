// Training runs, newest first, those that made no version included: a rejected run kept the model
// in service, a failed one made nothing. Without them the versions' run numbers have gaps. Each
// says which version it descended from and which was in service, and a judged one lists the
// gate's checks; above them, the labelled digits set aside for review after refusals in a row.

import { api } from './api.js';
import { $, h } from './dom.js';
import { count, counted, sentence, when } from './format.js';
import { checksTable } from './models-evaluation.js';

/** Runs asked for: a page's worth; the API lists more on request. */
const RUNS_LIMIT = 50;

const OUTCOMES = {
  running: { badge: 'under way', className: 'state-built' },
  promoted: { badge: 'promoted', className: 'gate-pass' },
  rejected: { badge: 'rejected', className: 'gate-fail' },
  failed: { badge: 'failed', className: 'gate-fail' },
};

/** What became of a run, in words: the gate's verdict (gate-words.ts), the error, or that it is still training. */
function outcome(run, choose) {
  if (run.status === 'running') return ['Training since ', when(run.startedAt, { short: true }), '.'];
  const version = run.modelVersion === null
    ? null
    : h('button', { type: 'button', class: 'link-button', onclick: () => choose(run.modelVersion) }, run.modelVersion);
  if (run.status === 'failed') return [`Failed: ${run.error}.`, ...(version === null ? [] : [' Its version ', version, ' was never released.'])];
  const verdict = h('span', { class: 'gate-summary', 'data-passed': String(run.status === 'promoted'), text: run.verdict ?? run.status });
  // A refusal changes nothing: the version in service then (not the one it descended from, if that one could not be loaded) stays.
  if (run.status === 'rejected') return [verdict, ` — ${run.servingVersion ?? run.parentVersion ?? 'the model in service'} stayed in service.`];
  return [verdict, ...(version === null ? [] : [' — made ', version, '.'])];
}

/** What a refused run set aside: the unused labelled digits it tried, for people to review. */
function setAsideText({ images, refusalsInARow }) {
  const what = `its ${counted(images, 'unused labelled digit')} ${images === 1 ? 'is' : 'are'} set aside for review`;
  if (refusalsInARow === null) return `After too many refusals in a row, ${what}.`;
  return refusalsInARow === 1 ? `Refused, ${what}.` : `It was refusal ${count(refusalsInARow)} in a row, so ${what}.`;
}

/** The outcome, the lineage, what it set aside and the gate's checks, one below the other. */
function whatHappened(run, choose) {
  const failed = (run.checks ?? []).filter((check) => !check.passed).length;
  return [
    h('p', { class: 'run-outcome' }, ...outcome(run, choose)),
    run.lineage === null ? null : h('p', { class: 'run-lineage muted', title: run.incumbentNote ?? undefined, text: sentence(run.lineage) }),
    run.setAside === null ? null : h('p', { class: 'run-set-aside', text: setAsideText(run.setAside) }),
    run.checks === null || run.checks.length === 0 ? null : h('details', { class: 'run-checks' },
      h('summary', { text: failed === 0 ? `The gate’s ${counted(run.checks.length, 'check')}, all passed` : `The gate’s ${counted(run.checks.length, 'check')}: ${count(failed)} failed` }),
      ...checksTable(run.checks, { me: 'the candidate', vs: run.parentVersion ?? 'the model in service then', caption: `The gate’s checks of run #${run.id}` })),
  ];
}

/** The labelled digits set aside for review (see /api/training's setAside), or nothing when there are none. */
function setAsideNote(setAside) {
  if (!setAside || setAside.total === 0 || setAside.summary === null) return null;
  return h('p', { class: 'set-aside', 'data-testid': 'set-aside', text: setAside.summary });
}

/** Loads and shows the runs; `choose(version)` shows a version's details. */
export async function loadRuns({ choose }) {
  const container = $('runs');
  container.setAttribute('aria-busy', 'true');
  try {
    // Set-aside feedback is a note beside the runs: the runs show without it.
    const [{ runs }, training] = await Promise.all([api(`/api/training/runs?limit=${RUNS_LIMIT}`), api('/api/training').catch(() => null)]);
    if (runs.length === 0) {
      container.replaceChildren(h('p', { class: 'empty', text: 'No training run yet: the training service starts one once enough labelled digits are collected.' }));
      return;
    }
    container.replaceChildren(
      ...[setAsideNote(training?.setAside)].filter(Boolean),
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
