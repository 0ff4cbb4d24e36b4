import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import type { RowDataPacket } from 'mysql2/promise';
import {
  BUNDLE_FILES,
  PREPROCESSING_VERSION,
  TRAINING_LOCK,
  contentAddressedKey,
  disposeModel,
  getObjectBytes,
  initTf,
  insertImage,
  listRuns,
  loadModelBundle,
  putObject,
  readBundleDir,
  selectDigits,
} from '@mlpl/shared';
import type { DigitSet, ModelBundleFiles } from '@mlpl/shared';
import { createTestDatabase, createTestStorage, renderDigitPng } from '@mlpl/shared/testing';
import type { TestDatabase, TestStorage } from '@mlpl/shared/testing';
import { startAppbuilderStub } from './appbuilder-stub.js';
import type { AppbuilderStub } from './appbuilder-stub.js';
import { runCycle } from './cycle.js';
import type { CycleDeps, Incumbent } from './cycle.js';
import { loadPackagedBaseDataset } from './mnist-source.js';
import { registerBaseDataset } from './registration.js';

const PRETRAINED_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'pretrained');
const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** Every `step`-th digit from `offset`, so a small slice still holds every class (the sets are ordered by class). */
function spread(set: DigitSet, count: number, offset = 0): DigitSet {
  const step = Math.floor(set.count / count);
  return selectDigits(set, Array.from({ length: count }, (_, i) => offset + i * step));
}

function predict(model: tf.LayersModel, set: DigitSet): number[] {
  return Array.from(
    tf.tidy(() => (model.predict(tf.tensor4d(set.images, [set.count, 28, 28, 1])) as tf.Tensor2D).argMax(1).dataSync()),
  );
}

async function usedInRun(db: TestDatabase): Promise<(number | null)[]> {
  const [rows] = await db.pool.query<RowDataPacket[]>("SELECT used_in_run FROM images WHERE source = 'feedback' ORDER BY id");
  return rows.map((row) => (row.used_in_run === null ? null : Number(row.used_in_run)));
}

describe('runCycle', () => {
  let db: TestDatabase;
  let storage: TestStorage;
  let stub: AppbuilderStub;
  let cacheDir: string;
  let incumbent: Incumbent;
  let feedback: DigitSet;
  let deps: CycleDeps;
  let added = 0;

  /** Adds feedback digits `from`…`to`−1 as the webapp would: the object, then the row. */
  async function addFeedback(from: number, to: number): Promise<void> {
    for (let i = from; i < to; i++) {
      const png = await renderDigitPng(feedback.images.subarray(i * 784, (i + 1) * 784));
      const sha256 = createHash('sha256').update(png).digest('hex');
      const objectKey = contentAddressedKey(sha256, 'png');
      await putObject(storage.storage, storage.settings.imagesBucket, objectKey, png, 'image/png');
      await insertImage(db.pool, {
        objectKey,
        sha256,
        contentType: 'image/png',
        byteSize: png.length,
        width: 28,
        height: 28,
        label: feedback.labels[i] ?? 0,
        source: 'feedback',
        split: null,
        predictionId: null,
        predictedDigit: null,
        modelVersion: 'pretrained-1',
      });
      added++;
    }
  }

  before(async () => {
    await initTf('wasm');
    [db, storage, stub] = await Promise.all([createTestDatabase(), createTestStorage(), startAppbuilderStub()]);
    cacheDir = await mkdtemp(path.join(tmpdir(), 'mlpl-cycle-'));
    const full = loadPackagedBaseDataset();
    // 600 train + 200 test registered; feedback comes from test digits outside the registered slice.
    await registerBaseDataset(
      { pool: db.pool, storage: storage.storage, logger: silent },
      { source: full.source, train: spread(full.train, 600), test: spread(full.test, 200) },
    );
    feedback = spread(full.test, 10, 2);
    incumbent = await loadModelBundle(await readBundleDir(PRETRAINED_DIR), PREPROCESSING_VERSION);
    deps = {
      pool: db.pool,
      storage: storage.storage,
      logger: silent,
      appbuilder: { url: stub.url, token: 'test-token', timeoutMs: 10_000 },
      cacheDir,
      incumbent: () => incumbent,
      settings: {
        threshold: 10,
        tolerance: 0.05,
        seed: 11,
        mode: 'fine-tune',
        replaySize: 200,
        feedbackHeldOutShare: 0.3,
        baseSource: full.source,
        dropoutRate: 0,
      },
    };
  });

  after(async () => {
    if (incumbent !== undefined) disposeModel(incumbent.model);
    await stub?.close();
    await db?.drop();
    await rm(cacheDir, { recursive: true, force: true });
  });

  test('when fewer feedback images than the threshold are unused, then the cycle is skipped and records nothing', async () => {
    await addFeedback(0, 9);
    const result = await runCycle(deps);
    assert.equal(result.status, 'skipped');
    assert.match(result.reason ?? '', /9 unused feedback images/);
    assert.deepEqual(await listRuns(db.pool), []);
  });

  test('when another cycle holds the lock, then the cycle is skipped', async () => {
    const other = await db.pool.getConnection();
    try {
      await other.query('SELECT GET_LOCK(?, 0)', [TRAINING_LOCK]);
      assert.equal((await runCycle(deps)).status, 'skipped');
    } finally {
      await other.query('SELECT RELEASE_LOCK(?)', [TRAINING_LOCK]);
      other.release();
    }
  });

  test('when the appbuilder answers 500, then the run is failed, nothing is marked, and the next cycle promotes', async () => {
    await addFeedback(9, 10);
    const tensorsBefore = tf.memory().numTensors;
    stub.status = 500;
    const failed = await runCycle(deps);
    assert.equal(failed.status, 'failed', failed.reason);
    assert.match(failed.reason, /answered 500/);
    assert.deepEqual(await usedInRun(db), new Array(added).fill(null));
    const [failedRun] = await listRuns(db.pool);
    assert.equal(failedRun?.status, 'failed');
    assert.match(failedRun?.error ?? '', /answered 500/);
    assert.equal(tf.memory().numTensors, tensorsBefore, 'a failed cycle leaks no tensors');

    stub.status = 202;
    const started = performance.now();
    const promoted = await runCycle(deps);
    const seconds = (performance.now() - started) / 1000;
    assert.equal(promoted.status, 'promoted', promoted.reason);
    assert.ok(promoted.status === 'promoted');
    assert.equal(tf.memory().numTensors, tensorsBefore, 'a promoting cycle leaks no tensors');
    assert.match(promoted.version, /^v\d+-\d{14}$/);
    assert.deepEqual(await usedInRun(db), new Array(added).fill(promoted.runId));

    const [run] = await listRuns(db.pool);
    assert.equal(run?.id, promoted.runId);
    assert.equal(run?.status, 'promoted');
    assert.equal(run?.modelVersion, promoted.version);
    assert.equal(run?.parentVersion, 'pretrained-1');
    assert.ok(Array.isArray(run?.history) && run.history.length > 0);
    const evaluation = run?.evaluation as { candidate: Record<string, unknown>; incumbent: Record<string, unknown> };
    assert.ok(evaluation.candidate['test'] !== undefined && evaluation.incumbent['test'] !== undefined);
    const counts = run?.dataCounts as { feedbackTrained: number; feedbackHeldOut: number; replay: number; test: number };
    assert.equal(counts.feedbackTrained + counts.feedbackHeldOut, 10);
    assert.ok(counts.feedbackHeldOut > 0, 'some feedback is held out for evaluation');
    assert.ok(evaluation.candidate['feedback'] !== undefined && evaluation.incumbent['feedback'] !== undefined);
    assert.equal(counts.replay, 200);
    assert.equal(counts.test, 200);

    // The appbuilder received the three files with the token, and they are what storage holds.
    const received = stub.received.at(-1);
    assert.equal(received?.authorization, 'Bearer test-token');
    const bucket = storage.settings.modelsBucket;
    const stored: ModelBundleFiles = {
      modelJson: await getObjectBytes(storage.storage, bucket, `${promoted.version}/${BUNDLE_FILES.modelJson}`),
      weightsBin: await getObjectBytes(storage.storage, bucket, `${promoted.version}/${BUNDLE_FILES.weightsBin}`),
      metadataJson: await getObjectBytes(storage.storage, bucket, `${promoted.version}/${BUNDLE_FILES.metadataJson}`),
    };
    assert.deepEqual(received?.files, stored);
    const posted = await loadModelBundle(received?.files as ModelBundleFiles, PREPROCESSING_VERSION);
    const fromStorage = await loadModelBundle(stored, PREPROCESSING_VERSION);
    try {
      assert.equal(posted.metadata.version, promoted.version);
      assert.equal(posted.metadata.parent, 'pretrained-1');
      assert.deepEqual(predict(posted.model, feedback), predict(fromStorage.model, feedback));
    } finally {
      disposeModel(posted.model);
      disposeModel(fromStorage.model);
    }
    console.log(`# promoting cycle: ${seconds.toFixed(1)} s`);

    // Everything is used now: the next cycle has nothing to do.
    assert.equal((await runCycle(deps)).status, 'skipped');
  });
});
