import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { BUNDLE_FILES, finishDeployment, finishRun, initTf, putObject, readBundleDir, startDeployment, startRun } from '@mlpl/shared';
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

/** What the appbuilder records once a version serves (a rollback is one too). */
async function deploy(db: TestDatabase, version: string, kind: 'deploy' | 'rollback' = 'deploy'): Promise<void> {
  const id = await startDeployment(db.pool, { kind, modelVersion: version, image: `mywebapp:${version}`, previousVersion: null });
  await finishDeployment(db.pool, id, { status: 'deployed', durationMs: 1 });
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

  test('when versions are deployed and one rolled back to, then the deployed one is the incumbent, each is loaded once, a lost one is replaced with a note, and nothing leaks', async () => {
    const tensorsBefore = tf.memory().numTensors;
    const source = createIncumbentSource({ pool: db.pool, storage: storage.storage, pretrainedDir: PRETRAINED_DIR, logger: silent });
    const first = await source.current();
    assert.deepEqual([first.metadata.version, first.serving, first.note], ['pretrained-1', null, null], 'before any deployment, the pretrained model');
    assert.equal((await source.current()).model, first.model, 'not loaded again while nothing changes');
    const held = tf.memory().numTensors - tensorsBefore;

    for (const version of ['v1-a', 'v2-b']) {
      await storeVersion(storage, pretrained, version);
      await promote(db, version);
      await deploy(db, version);
    }
    assert.equal((await source.current()).metadata.version, 'v2-b');

    // Rolled back: the version in service is v1-a, though v2-b is the newest promoted.
    await deploy(db, 'v1-a', 'rollback');
    const rolledBack = await source.current();
    assert.deepEqual([rolledBack.metadata.version, rolledBack.serving, rolledBack.note], ['v1-a', 'v1-a', null]);

    // Rolled back to the pretrained model: loaded from its folder, not the bucket.
    await deploy(db, 'pretrained-1', 'rollback');
    assert.deepEqual([(await source.current()).metadata.version, (await source.current()).serving], ['pretrained-1', 'pretrained-1']);

    // A version in service whose weights were lost: the newest promoted one that loads, and a note saying so.
    await storeVersion(storage, pretrained, 'v3-c', ['modelJson', 'metadataJson']);
    await promote(db, 'v3-c');
    await deploy(db, 'v3-c');
    const substitute = await source.current();
    assert.equal(substitute.metadata.version, 'v2-b');
    assert.equal(substitute.serving, 'v3-c');
    assert.match(substitute.note ?? '', /v3-c, in service, could not be loaded .*judged against v2-b/);

    // Rolled back from v4-d to the broken v3-c: the substitute is older than v3-c, never v4-d,
    // which the rollback took out of service.
    await storeVersion(storage, pretrained, 'v4-d');
    await promote(db, 'v4-d');
    await deploy(db, 'v4-d');
    await deploy(db, 'v3-c', 'rollback');
    const afterRollback = await source.current();
    assert.deepEqual([afterRollback.metadata.version, afterRollback.serving], ['v2-b', 'v3-c']);
    assert.equal(tf.memory().numTensors - tensorsBefore, held, 'one model held at a time');

    source.dispose();
    assert.equal(tf.memory().numTensors, tensorsBefore);
  });
});
