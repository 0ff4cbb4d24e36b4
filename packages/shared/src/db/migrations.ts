import { releaseLock, takeLock } from './locks.js';
import { BACKGROUND, select, write } from './pool.js';
import type { Pool, PoolConnection } from './pool.js';

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
  // 6–8: one statement each. MySQL commits each DDL statement on its own and has no ADD COLUMN
  // IF NOT EXISTS, so a migration of several ALTERs stopped half-way could never be re-run.
  {
    version: 6,
    name: 'the version in service when a run started, and why it was not used',
    statements: [
      // serving_version: what the deployments said was serving when the run started (the
      // incumbent it was judged against); incumbent_note: what was used instead when that
      // version could not be loaded. parent_version stays the version it descended from.
      `ALTER TABLE training_runs
        ADD COLUMN serving_version VARCHAR(64) NULL,
        ADD COLUMN incumbent_note TEXT NULL`,
    ],
  },
  {
    version: 7,
    name: 'scores of models on a fixed test set',
    statements: [
      // One row per model and test set (a SHA-256 of the test images' ids): the gate's floor is
      // the best score any served version reached on the same set.
      `CREATE TABLE IF NOT EXISTS model_scores (
        version VARCHAR(64) NOT NULL,
        test_set CHAR(64) NOT NULL,
        accuracy DOUBLE NOT NULL,
        test_count INT UNSIGNED NOT NULL,
        run_id BIGINT UNSIGNED NULL,
        recorded_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        PRIMARY KEY (version, test_set)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
    ],
  },
  {
    version: 8,
    name: 'feedback set aside for review',
    statements: [
      // Feedback whose runs the gate refused too many times in a row: out of training (and of
      // the trigger's count) until a person reviews it.
      `ALTER TABLE images
        ADD COLUMN set_aside_in_run BIGINT UNSIGNED NULL,
        ADD KEY images_set_aside (set_aside_in_run)`,
    ],
  },
  {
    version: 9,
    name: 'the SHA-256 of each promoted bundle file',
    statements: [
      // One row per version training promoted (written before the bundle is stored or POSTed):
      // training checks the files it loads back from the models bucket against it, the
      // appbuilder the files it is asked to build. Versions stored earlier have no row.
      `CREATE TABLE IF NOT EXISTS model_bundles (
        version VARCHAR(64) NOT NULL PRIMARY KEY,
        model_json_sha256 CHAR(64) NOT NULL,
        weights_bin_sha256 CHAR(64) NOT NULL,
        metadata_json_sha256 CHAR(64) NOT NULL,
        run_id BIGINT UNSIGNED NULL,
        recorded_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
    ],
  },
  {
    version: 10,
    name: 'predictions by time',
    statements: [
      // The registry counts live predictions over a window of recent days (all versions at
      // once): a range on this key reads the window, where predictions_version_time, led by
      // the version, would be read whole.
      'ALTER TABLE predictions ADD KEY predictions_time (created_at)',
    ],
  },
];

const MIGRATION_LOCK = 'mlpl_migrations';

/**
 * Applies the migrations not yet recorded. Safe to call from every service at every start:
 * a MySQL named lock keeps two services from migrating at once, and applied versions are
 * skipped. No statement here has a deadline: DDL on a large table takes what it takes.
 */
export async function migrate(pool: Pool): Promise<number[]> {
  const connection = await pool.getConnection();
  try {
    if (!(await takeLock(connection, MIGRATION_LOCK, 60))) throw new Error('could not take the migration lock within 60 s');
    try {
      return await applyPending(connection);
    } finally {
      await releaseLock(connection, MIGRATION_LOCK);
    }
  } finally {
    connection.release();
  }
}

async function applyPending(connection: PoolConnection): Promise<number[]> {
  await write(
    connection,
    BACKGROUND,
    `CREATE TABLE IF NOT EXISTS schema_migrations (
    version INT UNSIGNED NOT NULL PRIMARY KEY,
    name VARCHAR(255) NOT NULL,
    applied_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
  ) ENGINE=InnoDB`,
  );
  const rows = await select(connection, BACKGROUND, 'SELECT version FROM schema_migrations');
  const applied = new Set(rows.map((row) => Number(row.version)));
  const done: number[] = [];
  for (const migration of MIGRATIONS) {
    if (applied.has(migration.version)) continue;
    // MySQL commits DDL implicitly, so each statement is written to be re-runnable.
    for (const statement of migration.statements) await write(connection, BACKGROUND, statement);
    await write(connection, BACKGROUND, 'INSERT INTO schema_migrations (version, name) VALUES (?, ?)', [migration.version, migration.name]);
    done.push(migration.version);
  }
  return done;
}
