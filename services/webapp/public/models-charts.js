// SVG charts for the model registry page. Each is drawn for the width it is shown at (one SVG
// unit = one CSS pixel) and redrawn when that width changes, so its text is as legible on a
// phone as the page's own. Data attributes on the marks are the hooks the browser tests use.

const NS = 'http://www.w3.org/2000/svg';

/** Training and validation curves: blue solid and orange dashed, both ≥ 4.5:1 on white. */
export const TRAINING_COLOUR = '#1d4ed8';
export const VALIDATION_COLOUR = '#c2410c';
/** One colour per version, ≥ 4.5:1 on white; versions beyond these reuse them in order. */
export const VERSION_COLOURS = ['#1d4ed8', '#c2410c', '#15803d', '#7e22ce', '#be185d', '#0f766e', '#a16207', '#475569'];
/** Precision, recall, F1. */
export const METRIC_COLOURS = { precision: '#1d4ed8', recall: '#c2410c', f1: '#15803d' };
const RIGHT_COLOUR = [29, 78, 216];
const WRONG_COLOUR = [185, 28, 28];
const EMPTY_CELL = '#f8fafc';
const DARK_TEXT = '#1a1d23';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** Steps for time axes, ms: the first that leaves ≥ ~80 px between labels is used. */
const TIME_STEPS = [MINUTE, 2 * MINUTE, 5 * MINUTE, 10 * MINUTE, 15 * MINUTE, 30 * MINUTE, HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 2 * DAY, 7 * DAY, 14 * DAY, 30 * DAY];

/** An SVG element; attributes that are undefined, null or false are left out. */
export function s(tag, attributes = {}, ...children) {
  const node = document.createElementNS(NS, tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== undefined && value !== null && value !== false) node.setAttribute(name, String(value));
  }
  for (const child of children.flat()) if (child !== null && child !== undefined) node.append(child);
  return node;
}

const round = (n) => Math.round(n * 10) / 10;

function scale(d0, d1, r0, r1) {
  const span = d1 - d0 || 1;
  return (value) => r0 + ((value - d0) / span) * (r1 - r0);
}

/** About `count` round values from min to max inclusive. */
export function niceTicks(min, max, count = 5) {
  if (!(max > min)) return [min];
  const raw = (max - min) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((candidate) => candidate >= raw) ?? 10 * magnitude;
  const ticks = [];
  for (let i = Math.ceil(min / step - 1e-9); i * step <= max + step * 1e-9; i++) ticks.push(Number((i * step).toFixed(10)));
  return ticks;
}

/** An axis from 0 to the first round tick ≥ max, with about `count` ticks: the top line is labelled too. */
export function zeroAxis(max, count = 4) {
  const top = max > 0 ? max : 1;
  const first = niceTicks(0, top, count);
  const step = (first[1] ?? top) - (first[0] ?? 0);
  const ticks = niceTicks(0, Math.ceil(top / step - 1e-9) * step, count);
  return { max: ticks.at(-1) ?? top, ticks };
}

/** Formats fractions as percentages with as few decimals as show every tick exactly (92.5%, not 93%). */
export function percentFormat(ticks) {
  const exact = (d) => ticks.every((t) => Math.abs(Number((t * 100).toFixed(d)) - t * 100) < 1e-6);
  const decimals = [0, 1, 2].find(exact) ?? 3;
  return (value) => `${(value * 100).toFixed(decimals)}%`;
}

function svgRoot(width, height, label, testid) {
  return s('svg', {
    class: 'chart',
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    role: 'img',
    'aria-label': label,
    'data-testid': testid,
  });
}

/**
 * Axes, grid and lines in a plot box at (left, top). A point whose y is not a finite number
 * breaks its line, and so does `gapBefore`. Each point is also a circle carrying `attrs`.
 */
function linePlot({ left, top, width, height, x, y, series, xLabel, yLabel, markerRadius = 3.5 }) {
  const plot = s('g', { transform: `translate(${left},${top})` });
  const sx = scale(x.min, x.max, 0, width);
  const sy = scale(y.min, y.max, height, 0);
  for (const tick of y.ticks) {
    plot.append(s('line', { class: 'grid', x1: 0, x2: width, y1: round(sy(tick)), y2: round(sy(tick)) }));
    plot.append(s('text', { class: 'tick', x: -6, y: round(sy(tick)), 'text-anchor': 'end', dy: '0.32em' }, y.format(tick)));
  }
  for (const tick of x.ticks) {
    const at = round(sx(tick.value ?? tick));
    plot.append(s('line', { class: 'axis', x1: at, x2: at, y1: height, y2: height + 4 }));
    const lines = (tick.label ?? x.format(tick)).split('\n');
    plot.append(s('text', { class: 'tick', x: at, y: height + 16, 'text-anchor': 'middle' },
      lines.map((line, i) => s('tspan', { x: at, dy: i === 0 ? 0 : '1.2em' }, line))));
  }
  plot.append(s('line', { class: 'axis', x1: 0, x2: width, y1: height, y2: height }));
  plot.append(s('line', { class: 'axis', x1: 0, x2: 0, y1: 0, y2: height }));
  if (yLabel) plot.append(s('text', { class: 'axis-label', x: -left + 2, y: -10 }, yLabel));
  if (xLabel) plot.append(s('text', { class: 'axis-label', x: width, y: height + 30, 'text-anchor': 'end' }, xLabel));

  for (const line of series) {
    let d = '';
    let penDown = false;
    for (const point of line.points) {
      if (!Number.isFinite(point.y)) {
        penDown = false;
        continue;
      }
      d += `${penDown && !point.gapBefore ? 'L' : 'M'}${round(sx(point.x))},${round(sy(point.y))}`;
      penDown = true;
    }
    plot.append(s('path', { class: 'series', d, stroke: line.colour, 'stroke-dasharray': line.dash, ...line.attrs }));
  }
  // Markers after every line, so none hides under another version's line.
  for (const line of series) {
    for (const point of line.points) {
      if (!Number.isFinite(point.y)) continue;
      plot.append(s('circle', {
        class: 'marker',
        cx: round(sx(point.x)),
        cy: round(sy(point.y)),
        r: line.markerRadius ?? markerRadius,
        fill: line.hollow ? '#ffffff' : line.colour,
        stroke: line.colour,
        ...point.attrs,
      }, point.title ? s('title', {}, point.title) : null));
    }
  }
  return plot;
}

function epochDomain(history) {
  const first = history[0]?.epoch ?? 1;
  const last = history.at(-1)?.epoch ?? first;
  const min = last > first ? first : first - 0.5;
  const max = last > first ? last : first + 0.5;
  const every = Math.max(1, Math.ceil((last - first + 1) / 10));
  const ticks = history.map((h) => h.epoch).filter((e, i) => i % every === 0 || e === last);
  return { min, max, ticks, format: (e) => String(e) };
}

/**
 * Per-epoch curves, two plots sharing the epoch axis: loss above, accuracy below; training
 * solid, validation dashed with hollow markers. Each marker has data-epoch and data-series.
 */
export function epochChart(width, history, { label, testid, compact = false }) {
  const left = 46;
  const right = 14;
  const plotWidth = Math.max(80, width - left - right);
  const plotHeight = Math.round(Math.min(compact ? 120 : 170, Math.max(100, plotWidth * 0.32)));
  const x = epochDomain(history);
  const finite = (values) => values.filter(Number.isFinite);

  const losses = finite(history.flatMap((h) => [h.loss, h.valLoss]));
  const { max: lossTop, ticks: lossTicks } = zeroAxis(Math.max(0, ...losses));
  const accuracies = finite(history.flatMap((h) => [h.accuracy, h.valAccuracy]));
  const accuracyBottom = Math.max(0, Math.floor((Math.min(1, ...accuracies) - 0.005) * 20) / 20);
  const accuracyTicks = niceTicks(accuracyBottom, 1, 4);

  const curve = (key, colour, dashed) => ({
    colour,
    dash: dashed ? '6 4' : undefined,
    hollow: dashed,
    attrs: { 'data-series': key },
    points: history.map((h) => ({
      x: h.epoch,
      y: h[key],
      title: `epoch ${h.epoch}, ${SERIES_NAMES[key]}: ${key.toLowerCase().includes('loss') ? Number(h[key]).toFixed(4) : `${(h[key] * 100).toFixed(2)}%`}`,
      attrs: { 'data-epoch': h.epoch, 'data-series': key, 'data-value': h[key] },
    })),
  });

  const top1 = 26;
  const top2 = top1 + plotHeight + 52;
  const height = top2 + plotHeight + 38;
  const svg = svgRoot(width, height, label, testid);
  svg.append(
    linePlot({
      left, top: top1, width: plotWidth, height: plotHeight,
      x, y: { min: 0, max: lossTop, ticks: lossTicks, format: (v) => String(Number(v.toFixed(3))) },
      series: [curve('loss', TRAINING_COLOUR, false), curve('valLoss', VALIDATION_COLOUR, true)],
      yLabel: 'Loss (lower is better)',
    }),
    linePlot({
      left, top: top2, width: plotWidth, height: plotHeight,
      x, y: { min: accuracyBottom, max: 1, ticks: accuracyTicks, format: percentFormat(accuracyTicks) },
      series: [curve('accuracy', TRAINING_COLOUR, false), curve('valAccuracy', VALIDATION_COLOUR, true)],
      yLabel: 'Accuracy (higher is better)',
      xLabel: 'epoch',
    }),
  );
  return svg;
}

const SERIES_NAMES = { loss: 'training loss', valLoss: 'validation loss', accuracy: 'training accuracy', valAccuracy: 'validation accuracy' };

function luminance([r, g, b]) {
  const channel = (c) => {
    const v = c / 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
}

/** White mixed with `colour` by `amount` (0..1), and the text colour that reads best on it. */
function shade(colour, amount) {
  const rgb = colour.map((c) => Math.round(255 + (c - 255) * amount));
  const back = luminance(rgb);
  const onWhite = 1.05 / (back + 0.05);
  const onDark = (back + 0.05) / (luminance([26, 29, 35]) + 0.05);
  return { fill: `rgb(${rgb.join(',')})`, text: onWhite > onDark ? '#ffffff' : DARK_TEXT };
}

/**
 * A 10×10 confusion matrix: rows the true digit, columns the predicted one. The diagonal is blue
 * by the share of its row it got right; other cells red by their count against the largest
 * mistake, so the few confusions stand out instead of fading next to the diagonal.
 */
export function confusionChart(width, matrix, { label, testid }) {
  const size = Math.max(200, Math.min(width, 400));
  const left = 40;
  const top = 40;
  const cell = (size - left - 4) / 10;
  const svg = svgRoot(size, top + cell * 10 + 4, label, testid);
  const rows = Array.from({ length: 10 }, (_, t) => Array.from({ length: 10 }, (_, p) => Number(matrix[t]?.[p] ?? 0)));
  const largestMistake = Math.max(1, ...rows.flatMap((row, t) => row.filter((_, p) => p !== t)));
  const largestCount = Math.max(1, ...rows.flat());
  const fontSize = Math.min(12, cell / (0.62 * String(largestCount).length + 0.9));

  svg.append(
    s('text', { class: 'axis-label', x: left + cell * 5, y: 12, 'text-anchor': 'middle' }, 'predicted digit →'),
    s('text', { class: 'axis-label', transform: `translate(12,${top + cell * 5}) rotate(-90)`, 'text-anchor': 'middle' }, 'true digit →'),
  );
  for (let d = 0; d < 10; d++) {
    svg.append(
      s('text', { class: 'tick', x: left + cell * (d + 0.5), y: top - 8, 'text-anchor': 'middle' }, String(d)),
      s('text', { class: 'tick', x: left - 8, y: top + cell * (d + 0.5), dy: '0.32em', 'text-anchor': 'end' }, String(d)),
    );
  }
  rows.forEach((row, t) => {
    const rowTotal = row.reduce((a, b) => a + b, 0);
    row.forEach((count, p) => {
      const { fill, text } = count === 0
        ? { fill: EMPTY_CELL, text: '#6b7280' }
        : t === p
          ? shade(RIGHT_COLOUR, 0.2 + 0.8 * (count / (rowTotal || 1)))
          : shade(WRONG_COLOUR, 0.15 + 0.85 * (count / largestMistake));
      const x = left + cell * p;
      const y = top + cell * t;
      svg.append(s('rect', {
        x: round(x), y: round(y), width: round(cell - 1), height: round(cell - 1), fill,
        'data-true': t, 'data-pred': p, 'data-count': count,
      }, s('title', {}, `true ${t}, predicted ${p}: ${count}`)));
      if (count > 0) {
        svg.append(s('text', {
          class: 'cell', x: round(x + (cell - 1) / 2), y: round(y + (cell - 1) / 2), dy: '0.35em', 'text-anchor': 'middle',
          fill: text, 'font-size': round(fontSize), 'aria-hidden': 'true',
        }, String(count)));
      }
    });
  });
  return svg;
}

/**
 * Vertical bars in groups (one group per label, one bar per series). `rectAttrs(series, i)`
 * gives each bar its data attributes; `valueLabels` prints each value above its bar.
 * The value axis may start above 0 (`y.min`), which the caller must say in words.
 */
export function barChart(width, { groups, series, y, label, testid, height = 170, valueLabels = false, formatValue = String, rectAttrs = () => ({}) }) {
  const left = 46;
  const right = 6;
  const top = valueLabels ? 22 : 12;
  const plotWidth = Math.max(80, width - left - right);
  const svg = svgRoot(width, top + height + 34, label, testid);
  const plot = s('g', { transform: `translate(${left},${top})` });
  const sy = scale(y.min, y.max, height, 0);
  for (const tick of y.ticks) {
    plot.append(s('line', { class: 'grid', x1: 0, x2: plotWidth, y1: round(sy(tick)), y2: round(sy(tick)) }));
    plot.append(s('text', { class: 'tick', x: -6, y: round(sy(tick)), dy: '0.32em', 'text-anchor': 'end' }, y.format(tick)));
  }
  const groupWidth = plotWidth / groups.length;
  const gap = Math.min(8, groupWidth * 0.2);
  const barWidth = (groupWidth - gap) / series.length;
  groups.forEach((group, i) => {
    const groupLeft = i * groupWidth + gap / 2;
    plot.append(s('text', { class: 'tick', x: round(groupLeft + (groupWidth - gap) / 2), y: height + 16, 'text-anchor': 'middle' }, group));
    series.forEach((one, k) => {
      const value = one.values[i];
      if (!Number.isFinite(value)) return;
      const clipped = Math.max(y.min, Math.min(y.max, value));
      const barTop = sy(clipped);
      const x = groupLeft + k * barWidth;
      plot.append(s('rect', {
        x: round(x), y: round(barTop), width: round(Math.max(1, barWidth - 1)), height: round(Math.max(0, height - barTop)),
        fill: one.colour, ...rectAttrs(one, i),
      }, s('title', {}, `${group}: ${one.name} ${formatValue(value)}`)));
      if (valueLabels) {
        plot.append(s('text', {
          class: 'value', x: round(x + barWidth / 2), y: round(barTop - 5), 'text-anchor': 'middle', 'aria-hidden': 'true',
          'font-size': barWidth < 26 ? 9 : 11,
        }, formatValue(value)));
      }
    });
  });
  plot.append(s('line', { class: 'axis', x1: 0, x2: plotWidth, y1: height, y2: height }));
  plot.append(s('line', { class: 'axis', x1: 0, x2: 0, y1: 0, y2: height }));
  svg.append(plot);
  return svg;
}

/** Time ticks at round local times; a tick that starts a new day also names the day. */
function timeTicks(min, max, plotWidth) {
  const span = max - min;
  const step = TIME_STEPS.find((candidate) => span / candidate <= Math.max(2, plotWidth / 80)) ?? 30 * DAY;
  const offset = new Date(min).getTimezoneOffset() * MINUTE;
  const ticks = [];
  let previousDay = '';
  for (let t = Math.ceil((min - offset) / step) * step + offset; t <= max; t += step) {
    const date = new Date(t);
    const day = date.toLocaleDateString('en-GB', { day: 'numeric', month: 'short' });
    const time = date.toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit' });
    const label = step >= DAY ? day : day !== previousDay ? `${time}\n${day}` : time;
    previousDay = day;
    ticks.push({ value: t, label });
  }
  return ticks;
}

/**
 * Error rate over time, one line per version (path data-version), broken where a version
 * served nothing for longer than a bucket and a half.
 */
export function timeChart(width, { lines, bucketMs, label, testid }) {
  const left = 46;
  const right = 14;
  const plotWidth = Math.max(80, width - left - right);
  const plotHeight = Math.round(Math.min(240, Math.max(150, plotWidth * 0.35)));
  const starts = lines.flatMap((line) => line.points.map((p) => p.x));
  let min = Math.min(...starts);
  let max = Math.max(...starts) + bucketMs;
  if (!(max > min)) [min, max] = [min - bucketMs, min + bucketMs];
  const rates = lines.flatMap((line) => line.points.map((p) => p.y)).filter(Number.isFinite);
  const { max: top, ticks } = zeroAxis(Math.min(1, Math.max(0.01, ...rates)));
  // Markers shrink as buckets crowd together, and give way to the line when under 5 px apart.
  const spacing = (plotWidth * bucketMs) / (max - min);
  const markerRadius = spacing >= 14 ? 3.5 : spacing >= 5 ? 2 : 0;
  const svg = svgRoot(width, 26 + plotHeight + 46, label, testid);
  svg.append(linePlot({
    left, top: 26, width: plotWidth, height: plotHeight,
    x: { min, max, ticks: timeTicks(min, max, plotWidth) },
    y: { min: 0, max: top, ticks, format: percentFormat(ticks) },
    series: lines.map((line) => ({
      colour: line.colour,
      attrs: { 'data-version': line.version },
      markerRadius,
      // Plotted at the middle of its bucket.
      points: line.points.map((p, i) => ({ ...p, x: p.x + bucketMs / 2, gapBefore: i > 0 && p.x - (line.points[i - 1]?.x ?? 0) > bucketMs * 1.5 })),
    })),
    yLabel: 'Error rate (wrong ÷ predictions)',
  }));
  return svg;
}
