import { ALL_CLASSES, countByClass, listBaseImages, listFeedback, seededRandom, selectDigits, sha256Hex } from '@mlpl/shared';
import type { CycleTimings, DigitSet, Pool, RunDataCounts, TrainingImageRow } from '@mlpl/shared';
import type { CycleDeps, CycleSettings, FeedbackSelection, Incumbent } from './cycle-types.js';
import { createImageCache, loadDigitSet } from './image-cache.js';
import { sampleIndices } from './train.js';
import type { TrainMode } from './train.js';

/**
 * A cycle's data: which feedback it trains on, holds out or replays, which base images it
 * replays and tests on, loaded through the image cache, and the counts the run records.
 */

/** Whether a feedback image belongs to the held-out evaluation share: by its hash, so it stays put. */
export function isHeldOut(sha256: string, share: number): boolean {
  return Number.parseInt(sha256.slice(0, 8), 16) / 2 ** 32 < share;
}

/** Base data families: a model learnt on one is no starting point for the other. */
function family(source: string): 'fashion' | 'digits' {
  return source === 'fashion-mnist' ? 'fashion' : 'digits';
}

/** The mode this run trains in: fine-tuning a model of another family (digits vs Fashion-MNIST) means starting over. */
export function effectiveMode(requested: TrainMode, incumbent: Incumbent, baseSource: string): TrainMode {
  return requested === 'fine-tune' && family(incumbent.metadata.training.baseSource) !== family(baseSource) ? 'scratch' : requested;
}

/**
 * Feedback of the learnt classes. The held-out share of all of it, old and new, is evaluated
 * every run; a fine-tune trains on the new (unused) rest and replays the earlier rest, a run
 * from scratch trains on all the rest.
 */
export async function selectFeedback(pool: Pool, settings: CycleSettings, mode: TrainMode): Promise<FeedbackSelection> {
  const classes = new Set(settings.classes ?? ALL_CLASSES);
  const selection: FeedbackSelection = { train: [], heldOut: [], earlier: [], consumed: [], newestId: null };
  for (const row of await listFeedback(pool)) {
    if (!classes.has(row.label)) continue;
    selection.newestId = Math.max(selection.newestId ?? 0, row.id);
    const unused = row.usedInRun === null;
    if (isHeldOut(row.sha256, settings.feedbackHeldOutShare)) selection.heldOut.push(row);
    else if (unused || mode === 'scratch') selection.train.push(row);
    else selection.earlier.push(row);
    if (unused) selection.consumed.push(row.id);
  }
  return selection;
}

/**
 * The replay sample's seed: the configured seed mixed with the run id, so each run replays
 * other base images (not the same 1,000 every time) and a run can still be repeated.
 */
export function replaySeed(seed: number, runId: number): number {
  return (seed ^ Math.imul(runId, 0x9e3779b1)) >>> 0;
}

/** Base images per validation pass after each epoch: enough for a curve, cheap on wasm. */
const VALIDATION_SIZE = 1000;

export type CycleData = {
  /** The new feedback: all of it trains in every epoch. */
  newData: DigitSet;
  /** The base images replayed, then the earlier corrections. */
  replay: DigitSet;
  /** How many of `replay` are base images (the first ones): a fine-tune distils them from the model in service. */
  baseReplayCount: number;
  /**
   * What both models are evaluated on: the base test set, the held-out feedback, and every
   * correction (trained on or not), which the gate checks for corrections the candidate breaks.
   */
  sets: { test: DigitSet; feedback: DigitSet; corrections: DigitSet };
  /** Image ids of `sets.corrections`, in order. */
  correctionIds: number[];
  /** The first images of the test set, validated on after each epoch. */
  validation: DigitSet;
  counts: RunDataCounts;
};

type DataDeps = Pick<CycleDeps, 'pool' | 'storage' | 'cacheDir' | 'cache' | 'settings'>;

/**
 * Loads the run's images. From scratch, all base images train. A fine-tune mixes in a seeded
 * sample of them and every correction earlier runs learnt, so it forgets neither: without the
 * earlier corrections, a model fine-tuned on new ones unlearns what people corrected before,
 * and the held-out feedback set (rightly) makes the gate reject it. `timings` is recorded with
 * the counts as the cycle fills it in.
 */
export async function loadCycleData(deps: DataDeps, run: { runId: number; mode: TrainMode; feedback: FeedbackSelection }, timings: CycleTimings): Promise<CycleData> {
  const { pool, settings } = deps;
  const { runId, mode, feedback } = run;
  const classes = new Set(settings.classes ?? ALL_CLASSES);
  const learnt = (rows: TrainingImageRow[]) => rows.filter((row) => classes.has(row.label));
  const cache = deps.cache ?? createImageCache(deps.storage, deps.cacheDir);
  const fetchesBefore = cache.fetches;
  const seedOfReplay = replaySeed(settings.seed, runId);
  const baseTrain = learnt(await listBaseImages(pool, settings.baseSource, 'train'));
  const replayRows =
    mode === 'scratch'
      ? baseTrain
      : [
          ...Array.from(sampleIndices(baseTrain.length, settings.replaySize, seededRandom(seedOfReplay)), (i) => baseTrain[i] as TrainingImageRow),
          ...learnt(feedback.earlier),
        ];
  const testRows = learnt(await listBaseImages(pool, settings.baseSource, 'test')).slice(0, settings.testLimit);
  if (testRows.length === 0) throw new Error(`no base test images of source '${settings.baseSource}' are registered`);

  const newData = await loadDigitSet(cache, feedback.train);
  const replay = await loadDigitSet(cache, replayRows);
  const correctionRows = [...feedback.earlier, ...feedback.train, ...feedback.heldOut].sort((a, b) => a.id - b.id);
  const sets = {
    test: await loadDigitSet(cache, testRows),
    feedback: await loadDigitSet(cache, feedback.heldOut),
    corrections: await loadDigitSet(cache, correctionRows),
  };
  const counts: RunDataCounts = {
    mode,
    classes: [...classes],
    newestFeedbackId: feedback.newestId,
    feedbackTrained: newData.count,
    feedbackHeldOut: sets.feedback.count,
    replay: replay.count,
    earlierFeedbackReplayed: mode === 'scratch' ? 0 : feedback.earlier.length,
    test: sets.test.count,
    trainedByClass: countByClass(Uint8Array.from([...newData.labels, ...replay.labels])),
    feedbackImageIds: feedback.train.map((row) => row.id),
    heldOutImageIds: feedback.heldOut.map((row) => row.id),
    // From scratch the base part is every base train image of the learnt classes: named, not listed.
    replayImageIds: mode === 'scratch' ? `all ${replay.count} '${settings.baseSource}' train images of classes ${[...classes].join(',')}` : replayRows.map((row) => row.id),
    replaySeed: seedOfReplay,
    storageFetches: cache.fetches - fetchesBefore,
    timingsMs: timings,
    testSet: testSetName(testRows),
    setAsideImageIds: [],
  };
  const validation = selectDigits(sets.test, Array.from({ length: Math.min(VALIDATION_SIZE, sets.test.count) }, (_, i) => i));
  const baseReplayCount = replay.count - (mode === 'scratch' ? 0 : learnt(feedback.earlier).length);
  return { newData, replay, baseReplayCount, sets, correctionIds: correctionRows.map((row) => row.id), validation, counts };
}

/** A fixed test set's name: the SHA-256 of its image ids in order, so scores on it compare across runs. */
export function testSetName(rows: readonly { id: number }[]): string {
  return sha256Hex(Buffer.from(rows.map((row) => row.id).join(',')));
}
