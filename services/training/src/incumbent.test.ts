import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { BUNDLE_FILES, finishRun, initTf, putObject, readBundleDir, startRun } from '@mlpl/shared';
import type { ModelBundleFiles } from '@mlpl/shared';
import { createTestDatabase, createTestStorage } from '@mlpl/shared/testing';
import type { TestDatabase, TestStorage } from '@mlpl/shared/testing';
import { createIncumbentSource } from './incumbent.js';
import { PRETRAINED_DIR, silent } from './test-support.js';

/** The pretrained bundle under another version, stored as a promoted run would store it. */
async function storeVersion(storage: TestStorage, files: ModelBundleFiles, version: string, parts = Object.keys(BUNDLE_FILES)): Promise<void> {
  const metadata = { ...JSON.parse(files.metadataJson.toString()), version, parent: 'pretrained-1' };
  const bytes: ModelBundleFiles = { ...files, metadataJson: Buffer.from(JSON.stringify(metadata)) };
  for (const part of parts as (keyof ModelBundleFiles)[]) {
    await putObject(storage.storage, storage.settings.modelsBucket, `${version}/${BUNDLE_FILES[part]}`, bytes[part], 'application/octet-stream');
  }
}

async function promote(db: TestDatabase, version: string): Promise<void> {
  const run = await startRun(db.pool, { parentVersion: null, parameters: {} });
  await finishRun(db.pool, run, { status: 'promoted', modelVersion: version, durationMs: 1 });
}

describe('the model in service', () => {
  let db: TestDatabase;
  let storage: TestStorage;
  let pretrained: ModelBundleFiles;

  before(async () => {
    await initTf('wasm');
    [db, storage] = await Promise.all([createTestDatabase(), createTestStorage()]);
    pretrained = await readBundleDir(PRETRAINED_DIR);
  });
  after(async () => {
    await db?.drop();
  });

  test('when versions are promoted, then the newest loadable one serves, each is loaded once, and nothing leaks', async () => {
    const tensorsBefore = tf.memory().numTensors;
    const source = createIncumbentSource({ pool: db.pool, storage: storage.storage, pretrainedDir: PRETRAINED_DIR, logger: silent });
    const first = await source.current();
    assert.equal(first.metadata.version, 'pretrained-1', 'before any promotion, the pretrained model');
    assert.equal(await source.current(), first, 'not loaded again while nothing changes');
    const held = tf.memory().numTensors - tensorsBefore;

    await storeVersion(storage, pretrained, 'v1-a');
    await promote(db, 'v1-a');
    assert.equal((await source.current()).metadata.version, 'v1-a');

    // A promoted version whose weights were lost is skipped for the one before it.
    await storeVersion(storage, pretrained, 'v2-b', ['modelJson', 'metadataJson']);
    await promote(db, 'v2-b');
    assert.equal((await source.current()).metadata.version, 'v1-a');
    assert.equal(tf.memory().numTensors - tensorsBefore, held, 'one model held at a time');

    source.dispose();
    assert.equal(tf.memory().numTensors, tensorsBefore);
  });
});
