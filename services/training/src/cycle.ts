import type * as tfl from '@tensorflow/tfjs-layers';
import {
  ALL_CLASSES,
  bestServedScore,
  commitRejection,
  disposeModel,
  errorMessage,
  failInterruptedRuns,
  finishRun,
  recentRunStatuses,
  recordScore,
  startRun,
  tryTrainingLock,
} from '@mlpl/shared';
import type { CycleTimings, Evaluation, HeldLock } from '@mlpl/shared';
import { effectiveMode, loadCycleData, selectFeedback } from './cycle-data.js';
import type { CycleData } from './cycle-data.js';
import type { CycleDeps, CycleOptions, CycleResult, CycleSettings, Incumbent, RunContext, StageClock } from './cycle-types.js';
import { compareModels } from './evaluation.js';
import { DEFAULT_GATE_RULES, decideGate } from './gate.js';
import type { GateDecision } from './gate.js';
import { handOver } from './hand-over.js';
import type { CandidateRecord } from './hand-over.js';
import { trainModel } from './train.js';
import type { TrainResult } from './train.js';
import { checkTrigger } from './trigger.js';

export type { CycleDeps, CycleOptions, CycleResult, CycleSettings, CycleTimings, Incumbent };

/** Refused runs in a row after which the unused feedback they tried is set aside for review. */
export const DEFAULT_REFUSALS_BEFORE_REVIEW = 3;

/** The reason of a cycle skipped because another (maybe on another replica) holds the lock. */
export const LOCK_HELD_REASON = 'another training cycle is running';

/**
 * One training cycle, as the scheduler runs it: never throws, always answers with a status.
 * Under the training lock: count unused feedback; below the threshold, 'skipped'. Else train a
 * candidate, evaluate it and the incumbent on the same sets, gate it, and on promotion store
 * the bundle under `<version>/` in the models bucket and POST it to the appbuilder. Only after
 * the appbuilder accepts are the feedback images marked used, so any failure (recorded as
 * 'failed' with its error) leaves them for the next cycle.
 */
export async function runCycle(deps: CycleDeps, options: CycleOptions = {}): Promise<CycleResult> {
  let lock: HeldLock | null;
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

/** Trigger → select data → start the run → train, evaluate, gate, hand over; a failure closes the run as failed. */
async function runLocked(deps: CycleDeps, options: CycleOptions, lock: HeldLock): Promise<CycleResult> {
  const { pool, settings, logger } = deps;
  const started = performance.now();
  let runId: number | undefined;
  try {
    const interrupted = await failInterruptedRuns(pool);
    if (interrupted > 0) logger.warn({ runs: interrupted }, 'closed training runs left running by a stopped process');
    const trigger = await checkTrigger(pool, settings, options.force === true);
    if (!trigger.train) return { status: 'skipped', reason: trigger.reason };
    const incumbent = await deps.incumbent();
    const mode = effectiveMode(options.mode ?? settings.mode, incumbent, settings.baseSource);
    const feedback = await selectFeedback(pool, settings, mode);
    if (mode === 'fine-tune' && feedback.train.length === 0) {
      return { status: 'skipped', reason: 'no unused feedback image outside the held-out share to fine-tune on' };
    }
    runId = await startRun(pool, {
      parentVersion: incumbent.metadata.version,
      servingVersion: incumbent.serving ?? incumbent.metadata.version,
      incumbentNote: incumbent.note ?? null,
      parameters: { ...settings, mode, force: options.force === true },
    });
    logger.info({ runId, mode, trigger: trigger.reason, parent: incumbent.metadata.version, serving: incumbent.serving }, 'training cycle started');
    return await trainAndJudge(deps, { runId, incumbent, mode, feedback, lock, started, stages: stageClock(started) });
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

async function trainAndJudge(deps: CycleDeps, run: RunContext): Promise<CycleResult> {
  const { runId, mode, stages } = run;
  const data = await loadCycleData(deps, run, stages.timings);
  const { newData, replay, sets, counts } = data;
  deps.logger.info({ runId, mode, newImages: newData.count, heldOut: sets.feedback.count, replay: replay.count, test: sets.test.count, storageFetches: counts.storageFetches }, 'training data loaded');
  stages.end('load');
  const trained = await train(deps, run, data);
  const candidate = trained.model;
  stages.end('train');
  try {
    const { evaluation, gate } = await evaluateAndGate(deps, run, candidate, data);
    stages.end('evaluate');
    const record: CandidateRecord = { history: trained.history, evaluation, gateReason: gate.reason, dataCounts: counts };
    if (!gate.promote) return await reject(deps, run, record);
    return await handOver(deps, { ...run, candidate, record });
  } finally {
    disposeModel(candidate);
  }
}

function train(deps: CycleDeps, run: RunContext, data: CycleData): Promise<TrainResult> {
  const { settings, logger } = deps;
  return (deps.train ?? trainModel)({
    mode: run.mode,
    base: run.incumbent.model,
    newData: data.newData,
    replay: data.replay,
    // The replay sample is already drawn to size; all of it trains.
    replayRatio: Number.POSITIVE_INFINITY,
    seed: settings.seed,
    validation: data.validation,
    // Fine-tuning keeps the answers of the model in service on the base images it replays.
    ...(run.mode === 'fine-tune' ? { distill: { teacher: run.incumbent.model, count: data.baseReplayCount } } : {}),
    onEpoch: (log) => logger.info({ runId: run.runId, ...log }, 'epoch finished'),
    ...(settings.epochs === undefined ? {} : { epochs: settings.epochs }),
    ...(settings.dropoutRate === undefined ? {} : { dropoutRate: settings.dropoutRate }),
  });
}

/**
 * Both models on the same sets, digit by digit, then the gate's verdict. The incumbent's test
 * score is recorded first: the floor is the best score of any served version, this one included.
 */
async function evaluateAndGate(deps: CycleDeps, run: RunContext, candidate: tfl.LayersModel, data: CycleData): Promise<{ evaluation: Evaluation; gate: GateDecision }> {
  const { settings, pool } = deps;
  const { comparison, judged } = await compareModels(candidate, run.incumbent.model, data.sets, { classes: [...new Set(settings.classes ?? ALL_CLASSES)] });
  const testSet = data.counts.testSet;
  const incumbentTest = comparison.incumbent['test'];
  if (testSet !== null && incumbentTest !== undefined) {
    await recordScore(pool, { version: run.incumbent.metadata.version, testSet, accuracy: incumbentTest.accuracy, testCount: incumbentTest.testCount, runId: run.runId });
  }
  const gate = decideGate({
    sets: judged,
    correctionIds: data.correctionIds,
    best: testSet === null ? null : await bestServedScore(pool, testSet),
    rules: {
      tolerance: settings.tolerance,
      significance: settings.significance ?? DEFAULT_GATE_RULES.significance,
      breakShare: settings.breakShare ?? DEFAULT_GATE_RULES.breakShare,
      classMargin: settings.classMargin ?? DEFAULT_GATE_RULES.classMargin,
    },
  });
  return { evaluation: { ...comparison, checks: gate.checks }, gate };
}

/**
 * A refusal: the images wait for new feedback (see trigger.ts). When it is the
 * `refusalsBeforeReview`-th refusal in a row, the unused feedback tried is set aside for review
 * instead, so the loop does not keep training on images that cannot pass.
 */
async function reject(deps: CycleDeps, run: RunContext, record: CandidateRecord): Promise<CycleResult> {
  const limit = deps.settings.refusalsBeforeReview ?? DEFAULT_REFUSALS_BEFORE_REVIEW;
  const earlier = limit <= 1 ? [] : await recentRunStatuses(deps.pool, limit - 1);
  const before = earlier.findIndex((r) => r.status !== 'rejected' || r.setAside);
  const inARow = 1 + (before === -1 ? earlier.length : before);
  const setAside = inARow >= limit ? run.feedback.consumed : [];
  const dataCounts = { ...record.dataCounts, setAsideImageIds: setAside };
  const gateReason = setAside.length === 0 ? record.gateReason : `${record.gateReason}; refusal ${inARow} in a row: ${setAside.length} unused feedback images set aside for review`;
  await commitRejection(deps.pool, run.runId, { status: 'rejected', ...record, gateReason, dataCounts, durationMs: performance.now() - run.started }, setAside);
  deps.logger.info({ runId: run.runId, reason: record.gateReason, inARow, setAside: setAside.length }, 'candidate rejected');
  return { status: 'rejected', runId: run.runId, reason: gateReason, timings: run.stages.timings };
}

/** Stage timings in whole milliseconds, each stage from the end of the one before; the total from the cycle's start. */
function stageClock(started: number): StageClock {
  const timings: CycleTimings = { load: 0, train: 0, evaluate: 0, handOver: 0, total: 0 };
  let stageStart = performance.now();
  return {
    timings,
    end: (stage) => {
      const now = performance.now();
      timings[stage] = Math.round(now - stageStart);
      timings.total = Math.round(now - started);
      stageStart = now;
    },
  };
}
