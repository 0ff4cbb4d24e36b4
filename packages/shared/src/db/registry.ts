import { upgradeMetadata } from '../model-bundle.js';
import type { ModelMetadata } from '../model-bundle.js';
import { BACKGROUND, REQUEST_PATH, select, write } from './pool.js';
import type { Pool } from './pool.js';
import { date, dateOrNull, numberOrNull, parseJson, textOrNull } from './rows.js';
import type { Row } from './rows.js';
import { toRunRow } from './runs.js';
import type { TrainingRunRow } from './runs.js';

/**
 * The model registry's reads (and the one write, `recordModelVersion`): what the webapp's
 * `/api/models…` pages are made of. Live counts come from `predictions` joined to the
 * corrections that cite them: a prediction counts as corrected once, however many
 * corrections cite it, and as wrong when a correction says another digit. Every read is on
 * the request path of a page.
 */

/**
 * Remembers the metadata of a model the webapp serves; the first record of a version stays.
 * BACKGROUND: nobody waits for it (start-up, after a swap), and waiting out a stall keeps the record.
 */
export async function recordModelVersion(pool: Pool, metadata: ModelMetadata): Promise<void> {
  await write(pool, BACKGROUND, 'INSERT IGNORE INTO model_versions (version, metadata) VALUES (?, ?)', [metadata.version, JSON.stringify(metadata)]);
}

/** Every recorded version's metadata (upgraded: records of earlier versions may hold another shape of it). */
export async function listModelVersions(pool: Pool): Promise<Map<string, { metadata: ModelMetadata; firstServedAt: Date }>> {
  const rows = await select(pool, REQUEST_PATH, 'SELECT version, metadata, first_served_at FROM model_versions');
  return new Map(rows.map((row) => [String(row.version), { metadata: upgradeMetadata(parseJson(row.metadata)), firstServedAt: date(row.first_served_at) }]));
}

export type VersionRunRow = TrainingRunRow & { modelVersion: string };

/** The newest `limit` runs that made a version (promoted, or failed after the version was named), newest first. */
export async function listVersionRuns(pool: Pool, limit: number): Promise<VersionRunRow[]> {
  const rows = await select(pool, REQUEST_PATH, 'SELECT * FROM training_runs WHERE model_version IS NOT NULL ORDER BY id DESC LIMIT ?', [limit]);
  return rows.map(toRunRow).filter((run): run is VersionRunRow => run.modelVersion !== null);
}

/** The newest run that made `version`, if any: one row, where listVersionRuns would read them all. */
export async function findVersionRun(pool: Pool, version: string): Promise<VersionRunRow | undefined> {
  const rows = await select(pool, REQUEST_PATH, 'SELECT * FROM training_runs WHERE model_version = ? ORDER BY id DESC LIMIT 1', [version]);
  return rows.map(toRunRow).find((run): run is VersionRunRow => run.modelVersion !== null);
}

/**
 * Ids of a source's base training images of `classes`, in source order: a version's training
 * images when its run listed them by rule rather than one by one. (Training's own
 * `listBaseImages` reads the same rows without a deadline.)
 */
export async function listBaseTrainingIds(pool: Pool, source: string, classes: readonly number[]): Promise<number[]> {
  if (classes.length === 0) return [];
  const rows = await select(
    pool,
    REQUEST_PATH,
    "SELECT id FROM images WHERE source = ? AND split = 'train' AND source_index IS NOT NULL AND label IN (?) ORDER BY source_index",
    [source, classes],
  );
  return rows.map((row) => Number(row.id));
}

export type LiveCountRow = { key: string; predictions: number; corrections: number; wrong: number };

const LIVE_COLUMNS = `COUNT(DISTINCT p.id) AS predictions,
  COUNT(DISTINCT c.prediction_id) AS corrections,
  COUNT(DISTINCT CASE WHEN c.label <> p.digit THEN p.id END) AS wrong`;

const CORRECTIONS = "(SELECT prediction_id, label FROM images WHERE source = 'feedback' AND prediction_id IS NOT NULL)";

function toLiveCounts(row: Row): LiveCountRow {
  return { key: String(row.k), predictions: Number(row.predictions), corrections: Number(row.corrections), wrong: Number(row.wrong) };
}

/**
 * Predictions made since `since` (and the feedback on them, whenever it came), per model
 * version. Windowed: predictions grow with traffic, and an anonymous page must not count
 * them all. Over the `predictions_time` index.
 */
export async function liveCountsByVersion(pool: Pool, since: Date): Promise<LiveCountRow[]> {
  const rows = await select(
    pool,
    REQUEST_PATH,
    `SELECT p.model_version AS k, ${LIVE_COLUMNS} FROM predictions p LEFT JOIN ${CORRECTIONS} c ON c.prediction_id = p.id
     WHERE p.created_at >= ? GROUP BY p.model_version`,
    [since],
  );
  return rows.map(toLiveCounts);
}

/** The same for one version, per predicted digit ('0'–'9'). */
export async function liveCountsByDigit(pool: Pool, version: string, since: Date): Promise<LiveCountRow[]> {
  const rows = await select(
    pool,
    REQUEST_PATH,
    `SELECT p.digit AS k, ${LIVE_COLUMNS} FROM predictions p LEFT JOIN ${CORRECTIONS} c ON c.prediction_id = p.id
     WHERE p.model_version = ? AND p.created_at >= ? GROUP BY p.digit`,
    [version, since],
  );
  return rows.map(toLiveCounts);
}

export const SERIES_BUCKETS = { minute: '%Y-%m-%d %H:%i:00', hour: '%Y-%m-%d %H:00:00', day: '%Y-%m-%d 00:00:00' } as const;
export type SeriesBucket = keyof typeof SERIES_BUCKETS;

/** Per version and time bucket (the bucket's start, server time), of predictions made since `since`: predictions and wrong ones. */
export async function liveSeries(pool: Pool, bucket: SeriesBucket, since: Date): Promise<(LiveCountRow & { version: string; start: Date })[]> {
  const rows = await select(
    pool,
    REQUEST_PATH,
    `SELECT p.model_version AS k, STR_TO_DATE(DATE_FORMAT(p.created_at, ?), '%Y-%m-%d %H:%i:%s') AS start, ${LIVE_COLUMNS}
     FROM predictions p LEFT JOIN ${CORRECTIONS} c ON c.prediction_id = p.id
     WHERE p.created_at >= ?
     GROUP BY p.model_version, start ORDER BY start, p.model_version`,
    [SERIES_BUCKETS[bucket], since],
  );
  return rows.map((row) => ({ ...toLiveCounts(row), version: String(row.k), start: date(row.start) }));
}

/** When `version` answered its first recorded prediction; undefined if it answered none. */
export async function firstPredictionAt(pool: Pool, version: string): Promise<Date | undefined> {
  // MIN over the (model_version, created_at) index: one index lookup.
  const [row] = await select(pool, REQUEST_PATH, 'SELECT MIN(created_at) AS first FROM predictions WHERE model_version = ?', [version]);
  return dateOrNull(row?.first) ?? undefined;
}

/**
 * What a person's feedback says of the model's answer: 'correction' (another digit than the
 * model said), 'confirmation' (the same digit), 'unlinked' (sent without a prediction, so
 * the model's answer is unknown).
 */
export const FEEDBACK_KINDS = {
  correction: 'predicted_digit IS NOT NULL AND label <> predicted_digit',
  confirmation: 'predicted_digit IS NOT NULL AND label = predicted_digit',
  unlinked: 'predicted_digit IS NULL',
} as const;
export type FeedbackKind = keyof typeof FEEDBACK_KINDS;

export type CorrectionRow = { id: number; createdAt: Date; label: number; predictedDigit: number | null; modelVersion: string | null; objectKey: string; contentType: string };

/** The newest feedback images, newest first; only those of `kind` when given. */
export async function recentCorrections(pool: Pool, limit: number, kind?: FeedbackKind): Promise<CorrectionRow[]> {
  const rows = await select(
    pool,
    REQUEST_PATH,
    `SELECT id, created_at, label, predicted_digit, model_version, object_key, content_type FROM images
     WHERE source = 'feedback'${kind === undefined ? '' : ` AND ${FEEDBACK_KINDS[kind]}`} ORDER BY id DESC LIMIT ?`,
    [limit],
  );
  return rows.map((row) => ({
    id: Number(row.id),
    createdAt: date(row.created_at),
    label: Number(row.label),
    predictedDigit: numberOrNull(row.predicted_digit),
    modelVersion: textOrNull(row.model_version),
    objectKey: String(row.object_key),
    contentType: String(row.content_type),
  }));
}

/** How many feedback images there are of each kind, all time. */
export async function countFeedbackKinds(pool: Pool): Promise<Record<FeedbackKind, number>> {
  const [row] = await select(
    pool,
    REQUEST_PATH,
    `SELECT COALESCE(SUM(${FEEDBACK_KINDS.correction}), 0) AS correction, COALESCE(SUM(${FEEDBACK_KINDS.confirmation}), 0) AS confirmation,
       COALESCE(SUM(${FEEDBACK_KINDS.unlinked}), 0) AS unlinked
     FROM images WHERE source = 'feedback'`,
  );
  // SUM answers a DECIMAL, which the driver returns as a string.
  return { correction: Number(row?.correction ?? 0), confirmation: Number(row?.confirmation ?? 0), unlinked: Number(row?.unlinked ?? 0) };
}

/** Feedback a refused run set aside for review and that is still aside, by class; `run` is that run's record (null if gone). */
export type SetAsideGroup = { runId: number; run: TrainingRunRow | null; byClass: number[] };

/**
 * Feedback set aside for review (see `setAsideImages`), grouped by the run that set it aside,
 * newest run first: what the webapp's `/api/training` tells. The run's record says why (its
 * gate's checks) and after how many refusals in a row (its parameters).
 */
export async function listSetAsideFeedback(pool: Pool): Promise<SetAsideGroup[]> {
  const counts = await select(
    pool,
    REQUEST_PATH,
    "SELECT set_aside_in_run AS run_id, label, COUNT(*) AS n FROM images WHERE source = 'feedback' AND set_aside_in_run IS NOT NULL GROUP BY set_aside_in_run, label",
  );
  if (counts.length === 0) return [];
  const byRun = new Map<number, number[]>();
  for (const row of counts) {
    const runId = Number(row.run_id);
    const byClass = byRun.get(runId) ?? new Array<number>(10).fill(0);
    byClass[Number(row.label)] = Number(row.n);
    byRun.set(runId, byClass);
  }
  const runs = await select(pool, REQUEST_PATH, 'SELECT * FROM training_runs WHERE id IN (?)', [[...byRun.keys()]]);
  const records = new Map(runs.map((row) => [Number(row.id), toRunRow(row)]));
  return [...byRun.entries()].sort(([a], [b]) => b - a).map(([runId, byClass]) => ({ runId, run: records.get(runId) ?? null, byClass }));
}
