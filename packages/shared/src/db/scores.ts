import { BACKGROUND, select, write } from './pool.js';
import type { Pool } from './pool.js';

/**
 * The `model_scores` table: each model's accuracy on a fixed test set, named by a SHA-256 of
 * the set's image ids. A model's score on a set never changes (evaluation is deterministic), so
 * the first one recorded stays. The gate's floor is the best score any served version reached.
 */

export type ModelScore = { version: string; testSet: string; accuracy: number; testCount: number; runId: number | null };

export async function recordScore(pool: Pool, score: ModelScore): Promise<void> {
  // Not INSERT IGNORE: that would turn any error (a version name too long, say) into a warning.
  await write(pool, BACKGROUND, 'INSERT INTO model_scores (version, test_set, accuracy, test_count, run_id) VALUES (?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE version = version', [
    score.version,
    score.testSet,
    score.accuracy,
    score.testCount,
    score.runId,
  ]);
}

/**
 * The best score on `testSet` of a version that served: one a deployment put in service, or
 * that was in service when a run started (the first webapp's model has no deployment).
 */
export async function bestServedScore(pool: Pool, testSet: string): Promise<{ version: string; accuracy: number } | null> {
  const [row] = await select(
    pool,
    BACKGROUND,
    `SELECT s.version, s.accuracy FROM model_scores s
     WHERE s.test_set = ?
       AND (s.version IN (SELECT model_version FROM deployments WHERE status = 'deployed')
            OR s.version IN (SELECT serving_version FROM training_runs WHERE serving_version IS NOT NULL))
     ORDER BY s.accuracy DESC, s.recorded_at LIMIT 1`,
    [testSet],
  );
  return row === undefined ? null : { version: String(row.version), accuracy: Number(row.accuracy) };
}
