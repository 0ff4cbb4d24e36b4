import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { BUNDLE_FILES, bundleHashes, finishDeployment, finishRun, initTf, putObject, readBundleDir, recordBundleHashes, startDeployment, startRun } from '@mlpl/shared';
import type { Logger, ModelBundleFiles } from '@mlpl/shared';
import { createTestDatabase, createTestStorage } from '@mlpl/shared/testing';
import type { TestDatabase, TestStorage } from '@mlpl/shared/testing';
import { createIncumbentSource } from './incumbent.js';
import { PRETRAINED_DIR, silent } from './test-support.js';

/** The pretrained bundle under another version. */
function bundleAs(files: ModelBundleFiles, version: string): ModelBundleFiles {
  const metadata = { ...JSON.parse(files.metadataJson.toString()), version, parent: 'pretrained-1' };
  return { ...files, metadataJson: Buffer.from(JSON.stringify(metadata)) };
}

/** Stored as a promoted run stored it before training recorded hashes (see `storeRecorded` for after). */
async function storeVersion(storage: TestStorage, files: ModelBundleFiles, version: string, parts = Object.keys(BUNDLE_FILES)): Promise<void> {
  const bytes = bundleAs(files, version);
  for (const part of parts as (keyof ModelBundleFiles)[]) {
    await putObject(storage.storage, storage.settings.modelsBucket, `${version}/${BUNDLE_FILES[part]}`, bytes[part], 'application/octet-stream');
  }
}

/** Stored as a promoted run stores it now: its hashes recorded first. */
async function storeRecorded(db: TestDatabase, storage: TestStorage, files: ModelBundleFiles, version: string): Promise<void> {
  await recordBundleHashes(db.pool, version, bundleHashes(bundleAs(files, version)), null);
  await storeVersion(storage, files, version);
}

/** Writes over one file of a stored version, as someone with write access to the bucket could. */
async function overwrite(storage: TestStorage, version: string, part: keyof ModelBundleFiles, bytes: Buffer): Promise<void> {
  await putObject(storage.storage, storage.settings.modelsBucket, `${version}/${BUNDLE_FILES[part]}`, bytes, 'application/octet-stream');
}

/** A logger that keeps what it was told (pino's calls as the source makes them: fields, then a message). */
function recordingLogger() {
  const lines: { level: string; fields: Record<string, unknown>; message: string }[] = [];
  const at = (level: string) => ((fields: Record<string, unknown>, message: string) => void lines.push({ level, fields, message })) as unknown as Logger['info'];
  return { lines, logger: { info: at('info'), warn: at('warn'), error: at('error') } };
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

/** A database, a bucket and the pretrained bundle: each describe block has its own. */
async function setUp(): Promise<{ db: TestDatabase; storage: TestStorage; pretrained: ModelBundleFiles }> {
  await initTf('wasm');
  const [db, storage] = await Promise.all([createTestDatabase(), createTestStorage()]);
  return { db, storage, pretrained: await readBundleDir(PRETRAINED_DIR) };
}

describe('the model in service', () => {
  let db: TestDatabase;
  let storage: TestStorage;
  let pretrained: ModelBundleFiles;

  before(async () => ({ db, storage, pretrained } = await setUp()));
  after(() => db?.drop());

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

describe('the model in service, checked against the SHA-256 training recorded', () => {
  let db: TestDatabase;
  let storage: TestStorage;
  let pretrained: ModelBundleFiles;

  before(async () => ({ db, storage, pretrained } = await setUp()));
  after(() => db?.drop());

  test('when a recorded version\'s files in the bucket are changed, then it is refused, logged, and the note the run records says why; a changed older one is passed over too', async () => {
    const { lines, logger } = recordingLogger();
    const source = createIncumbentSource({ pool: db.pool, storage: storage.storage, pretrainedDir: PRETRAINED_DIR, logger });
    for (const version of ['v1-ok', 'v2-changed', 'v3-changed']) {
      await storeRecorded(db, storage, pretrained, version);
      await promote(db, version);
    }
    await deploy(db, 'v3-changed');
    const loaded = await source.current();
    assert.deepEqual([loaded.metadata.version, loaded.note], ['v3-changed', null], 'unchanged, it loads as recorded');

    // The same number of weights, other values: a bundle that loads and serves, but is not the one the gate passed.
    const altered = Buffer.from(pretrained.weightsBin);
    altered.writeFloatLE(altered.readFloatLE(0) + 1, 0);
    await overwrite(storage, 'v3-changed', 'weightsBin', altered);
    await overwrite(storage, 'v2-changed', 'metadataJson', Buffer.from(JSON.stringify({ ...JSON.parse(bundleAs(pretrained, 'v2-changed').metadataJson.toString()), metrics: { accuracy: 1, testCount: 10000 } })));
    // Deployed again: the source reloads what the deployments name.
    await deploy(db, 'v1-ok', 'rollback');
    await source.current();
    await deploy(db, 'v3-changed', 'rollback');
    const substitute = await source.current();
    assert.equal(substitute.metadata.version, 'v1-ok', 'neither changed version is used');
    assert.equal(substitute.serving, 'v3-changed');
    assert.match(substitute.note ?? '', /^v3-changed, in service, could not be loaded \(refused: weights\.bin \(sha256 [0-9a-f]{12}…, recorded [0-9a-f]{12}…\) of version v3-changed is not the file training recorded\); /);
    assert.match(substitute.note ?? '', /passed over v2-changed \(refused: metadata\.json .* is not the file training recorded\); started from and judged against v1-ok$/);
    const refusals = lines.filter((line) => line.level === 'error');
    assert.deepEqual(refusals.map((line) => line.fields['version']), ['v3-changed', 'v2-changed']);
    assert.ok(refusals.every((line) => /not the one training recorded/.test(line.message)));
    source.dispose();
  });

  test('when a version was stored before training recorded hashes, then it loads with a warning saying so, and no note', async () => {
    const { lines, logger } = recordingLogger();
    const source = createIncumbentSource({ pool: db.pool, storage: storage.storage, pretrainedDir: PRETRAINED_DIR, logger });
    await storeVersion(storage, pretrained, 'v0-old');
    await promote(db, 'v0-old');
    await deploy(db, 'v0-old');
    const old = await source.current();
    assert.deepEqual([old.metadata.version, old.serving, old.note], ['v0-old', 'v0-old', null]);
    assert.ok(lines.some((line) => line.level === 'warn' && line.fields['version'] === 'v0-old' && /no SHA-256 is recorded .* loaded unverified/.test(line.message)));
    source.dispose();
  });
});
