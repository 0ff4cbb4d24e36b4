// What the registry page knows: the last list of versions, the details fetched since, which
// version is chosen and which is being deployed. Every section reads it; models.js reloads it.

import { api } from './api.js';
import { VERSION_COLOURS } from './models-charts.js';

export const DIGITS = Array.from({ length: 10 }, (_, d) => String(d));

export const state = {
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

/** One version's ModelDetail, fetched once per load of the list. */
export function detailOf(version) {
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

export const summaryOf = (version) => state.list?.models.find((m) => m.version === version);

/** A version's colour in every chart: by its place in the list. */
export function versionColour(version) {
  const i = state.list?.models.findIndex((m) => m.version === version) ?? -1;
  return VERSION_COLOURS[(i < 0 ? 0 : i) % VERSION_COLOURS.length];
}

/** trainingData.byClass as ten numbers (a run's may list fewer); null when nothing is recorded. */
export function byClassArray(byClass) {
  return Array.isArray(byClass) && byClass.length > 0 ? DIGITS.map((_, d) => Number(byClass[d] ?? 0)) : null;
}
