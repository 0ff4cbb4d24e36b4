// How a version did, as the detail panel and the comparison show it: its training curves,
// confusion matrix, per-digit precision/recall/F1, and the gate's verdict with its numbers.

import { h } from './dom.js';
import { count, fixed, pct, percent2, pointsCount, setLabel, signed, signedCount } from './format.js';
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

export function gateSection(detail) {
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
