import { BACKGROUND, inTransaction, REQUEST_PATH, select, write } from './pool.js';
import type { Db, Deadline, Pool } from './pool.js';
import { readEvaluation, readHistory, readParameters, readRunDataCounts } from '../lineage.js';
import type { EpochLog, Evaluation, RunDataCounts, RunParameters } from '../lineage.js';
import { date, dateOrNull, jsonOrNull, numberOrNull, parseJson, textOrNull, wholeMs } from './rows.js';
import type { Row } from './rows.js';
import { markImagesUsed, setAsideImages } from './training-images.js';

/**
 * The `training_runs` table: written by the training cycle (in the background, no deadline),
 * read by training's `/status` and the webapp's registry (on the request path).
 */

export const TRAINING_RUN_STATUSES = ['running', 'promoted', 'rejected', 'failed'] as const;
export type TrainingRunStatus = (typeof TRAINING_RUN_STATUSES)[number];

/**
 * Records a run as 'running' and returns its id. `parentVersion` is the model it starts from
 * (and is judged against); `servingVersion` the version the deployments said was in service,
 * the same unless it could not be loaded, which `incumbentNote` then explains.
 */
export async function startRun(
  pool: Pool,
  run: { parentVersion: string | null; servingVersion?: string | null; incumbentNote?: string | null; parameters: unknown },
): Promise<number> {
  const result = await write(
    pool,
    BACKGROUND,
    "INSERT INTO training_runs (status, parent_version, serving_version, incumbent_note, parameters) VALUES ('running', ?, ?, ?, ?)",
    [run.parentVersion, run.servingVersion ?? null, run.incumbentNote ?? null, JSON.stringify(run.parameters)],
  );
  return result.insertId;
}

/**
 * What a run records. The training service writes whole records (see lineage.ts); the columns
 * take partial ones too, as earlier versions wrote them, since `toRunRow` reads every record
 * back whole.
 */
export type RunOutcome = {
  status: Exclude<TrainingRunStatus, 'running'>;
  modelVersion?: string | null;
  history?: readonly Partial<EpochLog>[];
  evaluation?: Partial<Evaluation>;
  gateReason?: string | null;
  dataCounts?: Partial<RunDataCounts>;
  error?: string | null;
  durationMs: number;
};

/** Closes a run with its outcome; a run already closed is left as it was. Returns whether it closed it. */
export async function finishRun(db: Db, runId: number, outcome: RunOutcome): Promise<boolean> {
  const result = await write(
    db,
    BACKGROUND,
    `UPDATE training_runs SET status = ?, finished_at = CURRENT_TIMESTAMP(3), model_version = ?, history = ?,
       evaluation = ?, gate_reason = ?, data_counts = ?, error = ?, duration_ms = ?
     WHERE id = ? AND status = 'running'`,
    [
      outcome.status,
      outcome.modelVersion ?? null,
      jsonOrNull(outcome.history),
      jsonOrNull(outcome.evaluation),
      outcome.gateReason ?? null,
      jsonOrNull(outcome.dataCounts),
      outcome.error ?? null,
      wholeMs(outcome.durationMs),
      runId,
    ],
  );
  return result.affectedRows === 1;
}

/**
 * Records a promotion in one transaction: the run becomes 'promoted' and its images are marked
 * used by it, or neither happens. Refuses (and changes nothing) when the run is no longer
 * 'running', e.g. closed as interrupted by another replica that took over the lock.
 */
export async function commitPromotion(pool: Pool, runId: number, outcome: RunOutcome & { status: 'promoted' }, imageIds: readonly number[]): Promise<number> {
  return inTransaction(pool, BACKGROUND, async (connection) => {
    if (!(await finishRun(connection, runId, outcome))) throw new Error(`run ${runId} is no longer running; its promotion is not recorded`);
    return markImagesUsed(connection, imageIds, runId);
  });
}

/**
 * Records a refusal in one transaction: the run becomes 'rejected' and, when it is one refusal
 * too many in a row, the unused feedback it tried is set aside for review, or neither happens.
 * Returns how many images were set aside.
 */
export async function commitRejection(pool: Pool, runId: number, outcome: RunOutcome & { status: 'rejected' }, setAside: readonly number[]): Promise<number> {
  return inTransaction(pool, BACKGROUND, async (connection) => {
    if (!(await finishRun(connection, runId, outcome))) throw new Error(`run ${runId} is no longer running; its refusal is not recorded`);
    return setAsideImages(connection, setAside, runId);
  });
}

/**
 * Records what a running run produced (its version, history, evaluation, gate reason, data)
 * before the candidate is handed over: a database that is gone stops the run before anything
 * leaves, and a process that dies during the hand-over leaves a complete record.
 */
export async function recordCandidate(pool: Pool, runId: number, candidate: Omit<RunOutcome, 'status' | 'error' | 'durationMs'>): Promise<void> {
  const result = await write(
    pool,
    BACKGROUND,
    `UPDATE training_runs SET model_version = ?, history = ?, evaluation = ?, gate_reason = ?, data_counts = ?
     WHERE id = ? AND status = 'running'`,
    [
      candidate.modelVersion ?? null,
      jsonOrNull(candidate.history),
      jsonOrNull(candidate.evaluation),
      candidate.gateReason ?? null,
      jsonOrNull(candidate.dataCounts),
      runId,
    ],
  );
  if (result.affectedRows !== 1) throw new Error(`run ${runId} is no longer running (closed by another cycle?); not handing its candidate over`);
}

export type TrainingRunRow = {
  id: number;
  startedAt: Date;
  finishedAt: Date | null;
  status: TrainingRunStatus;
  modelVersion: string | null;
  /** The model the run started from and was judged against. */
  parentVersion: string | null;
  /** The version in service when the run started (null: recorded before runs wrote it). */
  servingVersion: string | null;
  /** Why the run started from another model than the one in service, if it did. */
  incumbentNote: string | null;
  parameters: RunParameters | null;
  /** null when the run recorded none (it failed before training); likewise the two below. */
  history: EpochLog[] | null;
  evaluation: Evaluation | null;
  gateReason: string | null;
  dataCounts: RunDataCounts | null;
  error: string | null;
  durationMs: number | null;
};

/** A `training_runs` row as the services see it: its JSON read once, in today's shape (see lineage.ts). */
export function toRunRow(row: Row): TrainingRunRow {
  const parameters = readParameters(parseJson(row.parameters));
  return {
    id: Number(row.id),
    startedAt: date(row.started_at),
    finishedAt: dateOrNull(row.finished_at),
    status: String(row.status) as TrainingRunStatus,
    modelVersion: textOrNull(row.model_version),
    parentVersion: textOrNull(row.parent_version),
    servingVersion: textOrNull(row.serving_version),
    incumbentNote: textOrNull(row.incumbent_note),
    parameters,
    history: readHistory(parseJson(row.history)),
    evaluation: readEvaluation(parseJson(row.evaluation)),
    gateReason: textOrNull(row.gate_reason),
    dataCounts: readRunDataCounts(parseJson(row.data_counts), parameters),
    error: textOrNull(row.error),
    durationMs: numberOrNull(row.duration_ms),
  };
}

/** The most recent runs, newest first: what training's `/status` lists. */
export async function listRuns(pool: Pool, limit = 20, deadline: Deadline = REQUEST_PATH): Promise<TrainingRunRow[]> {
  const rows = await select(pool, deadline, 'SELECT * FROM training_runs ORDER BY id DESC LIMIT ?', [limit]);
  return rows.map(toRunRow);
}

/**
 * Runs left 'running' by a process that was killed: called under the training lock, so no
 * live cycle owns them. Returns how many were closed as failed.
 */
export async function failInterruptedRuns(pool: Pool): Promise<number> {
  const result = await write(
    pool,
    BACKGROUND,
    `UPDATE training_runs SET status = 'failed', finished_at = CURRENT_TIMESTAMP(3),
       error = 'interrupted: the process running this cycle stopped before it finished'
     WHERE status = 'running'`,
  );
  return result.affectedRows;
}

/** Versions of promoted runs, newest first: the model in service is the first that still loads. */
export async function listPromotedVersions(pool: Pool, limit = 5): Promise<string[]> {
  const rows = await select(
    pool,
    BACKGROUND,
    "SELECT model_version FROM training_runs WHERE status = 'promoted' AND model_version IS NOT NULL ORDER BY id DESC LIMIT ?",
    [limit],
  );
  return rows.map((row) => String(row.model_version));
}

/**
 * Statuses of the newest judged runs, newest first: how many refusals came in a row. `setAside`
 * is what the run's own record says it set aside, whatever became of those images since (a
 * person putting them back must not re-form the chain).
 */
export async function recentRunStatuses(pool: Pool, limit: number): Promise<{ id: number; status: TrainingRunStatus; setAside: boolean }[]> {
  const rows = await select(pool, BACKGROUND, "SELECT id, status, data_counts FROM training_runs WHERE status IN ('promoted', 'rejected') ORDER BY id DESC LIMIT ?", [limit]);
  return rows.map((row) => ({
    id: Number(row.id),
    status: String(row.status) as TrainingRunStatus,
    setAside: (readRunDataCounts(parseJson(row.data_counts))?.setAsideImageIds.length ?? 0) > 0,
  }));
}
