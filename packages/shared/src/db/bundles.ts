import type { BundleHashes } from '../bundle-hashes.js';
import { BACKGROUND, select, write } from './pool.js';
import type { Db, Pool } from './pool.js';

/**
 * The `model_bundles` table: the SHA-256 of each file of a version's bundle, written by
 * training when a run promotes it (before the bundle is stored or POSTed), read by training
 * when it loads the version back from the models bucket and by the appbuilder before it builds.
 * Nobody waits on these (BACKGROUND): a cycle, a build.
 */

/** Records a version's hashes. A version is recorded once: a second record of it is refused. */
export async function recordBundleHashes(db: Db, version: string, hashes: BundleHashes, runId: number | null): Promise<void> {
  await write(
    db,
    BACKGROUND,
    'INSERT INTO model_bundles (version, model_json_sha256, weights_bin_sha256, metadata_json_sha256, run_id) VALUES (?, ?, ?, ?, ?)',
    [version, hashes.modelJson, hashes.weightsBin, hashes.metadataJson, runId],
  );
}

/** The hashes recorded for `version`; undefined for one never recorded (e.g. stored before they were). */
export async function findBundleHashes(pool: Pool, version: string): Promise<BundleHashes | undefined> {
  const [row] = await select(pool, BACKGROUND, 'SELECT model_json_sha256, weights_bin_sha256, metadata_json_sha256 FROM model_bundles WHERE version = ?', [version]);
  if (row === undefined) return undefined;
  return { modelJson: String(row.model_json_sha256), weightsBin: String(row.weights_bin_sha256), metadataJson: String(row.metadata_json_sha256) };
}
