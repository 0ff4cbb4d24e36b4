import { Router } from 'express';
import { ALL_CLASSES, countUnusedFeedbackByClass, HttpError, listRuns, listSetAsideFeedback, newestUnusedFeedbackId, numberParameter, unavailable } from '@mlpl/shared';
import type { Pool, SetAsideGroup, TrainingRunRow } from '@mlpl/shared';
import { evaluationOf, gateVerdict } from './gate-words.js';
import { lineageText } from './lineage-words.js';
import type { SetAsideFeedback, TrainingRunSummary, TrainingStatus } from './registry-types.js';

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

/** TRAINING_REFUSALS_BEFORE_REVIEW as the run had it: the refusals in a row that make a run set its feedback aside. */
const refusalsInARow = (run: TrainingRunRow | null) => (run === null ? null : numberParameter(run.parameters, 'refusalsBeforeReview'));

export function runSummary(run: TrainingRunRow): TrainingRunSummary {
  const evaluation = evaluationOf(run);
  // Before its gate a run has no verdict: still training, or failed before it was judged.
  const judged = run.status === 'promoted' || run.status === 'rejected' || (evaluation?.checks.length ?? 0) > 0;
  const setAside = run.dataCounts?.setAsideImageIds.length ?? 0;
  return {
    id: run.id,
    status: run.status,
    startedAt: run.startedAt.toISOString(),
    finishedAt: run.finishedAt?.toISOString() ?? null,
    parentVersion: run.parentVersion,
    servingVersion: run.servingVersion,
    incumbentNote: run.incumbentNote,
    lineage: lineageText(run),
    modelVersion: run.modelVersion,
    verdict: judged ? gateVerdict(run, evaluation).summary : null,
    error: run.status === 'failed' ? (run.error ?? 'no reason was recorded') : null,
    checks: judged ? (evaluation?.checks ?? []) : null,
    setAside: setAside === 0 ? null : { images: setAside, refusalsInARow: refusalsInARow(run) },
  };
}

const counted = (n: number, noun: string) => `${n.toLocaleString('en')} ${n === 1 ? noun : `${noun}s`}`;

/** "12 labelled digits are set aside for review (5 of digit 3, 7 of digit 8): the gate refused 3 runs in a row that tried them. …" */
function setAsideSummary(total: number, byClass: number[], runs: SetAsideFeedback['runs']): string | null {
  if (total === 0) return null;
  const classes = byClass.flatMap((n, digit) => (n === 0 ? [] : [`${n.toLocaleString('en')} of digit ${digit}`])).join(', ');
  const times = [...new Set(runs.map((run) => run.refusalsInARow).filter((n): n is number => n !== null))].sort((a, b) => a - b);
  const refused = times.length === 0 ? 'the gate refused the runs that tried them too many times in a row'
    : times.length === 1 && times[0] === 1 ? 'the gate refused the run that tried them'
      : `the gate refused ${times.join(' or ')} runs in a row that tried them`;
  const which = runs.length === 1 ? `run ${runs[0]?.id}` : `runs ${runs.map((run) => run.id).join(', ')}`;
  return `${counted(total, 'labelled digit')} ${total === 1 ? 'is' : 'are'} set aside for review (${classes}): ${refused} (${which}), so training no longer tries them. `
    + 'A page to review them, and put them back or drop them, is to come (issue “people in the loop”).';
}

/** Labelled digits set aside for review, by class and by the run that set them aside. */
export async function setAsideFeedback(pool: Pool): Promise<SetAsideFeedback> {
  const groups: SetAsideGroup[] = await listSetAsideFeedback(pool);
  const byClass = ALL_CLASSES.map((digit) => groups.reduce((sum, group) => sum + (group.byClass[digit] ?? 0), 0));
  const total = byClass.reduce((sum, n) => sum + n, 0);
  const runs = groups.map((group) => ({
    id: group.runId,
    finishedAt: group.run?.finishedAt?.toISOString() ?? null,
    images: group.byClass.reduce((sum, n) => sum + n, 0),
    refusalsInARow: refusalsInARow(group.run),
  }));
  return { total, byClass, runs, summary: setAsideSummary(total, byClass, runs) };
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
  const [progress, [last], setAside] = await Promise.all([trainingProgress(pool, threshold), listRuns(pool, 1), setAsideFeedback(pool)]);
  return { ...progress, waitsForNewLabels: await waitsForNewLabels(pool, last), lastRun: last === undefined ? null : runSummary(last), setAside };
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
