// Two versions side by side: their key numbers with the better one marked, their training
// curves and confusion matrices, and a line saying how the right one differs from the left.

import { $, h } from './dom.js';
import { count, dateTime, fixed, pct, percent2, points } from './format.js';
import { headingBadge } from './models-blocks.js';
import { epochSection, mainSet, matrixFigure } from './models-evaluation.js';
import { byClassArray, detailOf, state, summaryOf } from './models-state.js';

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
  return [
    h('h3', {}, `${side === 'left' ? 'Left' : 'Right'}: ${detail.version} `, headingBadge(detail)),
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

/** Fills the two pickers: the person's choice while it is listed, else the serving version and its parent. */
export function fillCompareSelects() {
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
export async function renderCompare() {
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
