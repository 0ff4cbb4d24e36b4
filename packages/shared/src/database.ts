import mysql from 'mysql2/promise';
import type { Pool, PoolConnection, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type { DatabaseSettings } from './settings.js';

export type { Pool };

/**
 * The one module that speaks SQL. Every statement uses `?` placeholders; nothing is built by
 * string concatenation from input.
 */
export function createPool(settings: DatabaseSettings, options: { connectionLimit?: number } = {}): Pool {
  return mysql.createPool({
    host: settings.host,
    port: settings.port,
    user: settings.user,
    password: settings.password,
    database: settings.database,
    connectionLimit: options.connectionLimit ?? 10,
    // Fail fast when the server is gone, so a request turns into a 503 instead of hanging.
    connectTimeout: 3000,
    // Requests wait for a connection in this queue; bounded so a stalled server cannot
    // pile up every request in memory.
    queueLimit: 200,
    timezone: 'Z',
    supportBigNumbers: true,
    bigNumberStrings: false,
  });
}

type Migration = { version: number; name: string; statements: readonly string[] };

/** Append-only: a migration, once released, is never edited; a change is a new version. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'images and predictions',
    statements: [
      `CREATE TABLE IF NOT EXISTS images (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
        object_key VARCHAR(255) NOT NULL,
        sha256 CHAR(64) NOT NULL,
        content_type VARCHAR(64) NOT NULL,
        byte_size INT UNSIGNED NOT NULL,
        width INT UNSIGNED NOT NULL,
        height INT UNSIGNED NOT NULL,
        label TINYINT UNSIGNED NOT NULL,
        source VARCHAR(32) NOT NULL,
        split VARCHAR(16) NULL,
        prediction_id CHAR(36) NULL,
        predicted_digit TINYINT UNSIGNED NULL,
        model_version VARCHAR(64) NULL,
        used_in_run BIGINT UNSIGNED NULL,
        created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        KEY images_unused (source, used_in_run),
        KEY images_sha256 (sha256),
        KEY images_prediction (prediction_id),
        CONSTRAINT images_label_range CHECK (label <= 9)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
      `CREATE TABLE IF NOT EXISTS predictions (
        id CHAR(36) NOT NULL PRIMARY KEY,
        created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        model_version VARCHAR(64) NOT NULL,
        image_sha256 CHAR(64) NOT NULL,
        digit TINYINT UNSIGNED NOT NULL,
        confidence DOUBLE NOT NULL,
        latency_ms DOUBLE NOT NULL,
        KEY predictions_version_time (model_version, created_at)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
    ],
  },
  {
    version: 2,
    name: 'base images keyed by their place in the source data',
    statements: [
      // Position of a base image in its source's split (MNIST train 0–59,999, test 0–9,999);
      // NULL for feedback. The unique key is what makes registration resumable without
      // duplicates: unique keys admit any number of NULLs, so feedback rows are unaffected.
      // Plain ALTER (no IF NOT EXISTS), valid on MySQL 8 and MariaDB alike; it runs once,
      // under the migration lock, and is then recorded in schema_migrations.
      `ALTER TABLE images
        ADD COLUMN source_index INT UNSIGNED NULL,
        ADD UNIQUE KEY images_source_item (source, split, source_index)`,
    ],
  },
  {
    version: 3,
    name: 'training runs',
    statements: [
      // JSON documents are LONGTEXT: MariaDB's JSON is an alias of LONGTEXT and MySQL's JSON
      // type would reject nothing we write, so plain text is what both servers store alike.
      `CREATE TABLE IF NOT EXISTS training_runs (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
        started_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        finished_at DATETIME(3) NULL,
        status VARCHAR(16) NOT NULL,
        model_version VARCHAR(64) NULL,
        parent_version VARCHAR(64) NULL,
        parameters LONGTEXT NULL,
        history LONGTEXT NULL,
        evaluation LONGTEXT NULL,
        gate_reason TEXT NULL,
        data_counts LONGTEXT NULL,
        error TEXT NULL,
        duration_ms INT UNSIGNED NULL,
        KEY training_runs_status (status, started_at)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
    ],
  },
  {
    version: 4,
    name: 'builds and deployments',
    statements: [
      `CREATE TABLE IF NOT EXISTS builds (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
        started_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        finished_at DATETIME(3) NULL,
        model_version VARCHAR(64) NOT NULL,
        status VARCHAR(16) NOT NULL,
        image VARCHAR(255) NULL,
        image_id VARCHAR(128) NULL,
        digest VARCHAR(255) NULL,
        base_image VARCHAR(128) NULL,
        added_bytes BIGINT NULL,
        duration_ms INT UNSIGNED NULL,
        error TEXT NULL,
        KEY builds_version (model_version, status)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
      `CREATE TABLE IF NOT EXISTS deployments (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
        started_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        finished_at DATETIME(3) NULL,
        kind VARCHAR(16) NOT NULL,
        model_version VARCHAR(64) NOT NULL,
        image VARCHAR(255) NOT NULL,
        previous_version VARCHAR(64) NULL,
        container_id VARCHAR(128) NULL,
        status VARCHAR(16) NOT NULL,
        duration_ms INT UNSIGNED NULL,
        error TEXT NULL,
        KEY deployments_status (status, id)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
    ],
  },
  {
    version: 5,
    name: 'model versions as served',
    statements: [
      // Written by the webapp when it loads a model (compose's first image, each new container,
      // candidates included, each swap): the metadata of every version a webapp loaded, the
      // pretrained model included, which no training run describes.
      `CREATE TABLE IF NOT EXISTS model_versions (
        version VARCHAR(64) NOT NULL PRIMARY KEY,
        metadata LONGTEXT NOT NULL,
        first_served_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
    ],
  },
];

const MIGRATION_LOCK = 'mlpl_migrations';

/**
 * Applies the migrations not yet recorded. Safe to call from every service at every start:
 * a MySQL named lock keeps two services from migrating at once, and applied versions are
 * skipped.
 */
export async function migrate(pool: Pool): Promise<number[]> {
  const connection = await pool.getConnection();
  try {
    const [lock] = await connection.query<RowDataPacket[]>('SELECT GET_LOCK(?, 60) AS got', [MIGRATION_LOCK]);
    if (lock[0]?.got !== 1) throw new Error('could not take the migration lock within 60 s');
    try {
      return await applyPending(connection);
    } finally {
      await connection.query('SELECT RELEASE_LOCK(?)', [MIGRATION_LOCK]);
    }
  } finally {
    connection.release();
  }
}

async function applyPending(connection: PoolConnection): Promise<number[]> {
  await connection.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INT UNSIGNED NOT NULL PRIMARY KEY,
    name VARCHAR(255) NOT NULL,
    applied_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
  ) ENGINE=InnoDB`);
  const [rows] = await connection.query<RowDataPacket[]>('SELECT version FROM schema_migrations');
  const applied = new Set(rows.map((row) => Number(row.version)));
  const done: number[] = [];
  for (const migration of MIGRATIONS) {
    if (applied.has(migration.version)) continue;
    // MySQL commits DDL implicitly, so each statement is written to be re-runnable.
    for (const statement of migration.statements) await connection.query(statement);
    await connection.query('INSERT INTO schema_migrations (version, name) VALUES (?, ?)', [
      migration.version,
      migration.name,
    ]);
    done.push(migration.version);
  }
  return done;
}

/**
 * Request-path statements give up after this long: a server that stalls (rather than
 * refusing connections) must still turn into a 503, not a request that hangs. mysql2
 * destroys the connection a timed-out statement ran on.
 */
export const STATEMENT_TIMEOUT_MS = 2000;

export async function pingDatabase(pool: Pool): Promise<void> {
  await pool.query({ sql: 'SELECT 1', timeout: STATEMENT_TIMEOUT_MS });
}

export type NewImageRow = {
  objectKey: string;
  sha256: string;
  contentType: string;
  byteSize: number;
  width: number;
  height: number;
  label: number;
  source: string;
  split: string | null;
  predictionId: string | null;
  predictedDigit: number | null;
  modelVersion: string | null;
};

export type ImageRow = NewImageRow & { id: number; usedInRun: number | null; createdAt: Date };

/**
 * Inserts one image row inside an explicit transaction. A statement that times out (a stalled
 * server) has its connection destroyed; were the INSERT autocommitted, the server would still
 * run it once it resumed, writing a row the caller was told failed. Uncommitted, it is rolled
 * back when the server sees the connection gone. What remains is the COMMIT's own round trip.
 */
export async function insertImage(pool: Pool, row: NewImageRow): Promise<number> {
  const connection = await pool.getConnection();
  try {
    await connection.query({ sql: 'START TRANSACTION', timeout: STATEMENT_TIMEOUT_MS });
    const [result] = await connection.execute<ResultSetHeader>(
      {
        sql: `INSERT INTO images (object_key, sha256, content_type, byte_size, width, height, label, source,
           split, prediction_id, predicted_digit, model_version)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        timeout: STATEMENT_TIMEOUT_MS,
      },
      [
        row.objectKey,
        row.sha256,
        row.contentType,
        row.byteSize,
        row.width,
        row.height,
        row.label,
        row.source,
        row.split,
        row.predictionId,
        row.predictedDigit,
        row.modelVersion,
      ],
    );
    await connection.query({ sql: 'COMMIT', timeout: STATEMENT_TIMEOUT_MS });
    connection.release();
    return result.insertId;
  } catch (error) {
    // Never back into the pool with a transaction open: closing it rolls the transaction back.
    connection.destroy();
    throw error;
  }
}

export async function getImage(pool: Pool, id: number): Promise<ImageRow | undefined> {
  const [rows] = await pool.execute<RowDataPacket[]>('SELECT * FROM images WHERE id = ?', [id]);
  const row = rows[0];
  return row === undefined ? undefined : toImageRow(row);
}

export async function countImages(pool: Pool, filter: { source?: string } = {}): Promise<number> {
  const [rows] =
    filter.source === undefined
      ? await pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM images')
      : await pool.execute<RowDataPacket[]>('SELECT COUNT(*) AS n FROM images WHERE source = ?', [filter.source]);
  return Number(rows[0]?.n ?? 0);
}

function toImageRow(row: RowDataPacket): ImageRow {
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
    split: row.split === null ? null : String(row.split),
    predictionId: row.prediction_id === null ? null : String(row.prediction_id),
    predictedDigit: row.predicted_digit === null ? null : Number(row.predicted_digit),
    modelVersion: row.model_version === null ? null : String(row.model_version),
    usedInRun: row.used_in_run === null ? null : Number(row.used_in_run),
    createdAt: row.created_at as Date,
  };
}

export type PredictionRow = {
  id: string;
  modelVersion: string;
  /** SHA-256 of the image that was classified: feedback citing this prediction must send the same bytes. */
  imageSha256: string;
  digit: number;
  confidence: number;
  latencyMs: number;
};

export async function insertPrediction(pool: Pool, row: PredictionRow): Promise<void> {
  await pool.execute(
    {
      sql: 'INSERT INTO predictions (id, model_version, image_sha256, digit, confidence, latency_ms) VALUES (?, ?, ?, ?, ?, ?)',
      timeout: STATEMENT_TIMEOUT_MS,
    },
    [row.id, row.modelVersion, row.imageSha256, row.digit, row.confidence, row.latencyMs],
  );
}

export async function getPrediction(pool: Pool, id: string): Promise<PredictionRow | undefined> {
  const [rows] = await pool.execute<RowDataPacket[]>(
    { sql: 'SELECT id, model_version, image_sha256, digit, confidence, latency_ms FROM predictions WHERE id = ?', timeout: STATEMENT_TIMEOUT_MS },
    [id],
  );
  const row = rows[0];
  if (row === undefined) return undefined;
  return {
    id: String(row.id),
    modelVersion: String(row.model_version),
    imageSha256: String(row.image_sha256),
    digit: Number(row.digit),
    confidence: Number(row.confidence),
    latencyMs: Number(row.latency_ms),
  };
}

/** A base-data image (MNIST and the like): its place in the source is what identifies it. */
export type NewBaseImageRow = {
  objectKey: string;
  sha256: string;
  contentType: string;
  byteSize: number;
  width: number;
  height: number;
  label: number;
  source: string;
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
  const values: (string | number)[] = [];
  for (const row of rows) {
    if (!Number.isInteger(row.label) || row.label < 0 || row.label > 9) {
      throw new RangeError(`label ${row.label} of ${row.source}/${row.split}#${row.sourceIndex} is not 0–9`);
    }
    if (!Number.isInteger(row.sourceIndex) || row.sourceIndex < 0) {
      throw new RangeError(`source index ${row.sourceIndex} of ${row.source}/${row.split} is not a natural number`);
    }
    values.push(
      row.objectKey,
      row.sha256,
      row.contentType,
      row.byteSize,
      row.width,
      row.height,
      row.label,
      row.source,
      row.split,
      row.sourceIndex,
    );
  }
  // query, not execute: a prepared statement per batch size would pile up on the server, and
  // the values are still escaped by the driver from the `?` placeholders.
  const [result] = await pool.query<ResultSetHeader>(
    `INSERT IGNORE INTO images (object_key, sha256, content_type, byte_size, width, height, label, source,
       split, source_index)
     VALUES ${rows.map(() => BASE_IMAGE_PLACEHOLDERS).join(', ')}`,
    values,
  );
  return result.affectedRows;
}

/** Source indexes of one source's split already registered: what a resumed registration skips. */
export async function registeredSourceIndexes(pool: Pool, source: string, split: string): Promise<Set<number>> {
  const [rows] = await pool.execute<RowDataPacket[]>(
    'SELECT source_index FROM images WHERE source = ? AND split = ? AND source_index IS NOT NULL',
    [source, split],
  );
  return new Set(rows.map((row) => Number(row.source_index)));
}

/** Base images of a source, both splits; feedback rows (no source index) are not counted. */
export async function countBaseImages(pool: Pool, source: string): Promise<number> {
  const [rows] = await pool.execute<RowDataPacket[]>(
    'SELECT COUNT(*) AS n FROM images WHERE source = ? AND source_index IS NOT NULL',
    [source],
  );
  return Number(rows[0]?.n ?? 0);
}

/** Where feedback rows come from: the webapp's `POST /api/feedback`. */
export const FEEDBACK_SOURCE = 'feedback';

/** Labelled feedback images no training run has used yet: what a cycle's threshold counts. */
export async function countUnusedFeedback(pool: Pool): Promise<number> {
  const [rows] = await pool.execute<RowDataPacket[]>(
    'SELECT COUNT(*) AS n FROM images WHERE source = ? AND used_in_run IS NULL',
    [FEEDBACK_SOURCE],
  );
  return Number(rows[0]?.n ?? 0);
}

export type TrainingImageRow = { id: number; objectKey: string; sha256: string; label: number };

function toTrainingImageRow(row: RowDataPacket): TrainingImageRow {
  return { id: Number(row.id), objectKey: String(row.object_key), sha256: String(row.sha256), label: Number(row.label) };
}

/** The unused feedback images, oldest first. */
export async function listUnusedFeedback(pool: Pool): Promise<TrainingImageRow[]> {
  const [rows] = await pool.execute<RowDataPacket[]>(
    'SELECT id, object_key, sha256, label FROM images WHERE source = ? AND used_in_run IS NULL ORDER BY id',
    [FEEDBACK_SOURCE],
  );
  return rows.map(toTrainingImageRow);
}

/** Base images of one source's split in source order; `limit` takes the first ones. */
export async function listBaseImages(pool: Pool, source: string, split: string, limit?: number): Promise<TrainingImageRow[]> {
  const sql =
    'SELECT id, object_key, sha256, label FROM images WHERE source = ? AND split = ? AND source_index IS NOT NULL ORDER BY source_index';
  // LIMIT through query, not execute: MySQL 8's prepared statements reject a bound LIMIT value.
  const [rows] =
    limit === undefined
      ? await pool.execute<RowDataPacket[]>(sql, [source, split])
      : await pool.query<RowDataPacket[]>(`${sql} LIMIT ?`, [source, split, limit]);
  return rows.map(toTrainingImageRow);
}

export const TRAINING_RUN_STATUSES = ['running', 'promoted', 'rejected', 'failed'] as const;
export type TrainingRunStatus = (typeof TRAINING_RUN_STATUSES)[number];

/** Records a run as 'running' and returns its id. */
export async function startRun(pool: Pool, run: { parentVersion: string | null; parameters: unknown }): Promise<number> {
  const [result] = await pool.execute<ResultSetHeader>(
    "INSERT INTO training_runs (status, parent_version, parameters) VALUES ('running', ?, ?)",
    [run.parentVersion, JSON.stringify(run.parameters)],
  );
  return result.insertId;
}

export type RunOutcome = {
  status: Exclude<TrainingRunStatus, 'running'>;
  modelVersion?: string | null;
  history?: unknown;
  evaluation?: unknown;
  gateReason?: string | null;
  dataCounts?: unknown;
  error?: string | null;
  durationMs: number;
};

function jsonOrNull(value: unknown): string | null {
  return value === undefined ? null : JSON.stringify(value);
}

const FINISH_RUN_SQL = `UPDATE training_runs SET status = ?, finished_at = CURRENT_TIMESTAMP(3), model_version = ?, history = ?,
       evaluation = ?, gate_reason = ?, data_counts = ?, error = ?, duration_ms = ?
     WHERE id = ? AND status = 'running'`;

function finishRunValues(runId: number, outcome: RunOutcome): (string | number | null)[] {
  return [
    outcome.status,
    outcome.modelVersion ?? null,
    jsonOrNull(outcome.history),
    jsonOrNull(outcome.evaluation),
    outcome.gateReason ?? null,
    jsonOrNull(outcome.dataCounts),
    outcome.error ?? null,
    Math.max(0, Math.round(outcome.durationMs)),
    runId,
  ];
}

/** Closes a run with its outcome; a run already closed is left as it was. Returns whether it closed it. */
export async function finishRun(pool: Pool, runId: number, outcome: RunOutcome): Promise<boolean> {
  const [result] = await pool.execute<ResultSetHeader>(FINISH_RUN_SQL, finishRunValues(runId, outcome));
  return result.affectedRows === 1;
}

/**
 * Records a promotion in one transaction: the run becomes 'promoted' and its images are marked
 * used by it, or neither happens. Refuses (and changes nothing) when the run is no longer
 * 'running', e.g. closed as interrupted by another replica that took over the lock.
 */
export async function commitPromotion(pool: Pool, runId: number, outcome: RunOutcome & { status: 'promoted' }, imageIds: readonly number[]): Promise<number> {
  const connection = await pool.getConnection();
  try {
    await connection.beginTransaction();
    const [closed] = await connection.execute<ResultSetHeader>(FINISH_RUN_SQL, finishRunValues(runId, outcome));
    if (closed.affectedRows !== 1) throw new Error(`run ${runId} is no longer running; its promotion is not recorded`);
    const marked = await markImagesUsed(connection, imageIds, runId);
    await connection.commit();
    return marked;
  } catch (error) {
    await connection.rollback().catch(() => undefined);
    throw error;
  } finally {
    connection.release();
  }
}

/**
 * Records what a running run produced (its version, history, evaluation, gate reason, data)
 * before the candidate is handed over: a database that is gone stops the run before anything
 * leaves, and a process that dies during the hand-over leaves a complete record.
 */
export async function recordCandidate(pool: Pool, runId: number, candidate: Omit<RunOutcome, 'status' | 'error' | 'durationMs'>): Promise<void> {
  const [result] = await pool.execute<ResultSetHeader>(
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
  parentVersion: string | null;
  parameters: unknown;
  history: unknown;
  evaluation: unknown;
  gateReason: string | null;
  dataCounts: unknown;
  error: string | null;
  durationMs: number | null;
};

function parseJsonColumn(value: unknown): unknown {
  return value === null || value === undefined ? null : JSON.parse(String(value));
}

/** A `training_runs` row as the services see it. */
export function toRunRow(row: RowDataPacket): TrainingRunRow {
  return {
    id: Number(row.id),
    startedAt: row.started_at as Date,
    finishedAt: (row.finished_at as Date | null) ?? null,
    status: String(row.status) as TrainingRunStatus,
    modelVersion: row.model_version === null ? null : String(row.model_version),
    parentVersion: row.parent_version === null ? null : String(row.parent_version),
    parameters: parseJsonColumn(row.parameters),
    history: parseJsonColumn(row.history),
    evaluation: parseJsonColumn(row.evaluation),
    gateReason: row.gate_reason === null ? null : String(row.gate_reason),
    dataCounts: parseJsonColumn(row.data_counts),
    error: row.error === null ? null : String(row.error),
    durationMs: row.duration_ms === null ? null : Number(row.duration_ms),
  };
}

/** The most recent runs, newest first. */
export async function listRuns(pool: Pool, limit = 20): Promise<TrainingRunRow[]> {
  const [rows] = await pool.query<RowDataPacket[]>('SELECT * FROM training_runs ORDER BY id DESC LIMIT ?', [limit]);
  return rows.map(toRunRow);
}

/**
 * Marks images as used by a run; only rows still unused change, so an image is credited to
 * the first run that used it. Returns how many rows changed.
 */
export async function markImagesUsed(db: Pool | PoolConnection, ids: readonly number[], runId: number): Promise<number> {
  if (ids.length === 0) return 0;
  let changed = 0;
  // Batches keep the IN list (and the packet) bounded.
  for (let start = 0; start < ids.length; start += 1000) {
    const [result] = await db.query<ResultSetHeader>('UPDATE images SET used_in_run = ? WHERE id IN (?) AND used_in_run IS NULL', [
      runId,
      ids.slice(start, start + 1000),
    ]);
    changed += result.affectedRows;
  }
  return changed;
}

/** Name of the database lock that keeps training cycles from overlapping, across replicas too. */
export const TRAINING_LOCK = 'mlpl_training_cycle';

export type HeldLock = {
  /** Whether this connection still holds the lock: false once the connection was lost, and another may hold it. */
  held(): Promise<boolean>;
  release(): Promise<void>;
};

/**
 * Takes the training lock without waiting, on a connection of its own: MySQL ties a named
 * lock to its connection, so a process that dies (or loses the connection) frees it. Returns
 * null when another cycle holds it.
 */
export async function tryTrainingLock(pool: Pool): Promise<HeldLock | null> {
  const connection = await pool.getConnection();
  try {
    const [rows] = await connection.query<RowDataPacket[]>('SELECT GET_LOCK(?, 0) AS got', [TRAINING_LOCK]);
    if (rows[0]?.got !== 1) {
      connection.release();
      return null;
    }
  } catch (error) {
    connection.destroy();
    throw error;
  }
  return {
    async held() {
      try {
        const [rows] = await connection.query<RowDataPacket[]>('SELECT IS_USED_LOCK(?) = CONNECTION_ID() AS mine', [TRAINING_LOCK]);
        return rows[0]?.mine === 1;
      } catch {
        return false;
      }
    },
    async release() {
      try {
        await connection.query('SELECT RELEASE_LOCK(?)', [TRAINING_LOCK]);
        connection.release();
      } catch {
        // A connection that cannot release the lock is closed, which releases it too.
        connection.destroy();
      }
    },
  };
}

/**
 * Runs left 'running' by a process that was killed: called under the training lock, so no
 * live cycle owns them. Returns how many were closed as failed.
 */
export async function failInterruptedRuns(pool: Pool): Promise<number> {
  const [result] = await pool.execute<ResultSetHeader>(
    `UPDATE training_runs SET status = 'failed', finished_at = CURRENT_TIMESTAMP(3),
       error = 'interrupted: the process running this cycle stopped before it finished'
     WHERE status = 'running'`,
  );
  return result.affectedRows;
}

/** Every feedback image, used or not: the held-out share of all of them is a fixed test set. */
export async function listFeedback(pool: Pool): Promise<(TrainingImageRow & { usedInRun: number | null })[]> {
  const [rows] = await pool.execute<RowDataPacket[]>(
    'SELECT id, object_key, sha256, label, used_in_run FROM images WHERE source = ? ORDER BY id',
    [FEEDBACK_SOURCE],
  );
  return rows.map((row) => ({ ...toTrainingImageRow(row), usedInRun: row.used_in_run === null ? null : Number(row.used_in_run) }));
}

/** Unused feedback images per class (index = label): what the per-class retrain rule looks at. */
export async function countUnusedFeedbackByClass(pool: Pool): Promise<number[]> {
  const [rows] = await pool.execute<RowDataPacket[]>(
    // Bounded: the webapp counts on the request path of a feedback, after the row is stored.
    { sql: 'SELECT label, COUNT(*) AS n FROM images WHERE source = ? AND used_in_run IS NULL GROUP BY label', timeout: STATEMENT_TIMEOUT_MS },
    [FEEDBACK_SOURCE],
  );
  const counts = new Array<number>(10).fill(0);
  for (const row of rows) counts[Number(row.label)] = Number(row.n);
  return counts;
}

/** Versions of promoted runs, newest first: the model in service is the first that still loads. */
export async function listPromotedVersions(pool: Pool, limit = 5): Promise<string[]> {
  const [rows] = await pool.query<RowDataPacket[]>(
    "SELECT model_version FROM training_runs WHERE status = 'promoted' AND model_version IS NOT NULL ORDER BY id DESC LIMIT ?",
    [limit],
  );
  return rows.map((row) => String(row.model_version));
}

/** Base images of a source, counted by split: what `/status` shows of the registration. */
export async function countBaseImagesBySplit(pool: Pool, source: string): Promise<Record<string, number>> {
  const [rows] = await pool.execute<RowDataPacket[]>(
    'SELECT split, COUNT(*) AS n FROM images WHERE source = ? AND source_index IS NOT NULL GROUP BY split',
    [source],
  );
  return Object.fromEntries(rows.map((row) => [String(row.split), Number(row.n)]));
}

/** Id of the newest unused feedback row of one of `classes`, or null when there is none. */
export async function newestUnusedFeedbackId(pool: Pool, classes: readonly number[]): Promise<number | null> {
  if (classes.length === 0) return null;
  const [rows] = await pool.query<RowDataPacket[]>('SELECT MAX(id) AS id FROM images WHERE source = ? AND used_in_run IS NULL AND label IN (?)', [
    FEEDBACK_SOURCE,
    classes,
  ]);
  const id = rows[0]?.id;
  return id === null || id === undefined ? null : Number(id);
}

export type BuildStatus = 'building' | 'built' | 'failed';

export type BuildRow = {
  id: number;
  startedAt: Date;
  finishedAt: Date | null;
  modelVersion: string;
  status: BuildStatus;
  image: string | null;
  imageId: string | null;
  digest: string | null;
  baseImage: string | null;
  addedBytes: number | null;
  durationMs: number | null;
  error: string | null;
};

export async function startBuild(pool: Pool, modelVersion: string): Promise<number> {
  const [result] = await pool.execute<ResultSetHeader>("INSERT INTO builds (model_version, status) VALUES (?, 'building')", [modelVersion]);
  return result.insertId;
}

export type BuildOutcome = {
  status: Exclude<BuildStatus, 'building'>;
  image?: string | null;
  imageId?: string | null;
  digest?: string | null;
  baseImage?: string | null;
  addedBytes?: number | null;
  error?: string | null;
  durationMs: number;
};

export async function finishBuild(pool: Pool, id: number, outcome: BuildOutcome): Promise<void> {
  await pool.execute(
    `UPDATE builds SET status = ?, finished_at = CURRENT_TIMESTAMP(3), image = ?, image_id = ?, digest = ?, base_image = ?,
       added_bytes = ?, duration_ms = ?, error = ? WHERE id = ? AND status = 'building'`,
    [
      outcome.status,
      outcome.image ?? null,
      outcome.imageId ?? null,
      outcome.digest ?? null,
      outcome.baseImage ?? null,
      outcome.addedBytes ?? null,
      Math.max(0, Math.round(outcome.durationMs)),
      outcome.error ?? null,
      id,
    ],
  );
}

function toBuildRow(row: RowDataPacket): BuildRow {
  const text = (value: unknown) => (value === null || value === undefined ? null : String(value));
  return {
    id: Number(row.id),
    startedAt: row.started_at as Date,
    finishedAt: (row.finished_at as Date | null) ?? null,
    modelVersion: String(row.model_version),
    status: String(row.status) as BuildStatus,
    image: text(row.image),
    imageId: text(row.image_id),
    digest: text(row.digest),
    baseImage: text(row.base_image),
    addedBytes: row.added_bytes === null ? null : Number(row.added_bytes),
    durationMs: row.duration_ms === null ? null : Number(row.duration_ms),
    error: text(row.error),
  };
}

/** Builds, newest first. */
export async function listBuilds(pool: Pool, limit = 50): Promise<BuildRow[]> {
  const [rows] = await pool.query<RowDataPacket[]>('SELECT * FROM builds ORDER BY id DESC LIMIT ?', [limit]);
  return rows.map(toBuildRow);
}

/** The newest successful build of a version: what a rollback deploys. */
export async function findBuild(pool: Pool, modelVersion: string): Promise<BuildRow | undefined> {
  const [rows] = await pool.execute<RowDataPacket[]>(
    "SELECT * FROM builds WHERE model_version = ? AND status = 'built' ORDER BY id DESC LIMIT 1",
    [modelVersion],
  );
  const row = rows[0];
  return row === undefined ? undefined : toBuildRow(row);
}

/** Builds left 'building' by an appbuilder that stopped; closed as failed at start-up. */
export async function failInterruptedBuilds(pool: Pool): Promise<number> {
  const [builds] = await pool.execute<ResultSetHeader>(
    "UPDATE builds SET status = 'failed', finished_at = CURRENT_TIMESTAMP(3), error = 'interrupted: the appbuilder stopped during the build' WHERE status = 'building'",
  );
  const [deployments] = await pool.execute<ResultSetHeader>(
    "UPDATE deployments SET status = 'failed', finished_at = CURRENT_TIMESTAMP(3), error = 'interrupted: the appbuilder stopped during the deployment' WHERE status = 'deploying'",
  );
  return builds.affectedRows + deployments.affectedRows;
}

/** 'restore': the appbuilder, at start, putting back the last deployed version (e.g. after `docker compose build`). */
export type DeploymentKind = 'deploy' | 'rollback' | 'restore';
export type DeploymentStatus = 'deploying' | 'deployed' | 'failed';

export type DeploymentRow = {
  id: number;
  startedAt: Date;
  finishedAt: Date | null;
  kind: DeploymentKind;
  modelVersion: string;
  image: string;
  previousVersion: string | null;
  containerId: string | null;
  status: DeploymentStatus;
  durationMs: number | null;
  error: string | null;
};

export async function startDeployment(pool: Pool, deployment: { kind: DeploymentKind; modelVersion: string; image: string; previousVersion: string | null }): Promise<number> {
  const [result] = await pool.execute<ResultSetHeader>(
    "INSERT INTO deployments (kind, model_version, image, previous_version, status) VALUES (?, ?, ?, ?, 'deploying')",
    [deployment.kind, deployment.modelVersion, deployment.image, deployment.previousVersion],
  );
  return result.insertId;
}

export async function finishDeployment(
  pool: Pool,
  id: number,
  outcome: { status: Exclude<DeploymentStatus, 'deploying'>; containerId?: string | null; error?: string | null; durationMs: number },
): Promise<void> {
  await pool.execute(
    `UPDATE deployments SET status = ?, finished_at = CURRENT_TIMESTAMP(3), container_id = ?, duration_ms = ?, error = ?
     WHERE id = ? AND status = 'deploying'`,
    [outcome.status, outcome.containerId ?? null, Math.max(0, Math.round(outcome.durationMs)), outcome.error ?? null, id],
  );
}

/** Deployments, newest first. */
export async function listDeployments(pool: Pool, limit = 50): Promise<DeploymentRow[]> {
  const [rows] = await pool.query<RowDataPacket[]>('SELECT * FROM deployments ORDER BY id DESC LIMIT ?', [limit]);
  return rows.map((row) => ({
    id: Number(row.id),
    startedAt: row.started_at as Date,
    finishedAt: (row.finished_at as Date | null) ?? null,
    kind: String(row.kind) as DeploymentKind,
    modelVersion: String(row.model_version),
    image: String(row.image),
    previousVersion: row.previous_version === null ? null : String(row.previous_version),
    containerId: row.container_id === null ? null : String(row.container_id),
    status: String(row.status) as DeploymentStatus,
    durationMs: row.duration_ms === null ? null : Number(row.duration_ms),
    error: row.error === null ? null : String(row.error),
  }));
}
