import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { bundleHashes, bundleMismatch } from './bundle-hashes.js';
import { findBundleHashes, recordBundleHashes } from './db/bundles.js';
import type { ModelBundleFiles } from './model-bundle.js';
import { createTestDatabase } from './testing/test-env.js';
import type { TestDatabase } from './testing/test-env.js';

const files: ModelBundleFiles = { modelJson: Buffer.from('{"m":1}'), weightsBin: Buffer.from([1, 2, 3, 4]), metadataJson: Buffer.from('{"version":"v1-a"}') };

describe('bundle hashes', () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
  });
  after(async () => {
    await db?.drop();
  });

  it('when a bundle is hashed, then each file has its own SHA-256', () => {
    assert.deepEqual(bundleHashes(files), {
      modelJson: createHash('sha256').update('{"m":1}').digest('hex'),
      weightsBin: createHash('sha256').update(Buffer.from([1, 2, 3, 4])).digest('hex'),
      metadataJson: createHash('sha256').update('{"version":"v1-a"}').digest('hex'),
    });
  });

  it('when a bundle is compared with its record, then only the files that differ are named, and no record is said so', () => {
    const recorded = bundleHashes(files);
    assert.equal(bundleMismatch('v1-a', recorded, files), null);
    const weights = { ...files, weightsBin: Buffer.from([1, 2, 3, 5]) };
    assert.match(bundleMismatch('v1-a', recorded, weights) ?? '', /^weights\.bin \(sha256 [0-9a-f]{12}…, recorded [0-9a-f]{12}…\) of version v1-a is not the file training recorded$/);
    const both = { ...weights, modelJson: Buffer.from('{}') };
    assert.match(bundleMismatch('v1-a', recorded, both) ?? '', /^model\.json .*, weights\.bin .* are not the files training recorded$/);
    assert.match(bundleMismatch('v1-a', undefined, files) ?? '', /no SHA-256 is recorded for version v1-a/);
  });

  it('when a version is recorded, then it reads back, another version reads nothing, and a second record of it is refused', async () => {
    await recordBundleHashes(db.pool, 'v1-a', bundleHashes(files), 1);
    assert.deepEqual(await findBundleHashes(db.pool, 'v1-a'), bundleHashes(files));
    assert.equal(await findBundleHashes(db.pool, 'v2-b'), undefined);
    await assert.rejects(recordBundleHashes(db.pool, 'v1-a', bundleHashes({ ...files, weightsBin: Buffer.alloc(4) }), 2), /Duplicate entry/);
    assert.deepEqual(await findBundleHashes(db.pool, 'v1-a'), bundleHashes(files), 'the first record stands');
  });
});
