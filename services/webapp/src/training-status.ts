import { Router } from 'express';
import { ALL_CLASSES, countUnusedFeedbackByClass, HttpError, listRuns, newestUnusedFeedbackId, unavailable } from '@mlpl/shared';
import type { Pool, TrainingRunRow } from '@mlpl/shared';
import { evaluationOf, gateVerdict } from './gate-words.js';
import type { TrainingRunSummary, TrainingStatus } from './registry-types.js';

/**
 * Where training stands, read from the database the training service writes: the labels
 * waiting for the next run, and what the newest runs did. The draw page polls `/api/training`
 * so a rejected or failed run does not leave it saying "training starts at its next check";
 * `/api/training/runs` lists runs, those that made no version included.
 */

export type TrainingProgress = Pick<TrainingStatus, 'pending' | 'threshold'>;

/** The runs `/api/training/runs` lists when not told how many. */
const DEFAULT_RUNS = 50;

/**
 * The unused feedback images, counted as the training service's trigger counts them (the same
 * query; all ten classes, training's default TRAINING_NUMBERS), against the threshold at which
 * it starts a run. `pending >= threshold`: a run starts at its next check, unless the last run
 * was rejected (see `waitsForNewLabels`). Training's optional per-class rule
 * (TRAINING_CLASS_THRESHOLD, off by default) may start one sooner.
 */
export async function trainingProgress(pool: Pool, threshold: number): Promise<TrainingProgress> {
  const pending = (await countUnusedFeedbackByClass(pool)).reduce((sum, n) => sum + n, 0);
  return { pending, threshold };
}

export function runSummary(run: TrainingRunRow): TrainingRunSummary {
  const evaluation = evaluationOf(run);
  // Before its gate a run has no verdict: still training, or failed before it was judged.
  const judged = run.status === 'promoted' || run.status === 'rejected' || (evaluation?.checks.length ?? 0) > 0;
  return {
    id: run.id,
    status: run.status,
    startedAt: run.startedAt.toISOString(),
    finishedAt: run.finishedAt?.toISOString() ?? null,
    parentVersion: run.parentVersion,
    modelVersion: run.modelVersion,
    verdict: judged ? gateVerdict(run, evaluation).summary : null,
    error: run.status === 'failed' ? (run.error ?? 'no reason was recorded') : null,
  };
}

/**
 * The training service's rule after a rejection (trigger.ts, waitingAfterRejection): it trains
 * again only once feedback newer than what the rejected run saw has come in.
 */
async function waitsForNewLabels(pool: Pool, run: TrainingRunRow | undefined): Promise<boolean> {
  if (run?.status !== 'rejected') return false;
  const seen = run.dataCounts?.newestFeedbackId;
  if (seen === undefined || seen === null) return false;
  const newest = await newestUnusedFeedbackId(pool, run.dataCounts?.classes ?? ALL_CLASSES);
  return newest === null || newest <= seen;
}

export async function trainingStatus(pool: Pool, threshold: number): Promise<TrainingStatus> {
  const [progress, [last]] = await Promise.all([trainingProgress(pool, threshold), listRuns(pool, 1)]);
  return { ...progress, waitsForNewLabels: await waitsForNewLabels(pool, last), lastRun: last === undefined ? null : runSummary(last) };
}

async function fromDatabase<T>(read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    throw unavailable('database', error, 'how training stands cannot be read');
  }
}

export function trainingRouter(deps: { pool: Pool; trainingThreshold: number }): Router {
  const router = Router();

  router.get('/training', async (_req, res) => {
    res.json(await fromDatabase(() => trainingStatus(deps.pool, deps.trainingThreshold)));
  });

  router.get('/training/runs', async (req, res) => {
    const raw = (req.query.limit ?? String(DEFAULT_RUNS)) as string;
    if (!/^\d{1,3}$/.test(raw) || Number(raw) < 1) throw new HttpError(400, 'invalid_limit', 'limit must be a whole number from 1 to 999');
    const runs = await fromDatabase(() => listRuns(deps.pool, Number(raw)));
    res.json({ runs: runs.map(runSummary) });
  });

  return router;
}
