import { BACKGROUND, REQUEST_PATH, select, write } from './pool.js';
import type { Db, Deadline, Pool } from './pool.js';
import { countOf, numberOrNull } from './rows.js';
import type { Row } from './rows.js';

/**
 * What training reads of the `images` table and marks in it: the feedback not used yet, the
 * base data in source order, and which run used which image.
 */

/** Where feedback rows come from: the webapp's `POST /api/feedback`. */
export const FEEDBACK_SOURCE = 'feedback';

export type TrainingImageRow = { id: number; objectKey: string; sha256: string; label: number };

function toTrainingImageRow(row: Row): TrainingImageRow {
  return { id: Number(row.id), objectKey: String(row.object_key), sha256: String(row.sha256), label: Number(row.label) };
}

/**
 * Feedback waiting for a run: not used by one, and not set aside for review (the gate refused
 * the runs that tried it too many times in a row, see `setAsideImages`).
 */
const PENDING = 'used_in_run IS NULL AND set_aside_in_run IS NULL';

/** Labelled feedback images no training run has used yet (and not set aside): what a cycle's threshold counts. */
export async function countUnusedFeedback(pool: Pool): Promise<number> {
  return countOf(await select(pool, BACKGROUND, `SELECT COUNT(*) AS n FROM images WHERE source = ? AND ${PENDING}`, [FEEDBACK_SOURCE]));
}

/**
 * Unused feedback images per class (index = label): what the per-class retrain rule looks at.
 * On the request path: the webapp counts after storing a feedback, training's `/status` shows it.
 */
export async function countUnusedFeedbackByClass(pool: Pool, deadline: Deadline = REQUEST_PATH): Promise<number[]> {
  const rows = await select(pool, deadline, `SELECT label, COUNT(*) AS n FROM images WHERE source = ? AND ${PENDING} GROUP BY label`, [
    FEEDBACK_SOURCE,
  ]);
  const counts = new Array<number>(10).fill(0);
  for (const row of rows) counts[Number(row.label)] = Number(row.n);
  return counts;
}

/** The unused feedback images, oldest first. */
export async function listUnusedFeedback(pool: Pool): Promise<TrainingImageRow[]> {
  const rows = await select(pool, BACKGROUND, `SELECT id, object_key, sha256, label FROM images WHERE source = ? AND ${PENDING} ORDER BY id`, [
    FEEDBACK_SOURCE,
  ]);
  return rows.map(toTrainingImageRow);
}

/** Every feedback image, used or not, but those set aside for review: the held-out share of them is a fixed test set. */
export async function listFeedback(pool: Pool): Promise<(TrainingImageRow & { usedInRun: number | null })[]> {
  const rows = await select(pool, BACKGROUND, 'SELECT id, object_key, sha256, label, used_in_run FROM images WHERE source = ? AND set_aside_in_run IS NULL ORDER BY id', [
    FEEDBACK_SOURCE,
  ]);
  return rows.map((row) => ({ ...toTrainingImageRow(row), usedInRun: numberOrNull(row.used_in_run) }));
}

/** Base images of one source's split in source order (60,000 rows for MNIST's train split); `limit` takes the first ones. */
export async function listBaseImages(pool: Pool, source: string, split: string, limit?: number): Promise<TrainingImageRow[]> {
  const sql = 'SELECT id, object_key, sha256, label FROM images WHERE source = ? AND split = ? AND source_index IS NOT NULL ORDER BY source_index';
  const rows =
    limit === undefined
      ? await select(pool, BACKGROUND, sql, [source, split])
      : await select(pool, BACKGROUND, `${sql} LIMIT ?`, [source, split, limit]);
  return rows.map(toTrainingImageRow);
}

/** Id of the newest unused feedback row of one of `classes`, or null when there is none. */
export async function newestUnusedFeedbackId(pool: Pool, classes: readonly number[], deadline: Deadline = REQUEST_PATH): Promise<number | null> {
  if (classes.length === 0) return null;
  const [row] = await select(pool, deadline, `SELECT MAX(id) AS id FROM images WHERE source = ? AND ${PENDING} AND label IN (?)`, [
    FEEDBACK_SOURCE,
    classes,
  ]);
  return numberOrNull(row?.id);
}

/**
 * Marks images as used by a run; only rows still unused change, so an image is credited to
 * the first run that used it. Returns how many rows changed.
 */
export async function markImagesUsed(db: Db, ids: readonly number[], runId: number): Promise<number> {
  if (ids.length === 0) return 0;
  let changed = 0;
  // Batches keep the IN list (and the packet) bounded.
  for (let start = 0; start < ids.length; start += 1000) {
    const result = await write(db, BACKGROUND, 'UPDATE images SET used_in_run = ? WHERE id IN (?) AND used_in_run IS NULL', [runId, ids.slice(start, start + 1000)]);
    changed += result.affectedRows;
  }
  return changed;
}

/**
 * Sets unused feedback aside for review, recording the run that did it: out of training and of
 * the trigger's count until a person puts it back. Returns how many rows changed.
 */
export async function setAsideImages(db: Db, ids: readonly number[], runId: number): Promise<number> {
  let changed = 0;
  for (let start = 0; start < ids.length; start += 1000) {
    const result = await write(db, BACKGROUND, `UPDATE images SET set_aside_in_run = ? WHERE id IN (?) AND ${PENDING}`, [runId, ids.slice(start, start + 1000)]);
    changed += result.affectedRows;
  }
  return changed;
}

/** Feedback set aside for review, per class (index = label). */
export async function countSetAsideByClass(pool: Pool, deadline: Deadline = REQUEST_PATH): Promise<number[]> {
  const rows = await select(pool, deadline, 'SELECT label, COUNT(*) AS n FROM images WHERE source = ? AND set_aside_in_run IS NOT NULL GROUP BY label', [FEEDBACK_SOURCE]);
  const counts = new Array<number>(10).fill(0);
  for (const row of rows) counts[Number(row.label)] = Number(row.n);
  return counts;
}
