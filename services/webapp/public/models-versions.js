// The header line and the versions table: one row per version with its state, lineage, test
// accuracy, gate verdict, live figures, image, time in service and a deploy button.

import { $, h } from './dom.js';
import { count, counted, dateTime, FIRST_START_NOTE, pct, percent2, period, periodParts, shortDigest, shortImage, when } from './format.js';
import { stateBadge } from './models-blocks.js';
import { deployLabel } from './models-rollback.js';
import { state, summaryOf } from './models-state.js';

export function renderHeader() {
  const { serving } = state.list;
  const accuracy = summaryOf(serving)?.testAccuracy;
  $('serving-version').textContent = serving;
  $('serving-accuracy').textContent = Number.isFinite(accuracy) ? ` · ${pct(accuracy)} on the test set` : '';
  renderWindow(state.list.window);
}

/** What the figures leave out (registry-types.ts, RegistryWindow): live counts are of recent days, records of the newest. */
function renderWindow(limits) {
  if (limits === undefined) return;
  $('live-window').textContent = `, over the last ${counted(limits.liveDays, 'day')} (since ${dateTime.format(new Date(limits.liveSince))})`;
  const records = $('records-window');
  records.hidden = !limits.recordsTruncated;
  records.textContent = limits.recordsTruncated
    ? `Only the newest ${count(limits.recordLimit)} builds, deployments and training runs are read: older versions may show no image, run or time in service.`
    : '';
}

/** The gate's verdict as the registry words it from the run's numbers; the words carry it, the colour only repeats it. */
function gateSummary(gate) {
  if (gate === null) return h('span', { class: 'muted', text: 'not gated' });
  return h('span', { class: 'gate-summary', 'data-passed': String(gate.passed), text: gate.summary });
}

const canDeploy = (model, serving) => model.version !== serving && model.image !== null && (model.state === 'retired' || model.state === 'built');

/** "mywebapp:v4-…" as text with a line-break opportunity after the colon, where it reads best. */
function breakAfterColon(text) {
  const at = text.indexOf(':');
  return at < 0 ? [text] : [h('span', { class: 'nowrap', text: text.slice(0, at + 1) }), h('wbr'), h('span', { class: 'nowrap', text: text.slice(at + 1) })];
}

function imageCell(model) {
  if (model.image === null && model.digest === null) return h('span', { class: 'muted', text: 'no image' });
  return h('span', { class: 'image' },
    model.image === null ? null : h('code', { title: model.image }, ...breakAfterColon(shortImage(model.image))),
    model.digest === null ? null : h('code', { class: 'digest', title: model.digest }, ...breakAfterColon(shortDigest(model.digest))));
}

/** The live counts with their words, in pieces that wrap between, never inside, "22 predictions,". */
function liveCell(live) {
  if (live.predictions === 0) return h('span', { class: 'muted', text: 'no live data yet' });
  return h('span', { class: 'number' },
    h('span', { class: 'nowrap', text: `${counted(live.predictions, 'prediction')},` }), ' ',
    h('span', { class: 'nowrap', text: `${count(live.wrong)} wrong` }), ' ',
    h('span', { class: 'nowrap', text: `(${pct(live.errorRate)})` }));
}

function servedCell(served) {
  if (served.length === 0) return h('span', { class: 'muted', text: 'never' });
  const newest = [...served].reverse();
  const shown = newest.slice(0, 3);
  return h('ul', { class: 'periods' },
    shown.map((p) => {
      const [from, to] = periodParts(p);
      const start = p.basis === 'first-start'
        ? [h('span', { class: 'nowrap', text: 'from the first start,' }), ' ', h('span', { class: 'nowrap', text: `${from},` })]
        : [h('span', { class: 'nowrap', text: `from ${from}` })];
      return h('li', { 'data-basis': p.basis, title: p.basis === 'first-start' ? FIRST_START_NOTE : undefined }, ...start, ' ', h('span', { class: 'nowrap', text: `until ${to}` }));
    }),
    newest.length > shown.length ? h('li', { class: 'muted', title: newest.slice(3).map(period).join('\n'), text: `and ${newest.length - 3} earlier` }) : null);
}

/**
 * The version a model descended from; when the one in service then was another (it could not
 * be loaded), that one too, the training service's note in the title.
 */
function parentCell(model) {
  if (model.parentVersion === null) return h('span', { class: 'muted', text: '—' });
  if (model.servingVersion === null || model.servingVersion === model.parentVersion) return model.parentVersion;
  return h('span', {}, model.parentVersion,
    h('small', { class: 'muted lineage-note', title: model.incumbentNote ?? undefined, text: ` (${model.servingVersion}, in service, could not be loaded)` }));
}

/** The table of versions; `choose(version)` shows a version's detail, `deploy(version)` rolls back to it. */
export function renderVersions({ choose, deploy }) {
  const container = $('versions');
  const { serving, models } = state.list;
  if (models.length === 0) {
    container.replaceChildren(h('p', { class: 'empty', text: 'No model versions are recorded yet.' }));
    return;
  }
  const columns = ['Version and state', 'Parent', 'Run', 'Created', 'Test accuracy', 'Gate', 'Live', 'Image and digest', 'Served', 'Deploy'];
  const cell = (label, ...content) => h('td', { role: 'cell', 'data-label': label }, ...content);
  const rows = models.map((model) => {
    const selected = model.version === state.selected;
    return h('tr', {
      role: 'row',
      // A click anywhere on the row selects it too (the version button is the keyboard's way).
      onclick: (event) => {
        if (!event.target.closest('button, a, input, select, summary, code')) void choose(model.version);
      },
      'data-version': model.version,
      'data-serving': model.version === serving ? 'true' : undefined,
      // In service: a green bar at the row's start and the "in service" badge. Chosen: a tinted
      // background, aria-current and the words "details below".
      'aria-current': selected ? 'true' : undefined,
      class: [model.version === serving ? 'serving' : '', selected ? 'selected' : ''].join(' ').trim() || undefined,
    },
    h('th', { scope: 'row', role: 'rowheader', class: 'version-cell' },
      // Named by its text alone, the version: aria-pressed says whether its details are the ones shown.
      h('button', {
        type: 'button',
        class: 'link-button',
        title: `Show the details of ${model.version}`,
        'aria-pressed': selected ? 'true' : 'false',
        onclick: () => choose(model.version),
      }, model.version),
      h('span', { class: 'state' }, stateBadge(model)),
      h('span', { class: 'selected-note', hidden: !selected, text: 'details below' })),
    cell('Parent', parentCell(model)),
    cell('Run', model.runId === null ? h('span', { class: 'muted', text: '—' }) : `#${model.runId}`),
    cell('Created', when(model.createdAt, { short: true })),
    cell('Test accuracy', h('span', { class: 'number nowrap', text: pct(model.testAccuracy, percent2) })),
    cell('Gate', gateSummary(model.gate)),
    cell('Live', liveCell(model.live)),
    cell('Image', imageCell(model)),
    cell('Served', servedCell(model.served)),
    cell('Deploy', canDeploy(model, serving)
      ? h('button', {
          type: 'button',
          class: 'secondary small deploy',
          'data-testid': `rollback-${model.version}`,
          disabled: state.deploying !== null,
          onclick: () => void deploy(model.version),
        // The visible words first in its name, then which version, for a list of the page's buttons.
        }, deployLabel(model.version), h('span', { class: 'visually-hidden', text: ` (${model.version})` }))
      : h('span', { class: 'muted', text: model.version === serving ? 'in service' : model.image === null ? 'no image' : '—' })));
  });
  container.replaceChildren(h('div', { class: 'versions-scroll' },
    h('table', { class: 'versions', 'data-testid': 'versions-table', role: 'table', 'aria-labelledby': 'versions-heading' },
      h('thead', {}, h('tr', { role: 'row' }, columns.map((name) => h('th', { scope: 'col', role: 'columnheader', text: name })))),
      h('tbody', {}, rows))));
}

/** Marks `version`'s row as the chosen one, in looks and for screen readers, and no other. */
export function markChosen(version) {
  for (const row of document.querySelectorAll('[data-testid="versions-table"] tbody tr')) {
    const chosen = row.dataset.version === version;
    row.classList.toggle('selected', chosen);
    if (chosen) row.setAttribute('aria-current', 'true');
    else row.removeAttribute('aria-current');
    row.querySelector('.link-button')?.setAttribute('aria-pressed', String(chosen));
    const note = row.querySelector('.selected-note');
    if (note) note.hidden = !chosen;
  }
}
