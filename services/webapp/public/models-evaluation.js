// How a version did, as the detail panel and the comparison show it: its training curves,
// confusion matrix, per-digit precision/recall/F1, and the gate's verdict with its numbers.

import { h } from './dom.js';
import { count, counted, fixed, pct, percent2, points, pointsCount, setLabel, signedCount } from './format.js';
import { chartBox, dataTable, facts, legend, numbersTable } from './models-blocks.js';
import { barChart, confusionChart, epochChart, METRIC_COLOURS, niceTicks, percentFormat, TRAINING_COLOUR, VALIDATION_COLOUR } from './models-charts.js';
import { DIGITS } from './models-state.js';

export function epochSection(detail, { compact = false, testid } = {}) {
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

/** The evaluated set to show: 'test' when there is one. */
export function mainSet(sets) {
  if (!sets) return null;
  if (sets.test) return 'test';
  return Object.keys(sets)[0] ?? null;
}

export function matrixFigure(caption, evaluation, { testid, version }) {
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

export function confusionSection(detail) {
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

export function classSection(detail) {
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

/** Each kind of gate check in plain words, and what it asks (training's gate.ts). */
export const CHECK_KINDS = {
  worse: {
    name: 'Not worse (McNemar’s test)',
    rule: 'on the digits the two models disagree on, the candidate fails only if the model it is judged against alone was right on more of them, beyond chance: McNemar’s one-sided exact p below the significance.',
  },
  floor: {
    name: 'Not below the floor',
    rule: 'test accuracy at least the best any served version reached on the same test set, less the tolerance, so versions cannot drift down a little at a time.',
  },
  corrections: {
    name: 'What people taught it kept',
    rule: 'of the labelled digits (every one people sent, trained on or not) the model it is judged against answers right, the candidate may get only a few wrong: the allowance.',
  },
  class: {
    name: 'No digit’s recall lost',
    rule: 'no digit’s recall on the test set falls by more than the margin (and by at least a few digits, so a digit with a handful of test images does not fail on one).',
  },
  accuracy: {
    name: 'Accuracy within the tolerance',
    rule: 'the gate of runs recorded before McNemar’s test: accuracy on each set at most the tolerance below the model in service’s.',
  },
};

/** McNemar's p as people read it: two significant digits, tiny ones as a bound. */
const pValue = (p) => (!Number.isFinite(p) ? '–' : p < 0.001 ? '< 0.001' : `= ${Number(p.toPrecision(2))}`);

/** A figure the tests (and a curious reader of the HTML) can find by name. */
const figure = (name, text) => h('span', { class: 'number', 'data-figure': name, text });

/** "this version 97.40% · v3 97.00% (+0.40 pts)": the two accuracies a check compared. */
function accuracies(check, { me, vs, testCount }) {
  if (check.incumbent === null) return h('span', {}, `${me} `, figure('candidate', pct(check.candidate, percent2)), ', nothing to compare it with');
  const digits = check.delta === null || !Number.isFinite(testCount) ? null : ` · ${signedCount(Math.round(check.delta * testCount))} of ${count(testCount)} digits`;
  return h('span', {},
    `${me} `, figure('candidate', pct(check.candidate, percent2)), ` · ${vs} `, figure('incumbent', pct(check.incumbent, percent2)),
    check.delta === null ? null : h('span', { class: check.delta > 0 ? 'better' : check.delta < 0 ? 'worse' : undefined, text: ` (${points(check.delta)})` }),
    digits);
}

/** Broken labelled digits as links to their images: the person checking a refusal wants to see them. */
function brokenImages(ids) {
  const shown = ids.slice(0, 20);
  return h('span', { 'data-figure': 'broken-ids' }, 'Broken: ',
    shown.flatMap((id, i) => [i > 0 ? ', ' : null, h('a', { href: `/api/corrections/${id}/image`, text: `#${id}` })]),
    ids.length > shown.length ? ` and ${count(ids.length - shown.length)} more` : null);
}

/** Per digit, recall before and after: those that lost recall, failing ones first. */
function classTable(figures, { me, vs }) {
  const lost = figures.classes.filter((c) => c.digitsLost > 0).sort((a, b) => Number(a.passed) - Number(b.passed) || b.digitsLost - a.digitsLost);
  const rule = h('span', {}, 'Margin ', figure('margin', pointsCount(figures.margin)), ' of recall and at least ', figure('min-digits', count(figures.minDigits)), ' digits');
  if (lost.length === 0) return [rule, h('span', {}, `No digit lost recall (${count(figures.classes.length)} compared).`)];
  return [rule, h('table', { class: 'compact class-changes' },
    h('thead', {}, h('tr', {}, ['Digit', `Recall, ${vs}`, `Recall, ${me}`, 'Digits lost'].map((name) => h('th', { scope: 'col', text: name })))),
    h('tbody', {}, lost.map((c) => h('tr', { 'data-class': c.label, 'data-passed': String(c.passed), class: c.passed ? undefined : 'worse' },
      h('th', { scope: 'row', text: c.label }),
      h('td', { class: 'number', text: pct(c.incumbent) }),
      h('td', { class: 'number', text: pct(c.candidate) }),
      h('td', { class: 'number', text: `${count(c.digitsLost)} of ${count(c.support)}` }))))),
    lost.length < figures.classes.length ? h('span', { class: 'muted', text: `The other ${counted(figures.classes.length - lost.length, 'digit')} lost none.` }) : null];
}

/** What a check measured, as lines of figures, by its kind; a check without its figures (invalid measurements) shows the accuracies it has. */
function checkFigures(check, names) {
  const { me, vs } = names;
  if (check.kind === 'worse' && check.mcnemar) {
    const m = check.mcnemar;
    return [accuracies(check, names),
      h('span', {}, `Only ${vs} right on `, figure('incumbent-only', count(m.incumbentOnly)), ` ${m.incumbentOnly === 1 ? 'digit' : 'digits'}, only ${me} on `, figure('candidate-only', count(m.candidateOnly))),
      h('span', {}, 'McNemar’s p ', figure('p-value', pValue(m.pValue)), ' (worse if below ', figure('significance', String(m.significance)), ')')];
  }
  if (check.kind === 'floor') {
    if (!check.floor) return [h('span', {}, `${me} `, figure('candidate', pct(check.candidate, percent2)), '; no served version was scored on this test set yet: no floor')];
    const f = check.floor;
    return [h('span', {}, `${me} `, figure('candidate', pct(check.candidate, percent2)), ' · floor ', figure('floor', pct(f.floor, percent2))),
      h('span', {}, 'The best served, ', figure('best-version', f.bestVersion), ', reached ', figure('best', pct(f.best, percent2)), `; less the tolerance of ${pointsCount(f.tolerance)}`)];
  }
  if (check.kind === 'corrections' && check.corrections) {
    const c = check.corrections;
    return [h('span', {}, figure('broken', count(c.broken)), ' of the ', figure('incumbent-right', count(c.incumbentRight)), ` labelled digits ${vs} answers right are wrong now; allowed `, figure('allowance', count(c.allowance))),
      c.brokenImageIds.length > 0 ? brokenImages(c.brokenImageIds) : null];
  }
  if (check.kind === 'class' && check.classes) return classTable(check.classes, names);
  return [accuracies(check, names)];
}

/**
 * The gate's checks as a table: what each judged (in plain words), on which set, its figures,
 * and whether it passed; a failed one with the gate's own sentence for it. `me` names the
 * candidate ("this version"), `vs` the version it was judged against; `testCounts[set]` the digits of each set.
 */
export function checksTable(checks, { me = 'this version', vs = 'the model in service then', testCounts = {}, caption = 'The gate’s checks' } = {}) {
  const kinds = [...new Set(checks.map((check) => check.kind))];
  return [
    numbersTable(caption, ['Check', 'Set', 'Figures', 'Outcome'],
      checks.map((check) => h('tr', { 'data-kind': check.kind, 'data-set': check.set, 'data-passed': String(check.passed) },
        h('th', { scope: 'row', text: CHECK_KINDS[check.kind]?.name ?? check.kind }),
        h('td', { text: setLabel(check.set).replace(/^the /, '') }),
        h('td', { class: 'figures' }, ...checkFigures(check, { me, vs, testCount: testCounts[check.set] }).filter(Boolean).map((line) => h('div', {}, line))),
        h('td', {},
          h('span', { class: `badge ${check.passed ? 'gate-pass' : 'gate-fail'}`, text: check.passed ? 'passed' : 'failed' }),
          check.passed ? null : h('p', { class: 'check-reason' }, 'Why: ', h('q', { text: check.summary })))))),
    h('ul', { class: 'hint check-rules' }, kinds.map((kind) => h('li', {}, h('strong', { text: `${CHECK_KINDS[kind]?.name ?? kind}: ` }), CHECK_KINDS[kind]?.rule ?? ''))),
  ];
}

/** The tolerance as the run used it: the floor's slack today, the loss allowed per set before. */
function toleranceText(gate, checks) {
  if (gate.tolerance === null) return 'not recorded';
  return checks.some((check) => check.kind === 'accuracy')
    ? `at most ${pointsCount(gate.tolerance)} lower on any set`
    : `${pointsCount(gate.tolerance)} below the best test accuracy a served version reached (the floor)`;
}

export function gateSection(detail) {
  const gate = detail.gate;
  if (gate === null) return [h('p', { text: 'Not gated: no training run made this version.' })];
  const evaluation = detail.evaluation;
  const checks = evaluation?.checks ?? [];
  const testCounts = Object.fromEntries(Object.entries(evaluation?.candidate ?? {}).map(([set, metrics]) => [set, metrics?.testCount]));
  const sets = [...new Set(checks.map((check) => check.set))];
  const numbers = [
    facts([
      ['Judged against', gate.against ?? 'nothing: no model was in service'],
      ['Tolerance', toleranceText(gate, checks)],
    ]),
    ...(checks.length === 0 ? [] : checksTable(checks, { vs: gate.against ?? 'the model in service then', testCounts })),
    ...sets.map((set) => (evaluation ? digitsTable(evaluation, set) : null)),
    gate.reason ? h('p', { class: 'hint' }, 'The gate’s own record: ', h('q', { text: gate.reason })) : null,
  ];
  return [
    h('p', { class: 'gate-verdict', 'data-testid': 'gate-summary', 'data-passed': String(gate.passed), text: gate.summary }),
    h('details', { class: 'gate-numbers', 'data-testid': 'gate-numbers' }, h('summary', { text: 'The numbers behind it' }), ...numbers),
  ];
}
