// Numbers, times and registry values as the pages write them. A value that is not a finite
// number is written '–', so a figure missing from a record never reads as "NaN".

import { h } from './dom.js';

export const percent1 = new Intl.NumberFormat('en', { style: 'percent', minimumFractionDigits: 1, maximumFractionDigits: 1 });
export const percent2 = new Intl.NumberFormat('en', { style: 'percent', minimumFractionDigits: 2, maximumFractionDigits: 2 });
const whole = new Intl.NumberFormat('en');
export const dateTime = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit' });
const timeOnly = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit' });
const dayTime = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });

export const pct = (fraction, format = percent1) => (Number.isFinite(fraction) ? format.format(fraction) : '–');
export const count = (n) => (Number.isFinite(n) ? whole.format(n) : '–');
export const fixed = (n) => (Number.isFinite(n) ? n.toFixed(4) : '–');
const sign = (n) => (n > 0 ? '+' : n < 0 ? '−' : '±');
export const signed = (n) => `${sign(n)}${Math.abs(n).toFixed(2)}`;
export const signedCount = (n) => `${sign(n)}${count(Math.abs(n))}`;
/** A difference of two fractions in percentage points, signed. */
export const points = (delta) => `${signed(delta * 100)} pts`;

/** 0.01 → "1 point", 0.005 → "0.5 points". */
export function pointsCount(fraction) {
  const value = Number((fraction * 100).toFixed(2));
  return `${value} ${value === 1 ? 'point' : 'points'}`;
}

/** Date and time, without the year when it is this year's: tables stay narrow. */
function shortDateTime(date) {
  return date.getFullYear() === new Date().getFullYear() ? dayTime.format(date) : dateTime.format(date);
}

/** An ISO time as a <time> element, the full date in its title. */
export function when(iso, { short = false } = {}) {
  if (!iso) return h('span', { class: 'muted', text: 'unknown' });
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return h('span', { text: iso });
  return h('time', { datetime: iso, title: dateTime.format(date), text: short ? shortDateTime(date) : dateTime.format(date) });
}

/** A period in service as [from, to] texts; `to` is 'now' while it lasts, a bare time when on the same day. */
export function periodParts({ from, until }) {
  const start = new Date(from);
  const end = until === null ? null : new Date(until);
  const sameDay = end !== null && start.toDateString() === end.toDateString();
  return [shortDateTime(start), end === null ? 'now' : sameDay ? timeOnly.format(end) : shortDateTime(end)];
}

/** Why the first model's time in service has no deployment behind it. */
export const FIRST_START_NOTE = 'Inferred: the first model a webapp loads is in service without being deployed, so there is no deployment record. '
  + 'Its time runs from its earliest record (first load or first prediction) until the first deployment.';

/** A period in service in words: "from 3 Mar 10:00 until 10:25"; the first start says so. */
export function period(p) {
  const [from, to] = periodParts(p);
  return `${p.basis === 'first-start' ? `from the first start, ${from},` : `from ${from}`} until ${to}`;
}

/** "sha256:0123456789abcdef…" → "sha256:0123456789ab"; the full value goes in the title. */
export function shortDigest(digest) {
  const [algorithm, hex] = digest.includes(':') ? digest.split(':', 2) : ['', digest];
  return `${algorithm ? `${algorithm}:` : ''}${hex.slice(0, 12)}${hex.length > 12 ? '…' : ''}`;
}

/** "registry.local:5000/mywebapp:v3" → "mywebapp:v3". */
export const shortImage = (image) => image.split('/').at(-1) ?? image;

/** "1 prediction", "1,030 predictions". */
export const counted = (n, noun) => `${count(n)} ${n === 1 ? noun : `${noun}s`}`;

/** A version's live counts, each number with its words: "22 predictions, 4 wrong (18.2%)". */
export function liveText(live) {
  if (!live || live.predictions === 0) return 'no live data yet';
  return `${counted(live.predictions, 'prediction')}, ${count(live.wrong)} wrong (${pct(live.errorRate)})`;
}

/** The evaluated sets as the gate's summary names them (src/gate-words.ts). */
export const setLabel = (set) => ({ test: 'the test set', feedback: 'the held-out feedback', corrections: 'the labelled digits' })[set] ?? `the “${set}” set`;

/** A sentence of the API's (lower-case, no full stop) as a line of the page. */
export const sentence = (text) => `${text.charAt(0).toUpperCase()}${text.slice(1)}.`;
