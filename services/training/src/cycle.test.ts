import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import {
  BUNDLE_FILES,
  PREPROCESSING_VERSION,
  bundleHashes,
  findBundleHashes,
  putObject,
  TRAINING_LOCK,
  disposeModel,
  getObjectBytes,
  initTf,
  listBaseImages,
  countUnusedFeedback,
  finishDeployment,
  listRuns,
  loadModelBundle,
  recordScore,
  releaseLock,
  startDeployment,
  takeLock,
  readBundleDir,
  seededRandom,
} from '@mlpl/shared';
import type { DigitSet, ModelBundleFiles } from '@mlpl/shared';
import type { RowDataPacket } from 'mysql2/promise';
import { createTestDatabase, createTestStorage } from '@mlpl/shared/testing';
import type { TestDatabase, TestStorage } from '@mlpl/shared/testing';
import { startAppbuilderStub } from './appbuilder-stub.js';
import type { AppbuilderStub } from './appbuilder-stub.js';
import { replaySeed } from './cycle-data.js';
import { LOCK_HELD_REASON, runCycle } from './cycle.js';
import type { CycleDeps, CycleSettings, Incumbent } from './cycle.js';
import { trainingTrigger } from './trigger.js';
import { evaluateModel } from './evaluation.js';
import { createImageCache, loadDigitSet } from './image-cache.js';
import { createIncumbentSource } from './incumbent.js';
import type { IncumbentSource } from './incumbent.js';
import { PRETRAINED_DIR, addFeedback, feedbackUsage, registerSlice, silent, spread } from './test-support.js';
import { trainModel } from './train.js';
import type { TrainOptions } from './train.js';

function predict(model: tfl.LayersModel, set: DigitSet): number[] {
  return Array.from(
    tf.tidy(() => tf.argMax(model.predict(tf.tensor4d(set.images, [set.count, 28, 28, 1])) as tf.Tensor2D, 1).dataSync()),
  );
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

/** 600 train + 200 test registered; feedback comes from test digits outside the registered slice. */
async function setUp(settings: Partial<CycleSettings> = {}) {
  const [db, storage] = await Promise.all([createTestDatabase(), createTestStorage()]);
  const stub = await startAppbuilderStub({ database: db.pool });
  const cacheDir = await mkdtemp(path.join(tmpdir(), 'mlpl-cycle-'));
  const full = await registerSlice(db.pool, storage.storage, 600, 200);
  const deps: CycleDeps = {
    pool: db.pool,
    storage: storage.storage,
    logger: silent,
    appbuilder: { url: stub.url, token: 'test-token', timeoutMs: 10_000 },
    cacheDir,
    incumbent: () => {
      throw new Error('set by the test');
    },
    settings: {
      threshold: 10,
      tolerance: 0.05,
      seed: 11,
      mode: 'fine-tune',
      replaySize: 200,
      feedbackHeldOutShare: 0.3,
      baseSource: full.source,
      dropoutRate: 0,
      ...settings,
    },
  };
  return {
    db,
    storage,
    stub,
    deps,
    full,
    async close() {
      await stub.close();
      await db.drop();
      await rm(cacheDir, { recursive: true, force: true });
    },
  };
}

describe('runCycle', () => {
  let env: Awaited<ReturnType<typeof setUp>>;
  let db: TestDatabase;
  let storage: TestStorage;
  let stub: AppbuilderStub;
  let incumbent: Incumbent;
  let feedback: DigitSet;
  let deps: CycleDeps;
  let added = 0;

  const feed = async (from: number, to: number) => {
    await addFeedback(db.pool, storage.storage, feedback, range(from, to));
    added += to - from;
  };

  before(async () => {
    await initTf('wasm');
    env = await setUp();
    ({ db, storage, stub } = env);
    feedback = spread(env.full.test, 10, 2);
    incumbent = await loadModelBundle(await readBundleDir(PRETRAINED_DIR), PREPROCESSING_VERSION);
    deps = { ...env.deps, incumbent: () => incumbent };
  });

  after(async () => {
    if (incumbent !== undefined) disposeModel(incumbent.model);
    await env?.close();
  });

  test('when fewer feedback images than the threshold are unused, then the cycle is skipped and records nothing', async () => {
    await feed(0, 9);
    const result = await runCycle(deps);
    assert.equal(result.status, 'skipped');
    assert.match(result.reason ?? '', /9 unused feedback images/);
    assert.deepEqual(await listRuns(db.pool), []);
  });

  test('when another cycle holds the lock, then a cycle that would train is skipped', async () => {
    const other = await db.pool.getConnection();
    try {
      assert.equal(await takeLock(other, TRAINING_LOCK, 0), true);
      // Threshold 9 with 9 unused: without the lock this cycle would train.
      const result = await runCycle({ ...deps, settings: { ...deps.settings, threshold: 9 } });
      assert.equal(result.status, 'skipped');
      assert.equal(result.reason, LOCK_HELD_REASON);
      assert.deepEqual(await listRuns(db.pool), []);
    } finally {
      await releaseLock(other, TRAINING_LOCK);
      other.release();
    }
  });

  test('when the appbuilder answers 500, then the run is failed, nothing is marked, and the next cycle promotes', async () => {
    await feed(9, 10);
    const tensorsBefore = tf.memory().numTensors;
    stub.status = 500;
    const failed = await runCycle(deps);
    assert.equal(failed.status, 'failed', failed.reason);
    assert.match(failed.reason, /answered 500/);
    assert.deepEqual(await feedbackUsage(db.pool), new Array(added).fill(null));
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
    assert.deepEqual(await feedbackUsage(db.pool), new Array(added).fill(promoted.runId));

    const [run] = await listRuns(db.pool);
    assert.equal(run?.id, promoted.runId);
    assert.equal(run?.status, 'promoted');
    assert.equal(run?.modelVersion, promoted.version);
    assert.equal(run?.parentVersion, 'pretrained-1');
    const history = run?.history as { loss: number; valAccuracy?: number }[];
    assert.ok(history.length > 0 && history.every((epoch) => Number.isFinite(epoch.loss) && epoch.valAccuracy !== undefined));
    const evaluation = run?.evaluation as { candidate: Record<string, unknown>; incumbent: Record<string, unknown> };
    assert.ok(evaluation.candidate['test'] !== undefined && evaluation.incumbent['test'] !== undefined);
    const counts = run?.dataCounts as { feedbackTrained: number; feedbackHeldOut: number; replay: number; test: number; feedbackImageIds: number[]; replayImageIds: number[] };
    assert.equal(counts.feedbackTrained + counts.feedbackHeldOut, 10);
    assert.ok(counts.feedbackHeldOut > 0, 'some feedback is held out for evaluation');
    assert.ok(evaluation.candidate['feedback'] !== undefined && evaluation.incumbent['feedback'] !== undefined);
    assert.equal(counts.replay, 200);
    assert.equal(counts.test, 200);
    assert.equal(counts.feedbackImageIds.length, counts.feedbackTrained);
    assert.equal(new Set(counts.replayImageIds).size, 200, 'the exact replay images are recorded');
    const [failedRun2] = (await listRuns(db.pool)).filter((r) => r.id !== promoted.runId);
    const failedReplay = (failedRun2?.dataCounts as { replayImageIds: number[] } | null)?.replayImageIds;
    assert.notDeepEqual(failedReplay, counts.replayImageIds, 'each run replays another sample');
    assert.notEqual(replaySeed(11, 1), replaySeed(11, 2));

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
    // The hashes were recorded before the POST: the appbuilder (the stub, here) found them on arrival.
    assert.deepEqual(received?.recorded, bundleHashes(stored));
    assert.deepEqual(await findBundleHashes(db.pool, promoted.version), bundleHashes(stored));
    const posted = await loadModelBundle(received?.files as ModelBundleFiles, PREPROCESSING_VERSION);
    const fromStorage = await loadModelBundle(stored, PREPROCESSING_VERSION);
    try {
      assert.equal(posted.metadata.version, promoted.version);
      assert.equal(posted.metadata.parent, 'pretrained-1');
      assert.deepEqual(predict(posted.model, feedback), predict(fromStorage.model, feedback));
      // The metadata's metrics were computed on the trained model in memory, before it was
      // serialised: the posted files must predict the same on the same 200 test digits.
      const testSet = await loadDigitSet(createImageCache(storage.storage, env.deps.cacheDir), await listBaseImages(db.pool, env.full.source, 'test'));
      const reloaded = await evaluateModel(posted.model, testSet);
      assert.equal(testSet.count, 200);
      assert.deepEqual(reloaded.confusionMatrix, promoted.metadata.metrics.confusionMatrix);
      assert.equal(reloaded.accuracy, promoted.metadata.metrics.accuracy);
    } finally {
      disposeModel(posted.model);
      disposeModel(fromStorage.model);
    }
    console.log(`# promoting cycle: ${seconds.toFixed(1)} s`);

    // Everything is used now: the next cycle has nothing to do.
    assert.equal((await runCycle(deps)).status, 'skipped');
  });
});

describe('runCycle, faults and rules', () => {
  let env: Awaited<ReturnType<typeof setUp>>;
  let incumbents: IncumbentSource;
  let deps: CycleDeps;
  let digits: DigitSet;
  let next = 0;

  /** `count` more test digits outside the registered slice (indices ≡ 2 mod 5), with their labels or `label`. */
  const feed = async (count: number, label?: (index: number) => number) => {
    const indices = range(next, next + count).map((i) => 2 + 5 * i);
    next += count;
    return addFeedback(env.db.pool, env.storage.storage, digits, indices, label);
  };

  before(async () => {
    await initTf('wasm');
    env = await setUp();
    digits = env.full.test;
    incumbents = createIncumbentSource({ pool: env.db.pool, storage: env.storage.storage, pretrainedDir: PRETRAINED_DIR, logger: silent });
    deps = { ...env.deps, incumbent: () => incumbents.current() };
  });

  const scoreOf = async (version: string) =>
    (await env.db.pool.query<RowDataPacket[]>('SELECT accuracy FROM model_scores WHERE version = ?', [version]))[0].map((row) => ({ accuracy: Number(row.accuracy) }));

  after(async () => {
    incumbents?.dispose();
    await env?.close();
  });

  test('when the appbuilder is down, then the run is failed with the reason and nothing is marked', async () => {
    await feed(10);
    const down = { ...deps, appbuilder: { url: 'http://127.0.0.1:1/', token: 't', timeoutMs: 2000 } };
    const result = await runCycle(down);
    assert.equal(result.status, 'failed');
    assert.match(result.reason, /unreachable/);
    assert.ok((await feedbackUsage(env.db.pool)).every((used) => used === null));
    assert.equal((await listRuns(env.db.pool, 1))[0]?.status, 'failed');
  });

  test('when three cycles promote in one process, then no tensor is left behind', async () => {
    await incumbents.current();
    const tensorsBefore = tf.memory().numTensors;
    const versions: string[] = [];
    for (let cycle = 0; cycle < 3; cycle++) {
      if (cycle > 0) await feed(10);
      const result = await runCycle(deps);
      assert.equal(result.status, 'promoted', result.reason);
      assert.ok(result.status === 'promoted');
      versions.push(result.version);
      // The incumbent source swaps in the new model and frees the old one.
      assert.equal((await incumbents.current()).metadata.version, result.version);
      assert.equal(tf.memory().numTensors, tensorsBefore, `cycle ${cycle + 1} leaks no tensor`);
    }
    assert.equal(new Set(versions).size, 3);
    const [latest] = await listRuns(env.db.pool, 1);
    assert.equal(latest?.parentVersion, versions[1], 'each run starts from the model the previous one promoted');
  });

  test('when the candidate is trained on shuffled labels, then the gate rejects it, nothing is marked, and the same images do not retrain', async () => {
    const ids = await feed(10);
    const random = seededRandom(5);
    const shuffledLabels = (labels: Uint8Array) => Uint8Array.from(labels, () => Math.floor(random() * 10));
    const broken = (options: TrainOptions) =>
      trainModel({
        ...options,
        mode: 'scratch',
        epochs: 1,
        newData: { ...options.newData, labels: shuffledLabels(options.newData.labels) },
        replay: { ...options.replay, labels: shuffledLabels(options.replay.labels) },
      });
    const tensorsBefore = tf.memory().numTensors;
    const result = await runCycle({ ...deps, train: broken });
    assert.equal(result.status, 'rejected', result.reason);
    assert.match(result.reason, /test/);
    assert.equal(tf.memory().numTensors, tensorsBefore);
    const usage = await feedbackUsage(env.db.pool);
    assert.deepEqual(usage.slice(-ids.length), new Array(ids.length).fill(null));
    const [run] = await listRuns(env.db.pool, 1);
    assert.equal(run?.status, 'rejected');
    assert.match(run?.gateReason ?? '', /rejected/);

    const again = await runCycle(deps);
    assert.equal(again.status, 'skipped');
    assert.match(again.reason, /rejected a candidate trained on these images/);
    await feed(1);
    const retried = await runCycle(deps);
    assert.equal(retried.status, 'promoted', 'new feedback after a rejection trains again');
  });

  test('when the version in service is rolled back, then the next run descends from it and is judged against it, not the newest version', async () => {
    const versions: string[] = [];
    for (let i = 0; i < 2; i++) {
      await feed(10);
      const result = await runCycle(deps);
      assert.ok(result.status === 'promoted', result.reason);
      versions.push(result.version);
    }
    const [older, newer] = versions as [string, string];
    // What the appbuilder records when /models rolls back.
    const id = await startDeployment(env.db.pool, { kind: 'rollback', modelVersion: older, image: `mywebapp:${older}`, previousVersion: newer });
    await finishDeployment(env.db.pool, id, { status: 'deployed', durationMs: 1 });

    await feed(10);
    const result = await runCycle(deps);
    assert.ok(result.status === 'promoted' || result.status === 'rejected', result.reason);
    const [run] = await listRuns(env.db.pool, 1);
    assert.equal(run?.parentVersion, older, 'descends from the version in service');
    assert.equal(run?.servingVersion, older);
    assert.equal(run?.incumbentNote, null);
    if (result.status === 'promoted') assert.equal(result.metadata.parent, older);
    // Judged against it: the incumbent's test score is the one the older version was promoted with.
    const [score] = await scoreOf(older);
    assert.equal(run?.evaluation?.incumbent['test']?.accuracy, score?.accuracy);
    assert.notEqual(run?.evaluation?.incumbent['test']?.accuracy, undefined);
    const [newest] = await listRuns(env.db.pool, 1);
    assert.ok(newest?.evaluation?.checks.some((check) => check.kind === 'worse' && check.mcnemar !== undefined), 'the McNemar figures are recorded');
  });

  test('when a served version scored higher on the fixed test set than the candidate reaches, then the floor refuses it and names that version', async () => {
    await feed(10);
    const [last] = await listRuns(env.db.pool, 1);
    const testSet = last?.dataCounts?.testSet;
    assert.ok(typeof testSet === 'string' && testSet.length === 64, 'runs record which test set they scored on');
    const serving = last?.servingVersion ?? '';
    // A version that once served and answered every test digit right; then the serving one back.
    await recordScore(env.db.pool, { version: 'v0-perfect', testSet, accuracy: 1, testCount: 200, runId: null });
    for (const version of ['v0-perfect', serving]) {
      const id = await startDeployment(env.db.pool, { kind: 'rollback', modelVersion: version, image: `mywebapp:${version}`, previousVersion: null });
      await finishDeployment(env.db.pool, id, { status: 'deployed', durationMs: 1 });
    }
    try {
      // The tolerance of a real stack (one point): these tests run with five.
      const result = await runCycle({ ...deps, settings: { ...deps.settings, tolerance: 0.01 } });
      assert.equal(result.status, 'rejected', result.reason);
      assert.match(result.reason, /below the floor .*v0-perfect, reached 100\.00 %/);
      const [run] = await listRuns(env.db.pool, 1);
      const floor = run?.evaluation?.checks.find((check) => check.kind === 'floor');
      assert.deepEqual({ passed: floor?.passed, best: floor?.floor?.best, version: floor?.floor?.bestVersion }, { passed: false, best: 1, version: 'v0-perfect' });
    } finally {
      await env.db.pool.query("DELETE FROM model_scores WHERE version = 'v0-perfect'");
    }
  });

  test('when the gate refuses runs N times in a row, then their unused feedback is set aside for review and the loop goes on with new feedback', async () => {
    const random = seededRandom(9);
    const broken = (options: TrainOptions) =>
      trainModel({ ...options, mode: 'scratch', epochs: 1, replay: { ...options.replay, labels: Uint8Array.from(options.replay.labels, () => Math.floor(random() * 10)) } });
    const strict = { ...deps, train: broken, settings: { ...deps.settings, refusalsBeforeReview: 3 } };
    // A promotion first, so the series starts here whatever ran before.
    await feed(10);
    assert.equal((await runCycle(deps)).status, 'promoted');
    const first = await feed(10);
    const once = await runCycle(strict);
    assert.equal(once.status, 'rejected', once.reason);
    const second = await feed(1);
    const twice = await runCycle(strict);
    assert.equal(twice.status, 'rejected');
    for (const reason of [once.reason, twice.reason]) assert.doesNotMatch(reason, /set aside/);
    const third = await feed(1);
    const thrice = await runCycle(strict);
    assert.equal(thrice.status, 'rejected');
    assert.match(thrice.reason, /refusal 3 in a row: \d+ unused feedback images set aside for review/);
    const [run] = await listRuns(env.db.pool, 1);
    const setAside = run?.dataCounts?.setAsideImageIds ?? [];
    for (const id of [...first, ...second, ...third]) assert.ok(setAside.includes(id), `image ${id} set aside`);
    const [rows] = await env.db.pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM images WHERE set_aside_in_run = ?', [run?.id]);
    assert.equal(Number(rows[0]?.n), setAside.length);
    assert.equal(await countUnusedFeedback(env.db.pool), 0, 'set aside, they no longer count towards the threshold');

    // New feedback: the loop goes on, without the images set aside.
    const fresh = await feed(10);
    const result = await runCycle(deps);
    assert.equal(result.status, 'promoted', result.reason);
    const [promoted] = await listRuns(env.db.pool, 1);
    const used = [...(promoted?.dataCounts?.feedbackImageIds ?? []), ...(promoted?.dataCounts?.heldOutImageIds ?? [])];
    assert.deepEqual(used.filter((id) => setAside.includes(id)), []);
    assert.ok(fresh.every((id) => used.includes(id)));
  });

  test('when only some classes are learnt, then other feedback is neither counted, trained on, nor marked', async () => {
    const classes = [0, 1];
    const scoped = { ...deps, settings: { ...deps.settings, classes, threshold: 4 } };
    // The packaged test digits are ordered by class, 100 each; indices ≡ 3 mod 5 are not registered.
    const others = await addFeedback(env.db.pool, env.storage.storage, digits, [703, 708, 713, 718, 723, 728]);
    assert.equal((await runCycle(scoped)).status, 'skipped', 'six 7s do not count towards classes 0 and 1');
    const learnt = await addFeedback(env.db.pool, env.storage.storage, digits, [3, 8, 103, 108]);
    const result = await runCycle(scoped);
    assert.equal(result.status, 'promoted', result.reason);
    assert.ok(result.status === 'promoted');
    const usage = await feedbackUsage(env.db.pool);
    assert.deepEqual(usage.slice(-10), [...new Array(others.length).fill(null), ...new Array(learnt.length).fill(result.runId)]);
    assert.deepEqual(result.metadata.training['classes'], classes);
    const [run] = await listRuns(env.db.pool, 1);
    const counts = run?.dataCounts as { test: number; trainedByClass: number[] };
    assert.equal(counts.test, 40, 'the 200 registered test digits hold 20 of each class');
    assert.deepEqual(counts.trainedByClass.slice(2), new Array(8).fill(0), 'nothing outside classes 0 and 1 trains');
    const perClass = run?.evaluation?.candidate['test']?.perClass ?? [];
    assert.deepEqual(perClass.map((c) => c.label), ['0', '1']);
  });

  test('when the stored files of the version in service are changed, then the next run does not start from it, and its record says why', async () => {
    const [promoted] = (await listRuns(env.db.pool)).filter((run) => run.status === 'promoted');
    const serving = promoted?.modelVersion ?? '';
    const [previous] = (await listRuns(env.db.pool)).filter((run) => run.status === 'promoted' && run.modelVersion !== serving);
    assert.equal((await incumbents.current()).metadata.version, serving);
    const bucket = env.storage.settings.modelsBucket;
    const key = `${serving}/${BUNDLE_FILES.weightsBin}`;
    const original = await getObjectBytes(env.storage.storage, bucket, key);
    const altered = Buffer.from(original);
    altered.writeFloatLE(altered.readFloatLE(0) + 1, 0);
    await putObject(env.storage.storage, bucket, key, altered, 'application/octet-stream');
    // As after a restart of training: a source that holds nothing yet reads the bucket.
    const restarted = createIncumbentSource({ pool: env.db.pool, storage: env.storage.storage, pretrainedDir: PRETRAINED_DIR, logger: silent });
    try {
      await feed(10);
      const result = await runCycle({ ...deps, incumbent: () => restarted.current(), settings: { ...deps.settings, epochs: 1 } });
      assert.notEqual(result.status, 'skipped', result.reason);
      const [run] = await listRuns(env.db.pool, 1);
      assert.equal(run?.servingVersion, serving);
      assert.equal(run?.parentVersion, previous?.modelVersion, 'started from the newest version whose files are the ones recorded');
      assert.match(run?.incumbentNote ?? '', new RegExp(`^${serving}, in service, could not be loaded \\(refused: weights\\.bin \\(sha256 .* is not the file training recorded\\)`));
    } finally {
      restarted.dispose();
      await putObject(env.storage.storage, bucket, key, original, 'application/octet-stream');
    }
  });

  test('when a full run is forced below the threshold, then a fresh model trains on every base image', async () => {
    const before = await listRuns(env.db.pool, 1);
    const result = await runCycle({ ...deps, settings: { ...deps.settings, epochs: 1 } }, { force: true, mode: 'scratch' });
    assert.notEqual(result.status, 'skipped', result.reason);
    assert.notEqual(result.status, 'failed', result.reason);
    const [run] = await listRuns(env.db.pool, 1);
    assert.notEqual(run?.id, before[0]?.id);
    const counts = run?.dataCounts as { mode: string; replay: number; replayImageIds: string };
    assert.equal(counts.mode, 'scratch');
    assert.equal(counts.replay, 600, 'all 600 registered train images');
    assert.match(counts.replayImageIds, /all 600/);
    // One epoch on 600 digits is far from the incumbent: the gate says so.
    assert.equal(result.status, 'rejected', result.reason);
  });
});

describe('trainingTrigger', () => {
  const counts = [0, 0, 0, 3, 0, 0, 0, 0, 0, 2];

  test('when the total reaches the threshold, then it trains', () => {
    assert.equal(trainingTrigger(counts, { threshold: 5 }).train, true);
    assert.equal(trainingTrigger(counts, { threshold: 6 }).train, false);
  });

  test('when one class reaches the per-class threshold, then it trains even below the total', () => {
    const rule = trainingTrigger(counts, { threshold: 100, classThreshold: 3 });
    assert.equal(rule.train, true);
    assert.match(rule.reason, /class 3 gained 3/);
    assert.equal(trainingTrigger(counts, { threshold: 100, classThreshold: 4 }).train, false);
  });

  test('when classes are restricted, then only theirs count', () => {
    assert.equal(trainingTrigger(counts, { threshold: 3, classes: [0, 9] }).train, false);
    assert.equal(trainingTrigger(counts, { threshold: 2, classes: [0, 9] }).train, true);
    assert.equal(trainingTrigger(counts, { threshold: 100, classThreshold: 3, classes: [0, 9] }).train, false);
  });
});
