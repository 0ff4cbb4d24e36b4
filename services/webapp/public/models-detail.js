// The detail panel of the chosen version: its facts, then cards for its training curves,
// per-digit figures, confusion matrix, gate, training data and live error rate, and its parameters.

import { $, h, scrollToTop } from './dom.js';
import { count, counted, FIRST_START_NOTE, liveText, pct, percent2, period, sentence, when } from './format.js';
import { chartBox, facts, headingBadge, section } from './models-blocks.js';
import { barChart, zeroAxis } from './models-charts.js';
import { classSection, confusionSection, epochSection, gateSection } from './models-evaluation.js';
import { byClassArray, detailOf, DIGITS, state } from './models-state.js';
import { markChosen } from './models-versions.js';

/**
 * The feedback row of "By source": a fine-tune trains on the labels collected since the last
 * run and replays those earlier runs learnt, so it counts more than the page said were collected.
 */
function feedbackSource(data, n) {
  if (Number.isFinite(data.newFeedback) && Number.isFinite(data.earlierFeedback) && data.earlierFeedback > 0) {
    return `feedback (${count(data.newFeedback)} new, ${count(data.earlierFeedback)} from earlier runs)`;
  }
  if (data.mode === 'scratch' && n > 0) return 'feedback (all of it: trained from scratch)';
  return 'feedback';
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
          h('th', { scope: 'row', text: source === 'feedback' ? feedbackSource(data, n) : source }),
          h('td', { class: 'number', text: count(n) }),
          h('td', { class: 'number', text: total > 0 ? pct(n / total) : '–' }))))));
    if ((data.earlierFeedback ?? 0) > 0) {
      content.push(h('p', { class: 'hint', text: 'Feedback from earlier runs is trained on again beside the new labels, so the model does not unlearn what people corrected before.' }));
    }
  }
  if (detail.runId !== null) {
    content.push(h('p', {}, h('a', { href: `/api/models/${encodeURIComponent(detail.version)}/training-images`, 'data-testid': 'training-images-link' }, 'The exact image ids (JSON)')));
  }
  return content;
}

/**
 * What people said of a version's predictions, in the words of the feedback filter: each one
 * they labelled is a correction (another digit than the model said) or a confirmation (the same).
 * The API's `corrections` counts the labelled ones, whatever the label.
 */
function labelledText(live) {
  const labelled = live.corrections;
  if (labelled === 0) return `${counted(live.predictions, 'prediction')}; people have labelled none of them yet.`;
  return `${counted(live.predictions, 'prediction')}; people labelled ${count(labelled)} of them: `
    + `${counted(live.wrong, 'correction')} (another digit than the model said) and ${counted(labelled - live.wrong, 'confirmation')}.`;
}

function liveSection(detail) {
  const rows = detail.liveByClass ?? [];
  const served = rows.reduce((sum, row) => sum + (row?.predictions ?? 0), 0);
  if (served === 0) return [h('p', { class: 'empty', text: 'No live data yet: this version has served no predictions.' })];
  const worst = Math.max(0.0001, ...rows.map((row) => row.errorRate ?? 0));
  return [
    h('p', { class: 'hint', text: labelledText(detail.live) }),
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

/** Where the version came from: its run's sentence (which version it descended from, which was in service), else its parent. */
function lineageFact(detail) {
  if (detail.lineage === null) return detail.parentVersion === null ? '— (the first model)' : `descended from ${detail.parentVersion}`;
  return h('span', { 'data-testid': 'lineage' }, sentence(detail.lineage));
}

function renderDetail(detail) {
  $('detail-heading').replaceChildren(`Version ${detail.version} `, headingBadge(detail));
  $('detail').replaceChildren(
    facts([
      ['Lineage', lineageFact(detail), true],
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

/** The panel when there is no version to show. */
export function renderNoDetail() {
  $('detail-heading').textContent = 'Details';
  $('detail').replaceChildren(h('p', { class: 'empty', text: 'No model versions are recorded yet.' }));
}

/** Shows one version's detail; `reveal` (a person's choice) also scrolls to it and keeps it in the URL. */
export async function select(version, { reveal = false } = {}) {
  state.selected = version;
  if (reveal) {
    const url = new URL(location.href);
    url.searchParams.set('version', version);
    history.replaceState(null, '', url);
  }
  markChosen(version);
  const panel = $('detail-panel');
  panel.setAttribute('aria-busy', 'true');
  $('detail-heading').textContent = `Version ${version}`;
  if (reveal) {
    scrollToTop(panel);
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
