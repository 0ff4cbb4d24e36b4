import { BACKGROUND, inTransaction, REQUEST_PATH, select, write } from './pool.js';
import type { Pool } from './pool.js';
import { countOf, date, numberOrNull, textOrNull } from './rows.js';
import type { Row } from './rows.js';

/**
 * The `images` table, one row per stored image: feedback (written by the webapp on the
 * request path) and base data such as MNIST (registered by training in the background).
 * What training reads of it is in `training-images.ts`.
 */

/** What every image row holds of its file and label. */
type ImageFile = {
  objectKey: string;
  sha256: string;
  contentType: string;
  byteSize: number;
  width: number;
  height: number;
  label: number;
  source: string;
};

/** The columns of `ImageFile` and `split`, in the order `imageValues` gives them. */
const IMAGE_COLUMNS = 'object_key, sha256, content_type, byte_size, width, height, label, source, split';

function imageValues(row: ImageFile & { split: string | null }): (string | number | null)[] {
  return [row.objectKey, row.sha256, row.contentType, row.byteSize, row.width, row.height, row.label, row.source, row.split];
}

export type NewImageRow = ImageFile & {
  split: string | null;
  predictionId: string | null;
  predictedDigit: number | null;
  modelVersion: string | null;
};

export type ImageRow = NewImageRow & { id: number; usedInRun: number | null; createdAt: Date };

/** Inserts one image row in a transaction of its own (see `inTransaction`): a row the caller was told failed is never written. */
export async function insertImage(pool: Pool, row: NewImageRow): Promise<number> {
  return inTransaction(pool, REQUEST_PATH, async (connection) => {
    const result = await write(
      connection,
      REQUEST_PATH,
      `INSERT INTO images (${IMAGE_COLUMNS}, prediction_id, predicted_digit, model_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [...imageValues(row), row.predictionId, row.predictedDigit, row.modelVersion],
    );
    return result.insertId;
  });
}

export async function getImage(pool: Pool, id: number): Promise<ImageRow | undefined> {
  const [row] = await select(pool, REQUEST_PATH, 'SELECT * FROM images WHERE id = ?', [id]);
  return row === undefined ? undefined : toImageRow(row);
}

export async function countImages(pool: Pool, filter: { source?: string } = {}): Promise<number> {
  return countOf(
    filter.source === undefined
      ? await select(pool, BACKGROUND, 'SELECT COUNT(*) AS n FROM images')
      : await select(pool, BACKGROUND, 'SELECT COUNT(*) AS n FROM images WHERE source = ?', [filter.source]),
  );
}

function toImageRow(row: Row): ImageRow {
  return {
    id: Number(row.id),
    objectKey: String(row.object_key),
    sha256: String(row.sha256),
    contentType: String(row.content_type),
    byteSize: Number(row.byte_size),
    width: Number(row.width),
    height: Number(row.height),
    label: Number(row.label),
    source: String(row.source),
    split: textOrNull(row.split),
    predictionId: textOrNull(row.prediction_id),
    predictedDigit: numberOrNull(row.predicted_digit),
    modelVersion: textOrNull(row.model_version),
    usedInRun: numberOrNull(row.used_in_run),
    createdAt: date(row.created_at),
  };
}

/** A base-data image (MNIST and the like): its place in the source is what identifies it. */
export type NewBaseImageRow = ImageFile & {
  split: string;
  /** Index of the image within its source's split, from 0. */
  sourceIndex: number;
};

/** Columns of one base-image row: ten `?` per row in the bulk insert below. */
const BASE_IMAGE_PLACEHOLDERS = '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)';

/**
 * Inserts base images in one multi-row statement; rows already present (same source, split
 * and source index) are left as they are. Returns how many rows were new.
 *
 * INSERT IGNORE would also turn bad values into warnings, so the rows are checked here first
 * and the only thing IGNORE can swallow is the duplicate key, which is the point.
 */
export async function insertBaseImages(pool: Pool, rows: readonly NewBaseImageRow[]): Promise<number> {
  if (rows.length === 0) return 0;
  const values: (string | number | null)[] = [];
  for (const row of rows) {
    if (!Number.isInteger(row.label) || row.label < 0 || row.label > 9) {
      throw new RangeError(`label ${row.label} of ${row.source}/${row.split}#${row.sourceIndex} is not 0–9`);
    }
    if (!Number.isInteger(row.sourceIndex) || row.sourceIndex < 0) {
      throw new RangeError(`source index ${row.sourceIndex} of ${row.source}/${row.split} is not a natural number`);
    }
    values.push(...imageValues(row), row.sourceIndex);
  }
  const result = await write(
    pool,
    BACKGROUND,
    `INSERT IGNORE INTO images (${IMAGE_COLUMNS}, source_index) VALUES ${rows.map(() => BASE_IMAGE_PLACEHOLDERS).join(', ')}`,
    values,
  );
  return result.affectedRows;
}

/** Source indexes of one source's split already registered: what a resumed registration skips. */
export async function registeredSourceIndexes(pool: Pool, source: string, split: string): Promise<Set<number>> {
  const rows = await select(pool, BACKGROUND, 'SELECT source_index FROM images WHERE source = ? AND split = ? AND source_index IS NOT NULL', [
    source,
    split,
  ]);
  return new Set(rows.map((row) => Number(row.source_index)));
}

/** Base images of a source, both splits; feedback rows (no source index) are not counted. */
export async function countBaseImages(pool: Pool, source: string): Promise<number> {
  return countOf(await select(pool, BACKGROUND, 'SELECT COUNT(*) AS n FROM images WHERE source = ? AND source_index IS NOT NULL', [source]));
}

/** Base images of a source, counted by split: what training's `/status` shows of the registration. */
export async function countBaseImagesBySplit(pool: Pool, source: string): Promise<Record<string, number>> {
  const rows = await select(pool, REQUEST_PATH, 'SELECT split, COUNT(*) AS n FROM images WHERE source = ? AND source_index IS NOT NULL GROUP BY split', [
    source,
  ]);
  return Object.fromEntries(rows.map((row) => [String(row.split), Number(row.n)]));
}
