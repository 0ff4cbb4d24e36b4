// The model registry page (/models): every version with its lineage, training, evaluation, gate
// verdict and live error rate; two versions side by side; recent feedback (corrections,
// confirmations), filtered by kind; and rollback.
// Reads the JSON described by src/registry-types.ts. Plain ES module, no build step.

import {
  barChart,
  confusionChart,
  epochChart,
  METRIC_COLOURS,
  niceTicks,
  percentFormat,
  timeChart,
  TRAINING_COLOUR,
  VALIDATION_COLOUR,
  VERSION_COLOURS,
  zeroAxis,
} from './models-charts.js';

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = 'mlpl.adminToken';
const CORRECTIONS_LIMIT = 24;
/** Below this span of live data the error-rate chart uses minute buckets, else hours. */
const MINUTE_BUCKETS_BELOW_MS = 3 * 60 * 60 * 1000;
const BUCKET_MS = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };
/** After a rollback whose connection dropped (the webapp itself is replaced), how long to keep asking what is in service. */
const ROLLBACK_POLL_MS = 3000;
const ROLLBACK_POLL_FOR_MS = 180_000;
const DIGITS = Array.from({ length: 10 }, (_, d) => String(d));

const percent1 = new Intl.NumberFormat('en', { style: 'percent', minimumFractionDigits: 1, maximumFractionDigits: 1 });
const percent2 = new Intl.NumberFormat('en', { style: 'percent', minimumFractionDigits: 2, maximumFractionDigits: 2 });
const whole = new Intl.NumberFormat('en');
const dateTime = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit' });
const timeOnly = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit' });
const dayTime = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });

/** Date and time, without the year when it is this year's: tables stay narrow. */
function shortDateTime(date) {
  return date.getFullYear() === new Date().getFullYear() ? dayTime.format(date) : dateTime.format(date);
}

const state = {
  /** The last ModelList. */
  list: null,
  /** version → Promise<ModelDetail>, dropped on every reload. */
  details: new Map(),
  selected: null,
  /** The version being deployed, or null. */
  deploying: null,
  /** Whether the person picked the compared versions; until then they follow the serving one. */
  compareChosen: false,
};

// ---- small helpers ----

/** An HTML element. `attrs` keys starting with "on" add listeners; false/null/undefined values are left out. */
function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') node.addEventListener(name.slice(2), value);
    else if (name === 'text') node.textContent = String(value);
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) if (child !== null && child !== undefined && child !== false) node.append(child);
  return node;
}

const pct = (fraction, format = percent1) => (Number.isFinite(fraction) ? format.format(fraction) : '–');
const count = (n) => (Number.isFinite(n) ? whole.format(n) : '–');
const signed = (n) => `${n > 0 ? '+' : n < 0 ? '−' : '±'}${Math.abs(n).toFixed(2)}`;
/** A difference of two fractions in percentage points, signed. */
const points = (delta) => `${signed(delta * 100)} pts`;

function when(iso, { short = false } = {}) {
  if (!iso) return h('span', { class: 'muted', text: 'unknown' });
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return h('span', { text: iso });
  return h('time', { datetime: iso, title: dateTime.format(date), text: short ? shortDateTime(date) : dateTime.format(date) });
}

/** A period in service as [from, to] texts; `to` is 'now' while it lasts, a bare time when on the same day. */
function periodParts({ from, until }) {
  const start = new Date(from);
  const end = until === null ? null : new Date(until);
  const sameDay = end !== null && start.toDateString() === end.toDateString();
  return [shortDateTime(start), end === null ? 'now' : sameDay ? timeOnly.format(end) : shortDateTime(end)];
}

/** Why the first model's time in service has no deployment behind it. */
const FIRST_START_NOTE = 'Inferred: the first model a webapp loads is in service without being deployed, so there is no deployment record. '
  + 'Its time runs from its earliest record (first load or first prediction) until the first deployment.';

/** A period in service in words: ["from 3 Mar 10:00", "until 10:25"]; the first start says so. */
function periodWords(p) {
  const [from, to] = periodParts(p);
  return [p.basis === 'first-start' ? `from the first start, ${from},` : `from ${from}`, `until ${to}`];
}

const period = (p) => periodWords(p).join(' ');

/** "sha256:0123456789abcdef…" → "sha256:0123456789ab"; the full value goes in the title. */
function shortDigest(digest) {
  const [algorithm, hex] = digest.includes(':') ? digest.split(':', 2) : ['', digest];
  return `${algorithm ? `${algorithm}:` : ''}${hex.slice(0, 12)}${hex.length > 12 ? '…' : ''}`;
}

/** "registry.local:5000/mywebapp:v3" → "mywebapp:v3". */
const shortImage = (image) => image.split('/').at(-1) ?? image;

function liveText(live) {
  if (!live || live.predictions === 0) return 'no live data yet';
  return `${count(live.predictions)} / ${count(live.wrong)} / ${pct(live.errorRate)}`;
}

/** trainingData.byClass as ten numbers: the pretrained model's metadata keeps it as {"0": n, …}. */
function byClassArray(byClass) {
  if (Array.isArray(byClass)) return byClass.length === 0 ? null : DIGITS.map((_, d) => Number(byClass[d] ?? 0));
  if (byClass && typeof byClass === 'object') return DIGITS.map((d) => Number(byClass[d] ?? 0));
  return null;
}

const versionColour = (version) => {
  const i = state.list?.models.findIndex((m) => m.version === version) ?? -1;
  return VERSION_COLOURS[(i < 0 ? 0 : i) % VERSION_COLOURS.length];
};

const summaryOf = (version) => state.list?.models.find((m) => m.version === version);

function setStatus(element, message, kind = 'info') {
  element.textContent = message;
  element.dataset.kind = message === '' ? '' : kind;
}

class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

/** Returns the JSON body, or throws an ApiError with the server's message and status (0: unreachable). */
async function api(path, options) {
  let response;
  try {
    response = await fetch(path, { ...options, headers: { accept: 'application/json', ...options?.headers } });
  } catch {
    throw new ApiError('the server could not be reached', 0);
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(body?.error?.message ?? `the server answered ${response.status} ${response.statusText}`, response.status);
  return body;
}

function detailOf(version) {
  let pending = state.details.get(version);
  if (pending === undefined) {
    pending = api(`/api/models/${encodeURIComponent(version)}`);
    // A failure is not cached: the next look tries again.
    pending.catch(() => {
      if (state.details.get(version) === pending) state.details.delete(version);
    });
    state.details.set(version, pending);
  }
  return pending;
}

// ---- charts drawn at their shown width ----

const drawers = new WeakMap();
const resizes = new ResizeObserver((entries) => {
  for (const entry of entries) redraw(entry.target);
});

/** A block whose content is `draw(width)`, redrawn whenever its width changes. */
function chartBox(draw, className = 'chart-box') {
  const box = h('div', { class: className });
  drawers.set(box, draw);
  resizes.observe(box);
  return box;
}

function redraw(box) {
  if (!box.isConnected) {
    resizes.unobserve(box);
    return;
  }
  const width = Math.floor(box.clientWidth);
  if (width === 0 || box.dataset.drawnAt === String(width)) return;
  box.dataset.drawnAt = String(width);
  box.replaceChildren(drawers.get(box)(width));
}

/** A legend of line or square swatches, as a list a screen reader can read. */
function legend(items, label) {
  return h('ul', { class: 'legend', 'aria-label': label },
    items.map(({ name, colour, dash, square }) => h('li', {},
      h('span', {
        class: square ? 'swatch square' : dash ? 'swatch dashed' : 'swatch',
        style: square ? `background:${colour}` : `border-top-color:${colour}`,
        'aria-hidden': 'true',
      }),
      name)));
}

/** A <details> holding the numbers behind a chart, as a table. */
function dataTable(summary, head, rows) {
  return h('details', { class: 'data-table' },
    h('summary', { text: summary }),
    h('div', { class: 'table-scroll' },
      h('table', {},
        h('thead', {}, h('tr', {}, head.map((cell) => h('th', { scope: 'col', text: cell })))),
        h('tbody', {}, rows.map((row) => h('tr', {}, row.map((cell, i) => (i === 0 ? h('th', { scope: 'row', text: cell }) : h('td', { text: cell })))))))));
}

// ---- versions ----

function stateBadge(model) {
  const serving = model.state === 'serving';
  return h('span', { class: `badge state-${model.state}${serving ? ' serving' : ''}`, 'data-state': model.state, text: serving ? 'in service' : model.state });
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

function renderVersions() {
  const container = $('versions');
  const { serving, models } = state.list;
  if (models.length === 0) {
    container.replaceChildren(h('p', { class: 'empty', text: 'No model versions are recorded yet.' }));
    return;
  }
  const columns = ['Version and state', 'Parent', 'Run', 'Created', 'Test accuracy', 'Gate', 'Live: predictions / wrong / rate', 'Image and digest', 'Served', 'Deploy'];
  const cell = (label, ...content) => h('td', { role: 'cell', 'data-label': label }, ...content);
  const rows = models.map((model) => {
    const selected = model.version === state.selected;
    return h('tr', {
      role: 'row',
      // A click anywhere on the row selects it too (the version button is the keyboard's way).
      onclick: (event) => {
        if (!event.target.closest('button, a, input, select, summary, code')) void select(model.version, { reveal: true });
      },
      'data-version': model.version,
      'data-serving': model.version === serving ? 'true' : undefined,
      // In service: a green bar at the row's start and the "in service" badge. Chosen: a tinted
      // background, aria-current and the words "details below".
      'aria-current': selected ? 'true' : undefined,
      class: [model.version === serving ? 'serving' : '', selected ? 'selected' : ''].join(' ').trim() || undefined,
    },
    h('th', { scope: 'row', role: 'rowheader', class: 'version-cell' },
      h('button', {
        type: 'button',
        class: 'link-button',
        'aria-label': `Show details of ${model.version}`,
        'aria-pressed': selected ? 'true' : 'false',
        onclick: () => select(model.version, { reveal: true }),
      }, model.version),
      h('span', { class: 'state' }, stateBadge(model)),
      h('span', { class: 'selected-note', hidden: !selected, text: 'details below' })),
    cell('Parent', model.parentVersion === null ? h('span', { class: 'muted', text: '—' }) : model.parentVersion),
    cell('Run', model.runId === null ? h('span', { class: 'muted', text: '—' }) : `#${model.runId}`),
    cell('Created', when(model.createdAt, { short: true })),
    cell('Test accuracy', h('span', { class: 'number nowrap', text: pct(model.testAccuracy, percent2) })),
    cell('Gate', gateSummary(model.gate)),
    cell('Live', h('span', { class: model.live.predictions === 0 ? 'muted' : 'number nowrap', text: liveText(model.live) })),
    cell('Image', imageCell(model)),
    cell('Served', servedCell(model.served)),
    cell('Deploy', canDeploy(model, serving)
      ? h('button', {
          type: 'button',
          class: 'secondary small deploy',
          'data-testid': `rollback-${model.version}`,
          'aria-label': `Deploy ${model.version}`,
          disabled: state.deploying !== null,
          onclick: () => void rollback(model.version),
        }, 'Deploy this version')
      : h('span', { class: 'muted', text: model.version === serving ? 'in service' : model.image === null ? 'no image' : '—' })));
  });
  container.replaceChildren(h('div', { class: 'versions-scroll' },
    h('table', { class: 'versions', 'data-testid': 'versions-table', role: 'table', 'aria-labelledby': 'versions-heading' },
      h('thead', {}, h('tr', { role: 'row' }, columns.map((name) => h('th', { scope: 'col', role: 'columnheader', text: name })))),
      h('tbody', {}, rows))));
}

function renderHeader() {
  const { serving } = state.list;
  const accuracy = summaryOf(serving)?.testAccuracy;
  $('serving-version').textContent = serving;
  $('serving-accuracy').textContent = Number.isFinite(accuracy) ? ` · ${pct(accuracy)} on the test set` : '';
}

// ---- detail of one version ----

/** A definition list of [term, value, wide?]; wide entries take a whole line. */
function facts(pairs) {
  return h('dl', { class: 'facts' }, pairs.filter(Boolean).map(([term, value, wide]) => h('div', { class: wide ? 'wide' : undefined }, h('dt', { text: term }), h('dd', {}, value))));
}

function section(title, content, { wide = false } = {}) {
  return h('section', { class: wide ? 'card wide' : 'card', 'aria-label': title }, h('h3', { text: title }), ...content);
}

function epochSection(detail, { compact = false, testid } = {}) {
  const history = (detail.history ?? []).filter((e) => Number.isFinite(e.epoch));
  if (history.length === 0) return [h('p', { class: 'empty', text: 'No per-epoch history was recorded for this version.' })];
  const hasValidation = history.some((e) => Number.isFinite(e.valLoss) || Number.isFinite(e.valAccuracy));
  const last = history.at(-1);
  const label = `Training curves of ${detail.version} over ${history.length} epochs: final training loss ${fixed(last.loss)}, accuracy ${pct(last.accuracy)}`
    + (hasValidation ? `; validation loss ${fixed(last.valLoss)}, accuracy ${pct(last.valAccuracy)}` : '');
  return [
    legend([
      { name: 'training', colour: TRAINING_COLOUR },
      ...(hasValidation ? [{ name: 'validation', colour: VALIDATION_COLOUR, dash: true }] : []),
    ], 'Lines'),
    chartBox((width) => epochChart(width, history, { label, testid, compact })),
    ...(compact ? [] : [dataTable('Numbers per epoch', ['Epoch', 'Loss', 'Accuracy', 'Val. loss', 'Val. accuracy'],
      history.map((e) => [String(e.epoch), fixed(e.loss), pct(e.accuracy, percent2), fixed(e.valLoss), pct(e.valAccuracy, percent2)]))]),
  ];
}

const fixed = (n) => (Number.isFinite(n) ? n.toFixed(4) : '–');

/** The evaluated set to show: 'test' when there is one. */
function mainSet(sets) {
  if (!sets) return null;
  if (sets.test) return 'test';
  return Object.keys(sets)[0] ?? null;
}

function matrixFigure(caption, evaluation, { testid, version }) {
  const matrix = evaluation?.confusionMatrix;
  if (!Array.isArray(matrix) || matrix.length === 0) return h('figure', { class: 'matrix' }, h('figcaption', { text: caption }), h('p', { class: 'empty', text: 'No confusion matrix recorded.' }));
  const right = matrix.reduce((sum, row, t) => sum + Number(row?.[t] ?? 0), 0);
  const total = matrix.reduce((sum, row) => sum + (row ?? []).reduce((a, b) => a + Number(b), 0), 0);
  const mistakes = matrix.flatMap((row, t) => (row ?? []).map((n, p) => ({ t, p, n: Number(n) }))).filter((c) => c.t !== c.p && c.n > 0).sort((a, b) => b.n - a.n);
  const worst = mistakes.slice(0, 3).map((c) => `${c.t} read as ${c.p} ${c.n} times`).join(', ');
  const label = `Confusion matrix of ${version}: ${count(right)} of ${count(total)} digits right`
    + (worst ? `; most frequent mistakes: ${worst}` : '; no mistakes');
  return h('figure', { class: 'matrix' },
    h('figcaption', {}, caption, h('span', { class: 'muted', text: ` · ${count(right)} of ${count(total)} right` })),
    chartBox((width) => confusionChart(width, matrix, { label, testid })));
}

function confusionSection(detail) {
  const evaluation = detail.evaluation;
  const set = mainSet(evaluation?.candidate);
  if (set === null) return [h('p', { class: 'empty', text: 'No evaluation was recorded for this version.' })];
  const incumbent = evaluation.incumbent?.[set];
  return [
    h('p', { class: 'hint', text: `Rows: the true digit; columns: the model's answer. Blue: right; red: mistakes, darker for more. Set: “${set}”.` }),
    h('div', { class: 'matrices' },
      matrixFigure(detail.version, evaluation.candidate[set], { testid: 'confusion-matrix', version: detail.version }),
      incumbent ? matrixFigure('the model in service at the gate', incumbent, { testid: 'confusion-matrix-incumbent', version: 'the incumbent' }) : null),
  ];
}

function classSection(detail) {
  const set = mainSet(detail.evaluation?.candidate);
  const perClass = set === null ? null : detail.evaluation.candidate[set].perClass;
  if (!Array.isArray(perClass) || perClass.length === 0) return [h('p', { class: 'empty', text: 'No per-class figures were recorded.' })];
  const metrics = [['precision', 'precision'], ['recall', 'recall'], ['f1', 'F1']];
  const values = metrics.flatMap(([key]) => perClass.map((c) => c[key])).filter(Number.isFinite);
  // Figures near 100% would all look alike from 0: start at the tenth below the lowest.
  const bottom = Math.max(0, Math.min(0.9, Math.floor((Math.min(...values) - 0.001) * 10) / 10));
  const ticks = niceTicks(bottom, 1, 4);
  const format = percentFormat(ticks);
  const label = `Precision, recall and F1 per digit of ${detail.version} on the ${set} set; lowest F1: `
    + [...perClass].sort((a, b) => a.f1 - b.f1).slice(0, 2).map((c) => `${c.label} (${pct(c.f1)})`).join(', ');
  return [
    legend(metrics.map(([key, name]) => ({ name, colour: METRIC_COLOURS[key], square: true })), 'Bars'),
    chartBox((width) => barChart(width, {
      groups: perClass.map((c) => c.label),
      series: metrics.map(([key, name]) => ({ key, name, colour: METRIC_COLOURS[key], values: perClass.map((c) => c[key]) })),
      y: { min: bottom, max: 1, ticks, format },
      formatValue: (v) => pct(v),
      label,
      testid: 'class-bars',
      rectAttrs: (series, i) => ({ 'data-class': perClass[i].label, 'data-metric': series.key, 'data-value': series.values[i] }),
    })),
    bottom > 0 ? h('p', { class: 'hint', text: `The axis starts at ${format(bottom)}, so small differences show.` }) : null,
    dataTable('Numbers per digit', ['Digit', 'Precision', 'Recall', 'F1', 'Support'],
      perClass.map((c) => [c.label, pct(c.precision), pct(c.recall), pct(c.f1), count(c.support)])),
  ];
}

/** A plain table with a caption. */
function numbersTable(caption, head, rows, attrs = {}) {
  return h('div', { class: 'table-scroll' },
    h('table', { class: 'checks', ...attrs },
      h('caption', { text: caption }),
      h('thead', {}, h('tr', {}, head.map((name) => h('th', { scope: 'col', text: name })))),
      h('tbody', {}, rows)));
}

/** 0.01 → "1 point", 0.005 → "0.5 points". */
function pointsCount(fraction) {
  const value = Number((fraction * 100).toFixed(2));
  return `${value} ${value === 1 ? 'point' : 'points'}`;
}

const signedCount = (n) => `${n > 0 ? '+' : n < 0 ? '−' : '±'}${count(Math.abs(n))}`;

/** The evaluated sets as the gate's summary names them (src/gate-words.ts). */
const setLabel = (set) => ({ test: 'the test set', feedback: 'the held-out corrections' })[set] ?? `the “${set}” set`;

/** Per digit of one set: how many each model got right, from the two confusion matrices' diagonals. */
function digitsTable(evaluation, set) {
  const mine = evaluation.candidate?.[set]?.confusionMatrix;
  const theirs = evaluation.incumbent?.[set]?.confusionMatrix;
  if (!Array.isArray(mine) || !Array.isArray(theirs)) return null;
  const rows = DIGITS.map((digit, t) => {
    const total = (mine[t] ?? []).reduce((a, b) => a + Number(b), 0);
    const right = Number(mine[t]?.[t] ?? 0);
    const before = Number(theirs[t]?.[t] ?? 0);
    return { digit, total, right, before };
  }).filter((row) => row.total > 0);
  return numbersTable(`Digits right on ${setLabel(set)}, per digit`, ['Digit', 'This version', 'In service then', 'Difference'],
    rows.map((row) => h('tr', { 'data-class': row.digit },
      h('th', { scope: 'row', text: row.digit }),
      h('td', { class: 'number', text: `${count(row.right)} of ${count(row.total)}` }),
      h('td', { class: 'number', text: `${count(row.before)} of ${count(row.total)}` }),
      h('td', { class: `number ${row.right > row.before ? 'better' : row.right < row.before ? 'worse' : ''}`, text: signedCount(row.right - row.before) }))));
}

function gateSection(detail) {
  const gate = detail.gate;
  if (gate === null) return [h('p', { text: 'Not gated: no training run made this version.' })];
  const evaluation = detail.evaluation;
  const checks = evaluation?.checks ?? [];
  const testCount = (set) => evaluation?.candidate?.[set]?.testCount;
  const numbers = [
    facts([
      ['Measured against', gate.against ?? 'nothing: no model was in service'],
      ['Tolerance', gate.tolerance === null ? 'not recorded' : `at most ${pointsCount(gate.tolerance)} lower on any set`],
    ]),
    checks.length === 0 ? null : numbersTable('Accuracy on each set', ['Set and check', 'This version', 'In service then', 'Difference (points)', 'Difference (digits)'],
      checks.map((check) => {
        const n = testCount(check.set);
        const digits = check.delta === null || !Number.isFinite(n) ? '–' : `${signedCount(Math.round(check.delta * n))} of ${count(n)}`;
        return h('tr', { 'data-set': check.set, 'data-passed': String(check.passed) },
          h('th', { scope: 'row' }, setLabel(check.set).replace(/^the /, ''), ' ', h('span', { class: `badge ${check.passed ? 'gate-pass' : 'gate-fail'}`, text: check.passed ? 'passed' : 'failed' })),
          h('td', { class: 'number', text: pct(check.candidate, percent2) }),
          h('td', { class: 'number', text: check.incumbent === null ? 'none' : pct(check.incumbent, percent2) }),
          h('td', { class: `number ${check.delta > 0 ? 'better' : check.delta < 0 ? 'worse' : ''}`, text: check.delta === null ? '–' : signed(check.delta * 100) }),
          h('td', { class: 'number', text: digits }));
      })),
    ...checks.map((check) => (evaluation ? digitsTable(evaluation, check.set) : null)),
    gate.reason ? h('p', { class: 'hint' }, 'The gate’s own record: ', h('q', { text: gate.reason })) : null,
  ];
  return [
    h('p', { class: 'gate-verdict', 'data-testid': 'gate-summary', 'data-passed': String(gate.passed), text: gate.summary }),
    h('details', { class: 'gate-numbers', 'data-testid': 'gate-numbers' }, h('summary', { text: 'The numbers behind it' }), ...numbers),
  ];
}

function trainingSection(detail) {
  const data = detail.trainingData;
  if (data === null || data === undefined) return [h('p', { class: 'empty', text: 'What this version was trained on is not recorded.' })];
  const byClass = byClassArray(data.byClass);
  const sources = Object.entries(data.bySource ?? {});
  const total = byClass?.reduce((a, b) => a + b, 0) ?? sources.reduce((a, [, n]) => a + n, 0);
  const content = [
    facts([
      ['Mode', data.mode ?? 'unknown'],
      ['Images trained on', count(total)],
      ['Feedback held out for evaluation', count(data.heldOutFeedback)],
      ['Test set', `${count(data.test)} digits`],
    ]),
  ];
  if (byClass !== null) {
    const { max: top, ticks } = zeroAxis(Math.max(1, ...byClass), 3);
    content.push(
      h('h4', { text: 'Images per digit' }),
      chartBox((width) => barChart(width, {
        groups: DIGITS,
        series: [{ key: 'count', name: 'images', colour: '#475569', values: byClass }],
        y: { min: 0, max: top, ticks, format: (v) => (v >= 10_000 ? `${v / 1000}k` : count(v)) },
        height: 120,
        valueLabels: true,
        formatValue: (v) => (v >= 10_000 ? `${Math.round(v / 1000)}k` : v >= 1000 && width < 420 ? `${(v / 1000).toFixed(1)}k` : count(v)),
        label: `Training images per digit for ${detail.version}: ${byClass.map((n, d) => `${d}: ${n}`).join(', ')}`,
        testid: 'training-bars',
        rectAttrs: (_, i) => ({ 'data-class': String(i), 'data-count': byClass[i] }),
      })),
    );
  }
  if (sources.length > 0) {
    content.push(h('h4', { text: 'By source' }),
      h('table', { class: 'compact' },
        h('thead', {}, h('tr', {}, h('th', { scope: 'col', text: 'Source' }), h('th', { scope: 'col', text: 'Images' }), h('th', { scope: 'col', text: 'Share' }))),
        h('tbody', {}, sources.map(([source, n]) => h('tr', {},
          h('th', { scope: 'row', text: source }),
          h('td', { class: 'number', text: count(n) }),
          h('td', { class: 'number', text: total > 0 ? pct(n / total) : '–' }))))));
  }
  if (detail.runId !== null) {
    content.push(h('p', {}, h('a', { href: `/api/models/${encodeURIComponent(detail.version)}/training-images`, 'data-testid': 'training-images-link' }, 'The exact image ids (JSON)')));
  }
  return content;
}

function liveSection(detail) {
  const rows = detail.liveByClass ?? [];
  const served = rows.reduce((sum, row) => sum + (row?.predictions ?? 0), 0);
  if (served === 0) return [h('p', { class: 'empty', text: 'No live data yet: this version has served no predictions.' })];
  const worst = Math.max(0.0001, ...rows.map((row) => row.errorRate ?? 0));
  return [
    h('p', { class: 'hint', text: `${count(detail.live.predictions)} predictions, ${count(detail.live.corrections)} corrections, of which ${count(detail.live.wrong)} said another digit.` }),
    h('table', { class: 'compact live', 'data-testid': 'live-by-class' },
      h('thead', {}, h('tr', {}, ['Answer', 'Predictions', 'Wrong', 'Error rate'].map((name) => h('th', { scope: 'col', text: name })))),
      h('tbody', {}, rows.map((row, digit) => h('tr', { 'data-class': digit },
        h('th', { scope: 'row', text: String(digit) }),
        h('td', { class: 'number', text: count(row.predictions) }),
        h('td', { class: 'number', text: count(row.wrong) }),
        h('td', { class: 'rate' }, h('span', { class: 'rate-cell' },
          h('span', { class: 'number', text: row.predictions === 0 ? '–' : pct(row.errorRate) }),
          h('span', { class: 'meter', 'aria-hidden': 'true' }, h('span', { style: `width:${(((row.errorRate ?? 0) / worst) * 100).toFixed(1)}%` })))))))),
  ];
}

function parametersSection(detail) {
  const text = detail.parameters === null || detail.parameters === undefined ? 'none recorded' : JSON.stringify(detail.parameters, null, 2);
  return h('details', { class: 'card parameters' }, h('summary', {}, h('h3', { text: 'Parameters' })), h('pre', { text }));
}

/** Every period in service as a sentence; where one is inferred, the page says how. */
function servedFact(served) {
  if (served.length === 0) return h('span', { 'data-testid': 'served', text: 'never' });
  const inferred = served.some((p) => p.basis === 'first-start');
  return h('span', { 'data-testid': 'served' },
    `Served ${served.map(period).join('; ')}.`,
    inferred ? h('small', { class: 'muted', text: ` ${FIRST_START_NOTE}` }) : null);
}

function renderDetail(detail) {
  const serving = state.list.serving;
  $('detail-heading').replaceChildren(`Version ${detail.version} `, detail.version === serving ? h('span', { class: 'badge serving', text: 'in service' }) : stateBadge(detail));
  $('detail').replaceChildren(
    facts([
      ['Parent', detail.parentVersion ?? '— (first or trained from scratch)'],
      ['Run', detail.runId === null ? '—' : `#${detail.runId}`],
      ['Created', when(detail.createdAt)],
      ['Served', servedFact(detail.served), true],
      ['Test accuracy', pct(detail.testAccuracy, percent2)],
      ['Live', liveText(detail.live)],
      ['Image', detail.image === null ? 'none' : h('code', { text: detail.image }), true],
      ['Digest', detail.digest === null ? 'none' : h('code', { text: detail.digest }), true],
    ]),
    h('div', { class: 'cards' },
      section('Training curves', epochSection(detail, { testid: 'epoch-chart' })),
      section('Precision, recall and F1 per digit', classSection(detail)),
      section('Confusion matrix', confusionSection(detail), { wide: true }),
      section('Gate', gateSection(detail), { wide: true }),
      section('Training data', trainingSection(detail)),
      section('Live error rate by answer', liveSection(detail)),
    ),
    parametersSection(detail),
  );
}

/** Shows one version's detail; `reveal` (a person's choice) also scrolls to it and keeps it in the URL. */
async function select(version, { reveal = false } = {}) {
  state.selected = version;
  if (reveal) {
    const url = new URL(location.href);
    url.searchParams.set('version', version);
    history.replaceState(null, '', url);
  }
  for (const row of document.querySelectorAll('[data-testid="versions-table"] tbody tr')) {
    const chosen = row.dataset.version === version;
    row.classList.toggle('selected', chosen);
    if (chosen) row.setAttribute('aria-current', 'true');
    else row.removeAttribute('aria-current');
    row.querySelector('.link-button')?.setAttribute('aria-pressed', String(chosen));
    const note = row.querySelector('.selected-note');
    if (note) note.hidden = !chosen;
  }
  const panel = $('detail-panel');
  panel.setAttribute('aria-busy', 'true');
  $('detail-heading').textContent = `Version ${version}`;
  if (reveal) {
    const smooth = !window.matchMedia('(prefers-reduced-motion: reduce)').matches;
    panel.scrollIntoView({ block: 'start', behavior: smooth ? 'smooth' : 'auto' });
    $('detail-heading').focus({ preventScroll: true });
  }
  try {
    const detail = await detailOf(version);
    if (state.selected !== version) return;
    renderDetail(detail);
  } catch (error) {
    if (state.selected !== version) return;
    $('detail').replaceChildren(h('p', { class: 'error', text: `Could not load ${version}: ${error.message}.` }));
  } finally {
    if (state.selected === version) panel.setAttribute('aria-busy', 'false');
  }
}

// ---- error rate over time ----

/** From the first bucket's start to the last one's, ms; 0 without points. */
function spanOf(series) {
  const starts = series.points.map((p) => Date.parse(p.start)).filter(Number.isFinite);
  return starts.length === 0 ? 0 : Math.max(...starts) - Math.min(...starts);
}

let seriesRequest = 0;
async function loadSeries() {
  const container = $('series');
  const choice = document.querySelector('input[name="bucket"]:checked')?.value ?? 'auto';
  const request = ++seriesRequest;
  try {
    let series = await api(`/api/models/error-rate?bucket=${choice === 'auto' ? 'hour' : choice}`);
    // Hour buckets can err by an hour either way: near 3 h, minute buckets decide (and are few).
    if (choice === 'auto' && spanOf(series) <= MINUTE_BUCKETS_BELOW_MS) {
      const minutes = await api('/api/models/error-rate?bucket=minute');
      if (spanOf(minutes) < MINUTE_BUCKETS_BELOW_MS) series = minutes;
    }
    if (request === seriesRequest) renderSeries(series);
  } catch (error) {
    if (request !== seriesRequest) return;
    container.replaceChildren(h('p', { class: 'error', text: `Could not load the error rate: ${error.message}.` }));
  }
}

function renderSeries(series) {
  const container = $('series');
  const served = series.points.filter((p) => p.predictions > 0 && Number.isFinite(Date.parse(p.start)));
  if (served.length === 0) {
    container.replaceChildren(h('p', { class: 'empty', 'data-testid': 'error-rate-empty', text: 'No live data yet: no version has served a prediction.' }));
    return;
  }
  const byVersion = new Map();
  for (const point of served) {
    const list = byVersion.get(point.version) ?? [];
    list.push(point);
    byVersion.set(point.version, list);
  }
  // In the registry's order (newest first), then any version it does not list.
  const order = [...(state.list?.models.map((m) => m.version) ?? []), ...byVersion.keys()];
  const versions = [...new Set(order)].filter((v) => byVersion.has(v));
  const bucketMs = BUCKET_MS[series.bucket] ?? BUCKET_MS.hour;
  const lines = versions.map((version) => ({
    version,
    colour: versionColour(version),
    points: byVersion.get(version)
      .map((p) => ({ ...p, x: Date.parse(p.start) }))
      .sort((a, b) => a.x - b.x)
      .map((p) => ({
        x: p.x,
        y: p.errorRate ?? Number.NaN,
        title: `${version}, ${dateTime.format(new Date(p.x))}: ${p.wrong} wrong of ${p.predictions} (${pct(p.errorRate)})`,
        attrs: { 'data-start': p.start },
      })),
  }));
  const totals = (version) => byVersion.get(version).reduce((acc, p) => ({ predictions: acc.predictions + p.predictions, wrong: acc.wrong + p.wrong }), { predictions: 0, wrong: 0 });
  const label = `Live error rate per ${series.bucket} for ${versions.length} version${versions.length === 1 ? '' : 's'}: `
    + versions.map((v) => { const t = totals(v); return `${v} ${t.wrong} wrong of ${t.predictions}`; }).join('; ');
  container.replaceChildren(
    legend(versions.map((v) => {
      const t = totals(v);
      return { name: `${v} — ${count(t.wrong)} wrong of ${count(t.predictions)} (${pct(t.wrong / t.predictions)})`, colour: versionColour(v) };
    }), 'Versions'),
    chartBox((width) => timeChart(width, { lines, bucketMs, label, testid: 'error-rate-chart' })),
    h('p', { class: 'hint', text: `One point per ${series.bucket}; a line breaks where its version served nothing.` }),
  );
}

// ---- compare ----

/** Key numbers of one version; `better` says which way is an improvement, when one is. */
function keyNumbers(detail) {
  const set = (name) => detail.evaluation?.candidate?.[name];
  const lastEpoch = detail.history?.at(-1);
  const byClass = byClassArray(detail.trainingData?.byClass);
  return [
    { key: 'testAccuracy', name: 'Test accuracy', value: detail.testAccuracy, text: pct(detail.testAccuracy, percent2), better: 'higher', points: true },
    { key: 'testLoss', name: 'Test loss', value: set('test')?.loss, text: fixed(set('test')?.loss), better: 'lower' },
    { key: 'feedbackAccuracy', name: 'Accuracy on held-out feedback', value: set('feedback')?.accuracy, text: pct(set('feedback')?.accuracy, percent2), better: 'higher', points: true },
    {
      key: 'errorRate', name: 'Live error rate', value: detail.live.errorRate, better: 'lower', points: true,
      text: detail.live.predictions === 0 ? 'no live data yet' : `${pct(detail.live.errorRate, percent2)} (${count(detail.live.wrong)} of ${count(detail.live.predictions)})`,
    },
    { key: 'valAccuracy', name: 'Final validation accuracy', value: lastEpoch?.valAccuracy, text: pct(lastEpoch?.valAccuracy, percent2), better: 'higher', points: true },
    { key: 'epochs', name: 'Epochs', value: detail.history?.length || null, text: detail.history?.length ? String(detail.history.length) : '–' },
    { key: 'images', name: 'Images trained on', value: byClass?.reduce((a, b) => a + b, 0), text: count(byClass?.reduce((a, b) => a + b, 0)) },
    { key: 'parent', name: 'Parent', text: detail.parentVersion ?? '—' },
    { key: 'created', name: 'Created', text: detail.createdAt ? dateTime.format(new Date(detail.createdAt)) : 'unknown' },
  ];
}

/** For each key number both versions have: which side is better, and by how much. */
function compareNumbers(left, right) {
  const verdicts = new Map();
  keyNumbers(left).forEach((a, i) => {
    const b = keyNumbers(right)[i];
    if (!a.better || !Number.isFinite(a.value) || !Number.isFinite(b?.value) || a.value === b.value) return;
    const leftBetter = a.better === 'higher' ? a.value > b.value : a.value < b.value;
    verdicts.set(a.key, { leftBetter, delta: b.value - a.value, points: a.points, name: a.name });
  });
  return verdicts;
}

function compareSide(detail, verdicts, side) {
  const serving = state.list.serving;
  return [
    h('h3', {}, `${side === 'left' ? 'Left' : 'Right'}: ${detail.version} `, detail.version === serving ? h('span', { class: 'badge serving', text: 'in service' }) : stateBadge(detail)),
    h('table', { class: 'compact key-numbers' },
      h('caption', { class: 'visually-hidden', text: `Key numbers of ${detail.version}` }),
      h('tbody', {}, keyNumbers(detail).map((row) => {
        const verdict = verdicts.get(row.key);
        const better = verdict && (side === 'left') === verdict.leftBetter;
        return h('tr', { 'data-key': row.key, class: verdict ? (better ? 'better' : 'worse') : undefined },
          h('th', { scope: 'row', text: row.name }),
          h('td', { class: 'number' }, row.text, verdict ? h('span', { class: 'verdict', text: better ? ' better' : ' worse' }) : null));
      }))),
    h('h4', { text: 'Training curves' }),
    ...epochSection(detail, { compact: true, testid: `compare-${side}-epochs` }),
    h('h4', { text: 'Confusion matrix' }),
    (() => {
      const set = mainSet(detail.evaluation?.candidate);
      return set === null ? h('p', { class: 'empty', text: 'No evaluation recorded.' }) : matrixFigure(`on the “${set}” set`, detail.evaluation.candidate[set], { testid: `compare-${side}-matrix`, version: detail.version });
    })(),
  ];
}

function fillCompareSelects() {
  const { serving, models } = state.list;
  $('compare-pickers').hidden = models.length === 0;
  const a = $('compare-a');
  const b = $('compare-b');
  const previous = state.compareChosen ? [a.value, b.value] : [];
  for (const select of [a, b]) {
    select.replaceChildren(...models.map((m) => h('option', { value: m.version, text: `${m.version}${m.version === serving ? ' (in service)' : ''}` })));
  }
  const known = (v) => models.some((m) => m.version === v);
  const parent = summaryOf(serving)?.parentVersion;
  const other = models.find((m) => m.version !== serving)?.version ?? serving;
  a.value = known(previous[0]) ? previous[0] : known(serving) ? serving : (models[0]?.version ?? '');
  b.value = known(previous[1]) ? previous[1] : parent && known(parent) ? parent : other;
}

let compareRequest = 0;
async function renderCompare() {
  const left = $('compare-left');
  const right = $('compare-right');
  const summary = $('compare-summary');
  if (state.list.models.length === 0) {
    left.replaceChildren(h('p', { class: 'empty', text: 'Nothing to compare yet.' }));
    right.replaceChildren();
    summary.textContent = '';
    return;
  }
  const request = ++compareRequest;
  const [a, b] = [$('compare-a').value, $('compare-b').value];
  left.setAttribute('aria-busy', 'true');
  right.setAttribute('aria-busy', 'true');
  try {
    const [da, db] = await Promise.all([detailOf(a), detailOf(b)]);
    if (request !== compareRequest) return;
    const verdicts = compareNumbers(da, db);
    left.dataset.version = a;
    right.dataset.version = b;
    left.replaceChildren(...compareSide(da, verdicts, 'left'));
    right.replaceChildren(...compareSide(db, verdicts, 'right'));
    const differences = [...verdicts.values()].filter((v) => v.points);
    summary.replaceChildren(a === b
      ? 'The same version on both sides: choose another one.'
      : differences.length === 0
        ? `${b} against ${a}: no key number to compare.`
        : h('span', {}, `${b} against ${a}: `, differences.map((v, i) => h('span', {},
          i === 0 ? '' : ', ',
          `${v.name.toLowerCase()} `,
          h('strong', { class: v.leftBetter ? 'worse' : 'better', text: points(v.delta) }),
          ` (${v.leftBetter ? 'worse' : 'better'})`))));
  } catch (error) {
    if (request !== compareRequest) return;
    left.replaceChildren(h('p', { class: 'error', text: `Could not load the versions: ${error.message}.` }));
    right.replaceChildren();
    summary.textContent = '';
  } finally {
    if (request === compareRequest) {
      left.setAttribute('aria-busy', 'false');
      right.setAttribute('aria-busy', 'false');
    }
  }
}

// ---- corrections ----

/** How each kind of feedback is told, in the filter and on each thumbnail. */
const FEEDBACK_KINDS = {
  correction: { badge: 'correction', none: 'No corrections yet: people have not said the model was wrong.' },
  confirmation: { badge: 'confirmation', none: 'No confirmations yet: people have not said the model was right.' },
  unlinked: { badge: 'no prediction', none: 'No feedback without a prediction yet.' },
};

function feedbackCaption(c) {
  if (c.kind === 'unlinked') return h('span', { class: 'said' }, 'person said ', h('strong', { text: String(c.label) }), ' (sent without a prediction)');
  if (c.kind === 'confirmation') return h('span', { class: 'said' }, `model said ${c.predictedDigit}, person agreed`);
  return h('span', { class: 'said' }, `model said ${c.predictedDigit} → person said `, h('strong', { text: String(c.label) }));
}

let correctionsRequest = 0;
async function loadCorrections() {
  const container = $('corrections');
  const kind = document.querySelector('input[name="feedback-kind"]:checked')?.value ?? 'all';
  const request = ++correctionsRequest;
  container.setAttribute('aria-busy', 'true');
  try {
    const { corrections, counts } = await api(`/api/corrections?limit=${CORRECTIONS_LIMIT}&kind=${encodeURIComponent(kind)}`);
    if (request !== correctionsRequest) return;
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    for (const node of document.querySelectorAll('[data-feedback-count]')) {
      const n = node.dataset.feedbackCount === 'all' ? total : counts[node.dataset.feedbackCount];
      // A no-break space: each label is a flex box, which drops a plain leading space.
      node.textContent = Number.isFinite(n) ? `\u00a0(${count(n)})` : '';
    }
    if (corrections.length === 0) {
      container.replaceChildren(h('p', { class: 'empty', text: kind === 'all' ? 'No feedback yet.' : FEEDBACK_KINDS[kind]?.none ?? 'None.' }));
      return;
    }
    container.replaceChildren(h('ul', { class: 'corrections-grid' }, corrections.map((c) => {
      const image = h('img', { src: c.imageUrl, alt: `the digit as drawn, labelled ${c.label}`, width: 96, height: 96, decoding: 'async' });
      image.addEventListener('error', () => image.replaceWith(h('span', { class: 'no-image', text: 'image unavailable' })), { once: true });
      return h('li', { 'data-correction-id': c.id, 'data-kind': c.kind, class: c.kind === 'correction' ? 'corrected' : c.kind === 'confirmation' ? 'agreed' : undefined },
        h('figure', {},
          image,
          h('figcaption', {},
            h('span', { class: `badge kind-${c.kind}`, text: FEEDBACK_KINDS[c.kind]?.badge ?? c.kind }),
            feedbackCaption(c),
            h('span', { class: 'muted' }, c.modelVersion ?? 'no model version'),
            h('span', { class: 'muted' }, when(c.createdAt, { short: true })))));
    })));
  } catch (error) {
    if (request !== correctionsRequest) return;
    container.replaceChildren(h('p', { class: 'error', text: `Could not load the feedback: ${error.message}.` }));
  } finally {
    if (request === correctionsRequest) container.setAttribute('aria-busy', 'false');
  }
}

// ---- rollback ----

function readToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) ?? '';
  } catch {
    return '';
  }
}

function keepToken(token) {
  try {
    if (token === '') sessionStorage.removeItem(TOKEN_KEY);
    else sessionStorage.setItem(TOKEN_KEY, token);
  } catch {
    // Storage refused (private mode): the token still works while the field holds it.
  }
}

function setDeploying(version) {
  state.deploying = version;
  $('versions').setAttribute('aria-busy', String(version !== null));
  for (const button of document.querySelectorAll('button.deploy')) button.disabled = version !== null;
}

/** After a dropped connection: asks what is in service until it is `version` or time runs out. */
async function waitForServing(version) {
  const until = Date.now() + ROLLBACK_POLL_FOR_MS;
  while (Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, ROLLBACK_POLL_MS));
    try {
      const list = await api('/api/models');
      if (list.serving === version) return true;
    } catch {
      // The new container may still be starting.
    }
  }
  return false;
}

async function rollback(version) {
  if (state.deploying !== null) return;
  const status = $('rollback-status');
  const progress = $('rollback-progress');
  const token = $('admin-token').value.trim();
  const previous = state.list.serving;
  setDeploying(version);
  setStatus(status, '');
  progress.dataset.kind = 'busy';
  const elapsed = h('span', { 'aria-hidden': 'true', text: '0 s' });
  const button = document.querySelector(`[data-testid="rollback-${CSS.escape(version)}"]`);
  if (button) button.textContent = 'Deploying…';
  progress.replaceChildren(`Deploying ${version}… The appbuilder starts its image and waits for the health check; this can take a few minutes. `, elapsed);
  const started = Date.now();
  const timer = setInterval(() => { elapsed.textContent = `${Math.round((Date.now() - started) / 1000)} s`; }, 1000);
  try {
    const result = await api(`/api/models/${encodeURIComponent(version)}/rollback`, {
      method: 'POST',
      headers: token === '' ? {} : { authorization: `Bearer ${token}` },
    });
    const took = Number.isFinite(result?.deployMs) ? ` in ${(result.deployMs / 1000).toFixed(1)} s` : '';
    setStatus(status, `Deployed ${result?.version ?? version}${took}, replacing ${result?.previousVersion ?? previous}.`, 'ok');
  } catch (error) {
    if (error.status === 0) {
      // Deploying replaces this very webapp: the answer may be lost with the old container.
      progress.replaceChildren(`The connection closed while deploying ${version} (the webapp is replaced when a version is deployed). Checking which version is in service… `, elapsed);
      const deployed = await waitForServing(version);
      setStatus(status, deployed
        ? `Deployed ${version}, replacing ${previous}.`
        : `Could not confirm the deployment of ${version}: the server did not report it in service. Refresh to check.`, deployed ? 'ok' : 'error');
    } else {
      const hint = error.status === 401 && token === '' ? ' Enter the admin token above.' : '';
      setStatus(status, `Not deployed (${error.status}): ${error.message}.${hint}`, 'error');
    }
  } finally {
    clearInterval(timer);
    setStatus(progress, '');
    setDeploying(null);
  }
  const focusWasLost = !document.activeElement || document.activeElement === document.body || !document.activeElement.isConnected;
  await loadAll();
  if (focusWasLost || document.activeElement === document.body) status.focus({ preventScroll: true });
}

// ---- loading ----

async function loadAll() {
  const loadStatus = $('load-status');
  state.details.clear();
  try {
    state.list = await api('/api/models');
  } catch (error) {
    setStatus(loadStatus, `Could not load the registry: ${error.message}. Press Refresh to try again.`, 'error');
    return;
  }
  setStatus(loadStatus, '');
  renderHeader();
  const { serving, models } = state.list;
  const wanted = new URL(location.href).searchParams.get('version');
  const known = (v) => models.some((m) => m.version === v);
  state.selected = known(state.selected) ? state.selected : known(wanted) ? wanted : known(serving) ? serving : (models[0]?.version ?? null);
  renderVersions();
  fillCompareSelects();
  const work = [loadSeries(), loadCorrections(), renderCompare()];
  if (state.selected === null) {
    $('detail-heading').textContent = 'Details';
    $('detail').replaceChildren(h('p', { class: 'empty', text: 'No model versions are recorded yet.' }));
  } else {
    work.push(select(state.selected));
  }
  await Promise.all(work);
}

const tokenInput = $('admin-token');
tokenInput.value = readToken();
tokenInput.addEventListener('input', () => keepToken(tokenInput.value.trim()));
$('forget-token').addEventListener('click', () => {
  tokenInput.value = '';
  keepToken('');
  tokenInput.focus();
});
// Enter in the token field must not submit (and reload) the page.
$('admin-form').addEventListener('submit', (event) => event.preventDefault());
$('refresh').addEventListener('click', () => void loadAll());
$('bucket').addEventListener('change', () => void loadSeries());
$('feedback-kind').addEventListener('change', () => void loadCorrections());
for (const id of ['compare-a', 'compare-b']) {
  $(id).addEventListener('change', () => {
    state.compareChosen = true;
    void renderCompare();
  });
}
$('rollback-status').tabIndex = -1;

void loadAll();
