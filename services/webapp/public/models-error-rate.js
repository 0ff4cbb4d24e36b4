// The live error rate over time: one line per version, in buckets the person picks or, on
// "auto", minutes for a short history and hours for a longer one.

import { api } from './api.js';
import { $, h } from './dom.js';
import { count, counted, dateTime, pct } from './format.js';
import { chartBox, legend } from './models-blocks.js';
import { timeChart } from './models-charts.js';
import { state, versionColour } from './models-state.js';

/** Below this span of live data the error-rate chart uses minute buckets, else hours. */
const MINUTE_BUCKETS_BELOW_MS = 3 * 60 * 60 * 1000;
const BUCKET_MS = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };

/** From the first bucket's start to the last one's, ms; 0 without points. */
function spanOf(series) {
  const starts = series.points.map((p) => Date.parse(p.start)).filter(Number.isFinite);
  return starts.length === 0 ? 0 : Math.max(...starts) - Math.min(...starts);
}

let seriesRequest = 0;
export async function loadSeries() {
  const container = $('series');
  const choice = document.querySelector('input[name="bucket"]:checked')?.value ?? 'auto';
  const request = ++seriesRequest;
  try {
    let series = await api(`/api/models/error-rate?bucket=${choice === 'auto' ? 'hour' : choice}`);
    // Hour buckets can err by an hour either way: near 3 h, minute buckets decide (and are few).
    if (choice === 'auto' && spanOf(series) <= MINUTE_BUCKETS_BELOW_MS) {
      const minutes = await api('/api/models/error-rate?bucket=minute');
      // Minutes cover a shorter window (a day) than hours: only if they hold every hour's points.
      const covered = series.points.every((p) => Date.parse(p.start) + BUCKET_MS.hour > Date.parse(minutes.since));
      if (covered && spanOf(minutes) < MINUTE_BUCKETS_BELOW_MS) series = minutes;
    }
    if (request === seriesRequest) renderSeries(series);
  } catch (error) {
    if (request !== seriesRequest) return;
    container.replaceChildren(h('p', { class: 'error', text: `Could not load the error rate: ${error.message}.` }));
  }
}

function renderSeries(series) {
  const container = $('series');
  $('series-window').textContent = series.days === undefined ? '' : `, over the last ${counted(series.days, 'day')} (since ${dateTime.format(new Date(series.since))})`;
  const served = series.points.filter((p) => p.predictions > 0 && Number.isFinite(Date.parse(p.start)));
  if (served.length === 0) {
    container.replaceChildren(h('p', { class: 'empty', 'data-testid': 'error-rate-empty', text: 'No live data: no version served a prediction in this window.' }));
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
