import type { Pool, RowDataPacket } from 'mysql2/promise';
import { toRunRow } from './database.js';
import type { TrainingRunRow } from './database.js';
import type { ModelMetadata } from './model-bundle.js';

/**
 * The model registry's reads (and the one write, `recordModelVersion`): what the webapp's
 * `/api/models…` pages are made of. Live counts come from `predictions` joined to the
 * corrections that cite them: a prediction counts as corrected once, however many
 * corrections cite it, and as wrong when a correction says another digit.
 */

/** Remembers the metadata of a model the webapp serves; the first record of a version stays. */
export async function recordModelVersion(pool: Pool, metadata: ModelMetadata): Promise<void> {
  await pool.execute('INSERT IGNORE INTO model_versions (version, metadata) VALUES (?, ?)', [metadata.version, JSON.stringify(metadata)]);
}

export async function listModelVersions(pool: Pool): Promise<Map<string, { metadata: ModelMetadata; firstServedAt: Date }>> {
  const [rows] = await pool.query<RowDataPacket[]>('SELECT version, metadata, first_served_at FROM model_versions');
  return new Map(rows.map((row) => [String(row.version), { metadata: JSON.parse(String(row.metadata)) as ModelMetadata, firstServedAt: row.first_served_at as Date }]));
}

export type VersionRunRow = TrainingRunRow & { modelVersion: string };

/** Runs that made a version (promoted, or failed after the version was named), newest first. */
export async function listVersionRuns(pool: Pool): Promise<VersionRunRow[]> {
  const [rows] = await pool.query<RowDataPacket[]>('SELECT * FROM training_runs WHERE model_version IS NOT NULL ORDER BY id DESC');
  return rows.map((row) => toRunRow(row) as VersionRunRow);
}

export type LiveCountRow = { key: string; predictions: number; corrections: number; wrong: number };

const LIVE_COLUMNS = `COUNT(DISTINCT p.id) AS predictions,
  COUNT(DISTINCT c.prediction_id) AS corrections,
  COUNT(DISTINCT CASE WHEN c.label <> p.digit THEN p.id END) AS wrong`;

const CORRECTIONS = "(SELECT prediction_id, label FROM images WHERE source = 'feedback' AND prediction_id IS NOT NULL)";

function toLiveCounts(row: RowDataPacket): LiveCountRow {
  return { key: String(row.k), predictions: Number(row.predictions), corrections: Number(row.corrections), wrong: Number(row.wrong) };
}

/** Predictions, corrected predictions and wrong ones, per model version. */
export async function liveCountsByVersion(pool: Pool): Promise<LiveCountRow[]> {
  const [rows] = await pool.query<RowDataPacket[]>(
    `SELECT p.model_version AS k, ${LIVE_COLUMNS} FROM predictions p LEFT JOIN ${CORRECTIONS} c ON c.prediction_id = p.id GROUP BY p.model_version`,
  );
  return rows.map(toLiveCounts);
}

/** The same for one version, per predicted digit ('0'–'9'). */
export async function liveCountsByDigit(pool: Pool, version: string): Promise<LiveCountRow[]> {
  const [rows] = await pool.query<RowDataPacket[]>(
    `SELECT p.digit AS k, ${LIVE_COLUMNS} FROM predictions p LEFT JOIN ${CORRECTIONS} c ON c.prediction_id = p.id WHERE p.model_version = ? GROUP BY p.digit`,
    [version],
  );
  return rows.map(toLiveCounts);
}

export const SERIES_BUCKETS = { minute: '%Y-%m-%d %H:%i:00', hour: '%Y-%m-%d %H:00:00', day: '%Y-%m-%d 00:00:00' } as const;
export type SeriesBucket = keyof typeof SERIES_BUCKETS;

/** Per version and time bucket (the bucket's start, server time): predictions and wrong ones. */
export async function liveSeries(pool: Pool, bucket: SeriesBucket): Promise<(LiveCountRow & { version: string; start: Date })[]> {
  const [rows] = await pool.query<RowDataPacket[]>(
    `SELECT p.model_version AS k, STR_TO_DATE(DATE_FORMAT(p.created_at, ?), '%Y-%m-%d %H:%i:%s') AS start, ${LIVE_COLUMNS}
     FROM predictions p LEFT JOIN ${CORRECTIONS} c ON c.prediction_id = p.id
     GROUP BY p.model_version, start ORDER BY start, p.model_version`,
    [SERIES_BUCKETS[bucket]],
  );
  return rows.map((row) => ({ ...toLiveCounts(row), version: String(row.k), start: row.start as Date }));
}

/** When `version` answered its first recorded prediction; undefined if it answered none. */
export async function firstPredictionAt(pool: Pool, version: string): Promise<Date | undefined> {
  // MIN over the (model_version, created_at) index: one index lookup.
  const [rows] = await pool.query<RowDataPacket[]>('SELECT MIN(created_at) AS first FROM predictions WHERE model_version = ?', [version]);
  return (rows[0]?.first as Date | null | undefined) ?? undefined;
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
  const [rows] = await pool.query<RowDataPacket[]>(
    `SELECT id, created_at, label, predicted_digit, model_version, object_key, content_type FROM images
     WHERE source = 'feedback'${kind === undefined ? '' : ` AND ${FEEDBACK_KINDS[kind]}`} ORDER BY id DESC LIMIT ?`,
    [limit],
  );
  return rows.map((row) => ({
    id: Number(row.id),
    createdAt: row.created_at as Date,
    label: Number(row.label),
    predictedDigit: row.predicted_digit === null ? null : Number(row.predicted_digit),
    modelVersion: row.model_version === null ? null : String(row.model_version),
    objectKey: String(row.object_key),
    contentType: String(row.content_type),
  }));
}

/** How many feedback images there are of each kind, all time. */
export async function countFeedbackKinds(pool: Pool): Promise<Record<FeedbackKind, number>> {
  const [rows] = await pool.query<RowDataPacket[]>(
    `SELECT COALESCE(SUM(${FEEDBACK_KINDS.correction}), 0) AS correction, COALESCE(SUM(${FEEDBACK_KINDS.confirmation}), 0) AS confirmation,
       COALESCE(SUM(${FEEDBACK_KINDS.unlinked}), 0) AS unlinked
     FROM images WHERE source = 'feedback'`,
  );
  // SUM answers a DECIMAL, which the driver returns as a string.
  return { correction: Number(rows[0]?.correction ?? 0), confirmation: Number(rows[0]?.confirmation ?? 0), unlinked: Number(rows[0]?.unlinked ?? 0) };
}
