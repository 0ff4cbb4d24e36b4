/**
 * bench/train: training throughput of the default CNN on the backend in use, the time to
 * register the 10,000 packaged digits, and the time of one fast-path cycle from the threshold
 * being reached to the artifacts being posted (cold image cache, then warm), with its stages.
 *
 * Starts a throwaway MariaDB and s3rver and an appbuilder stand-in that answers as the real one
 * would (the appbuilder is not what is measured). Timings are comparable within one run only.
 *
 * Usage: npm run bench:train
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { createPool, createStorage, ensureBuckets, initTf, loadModelBundle, migrate, PREPROCESSING_VERSION, readBundleDir, selectDigits } from '@mlpl/shared';
import { startMariaDb, startS3rver } from '@mlpl/shared/testing';
import { startAppbuilderStub } from '@mlpl/training/appbuilder-stub';
import { runCycle } from '@mlpl/training/cycle';
import type { CycleDeps, CycleResult } from '@mlpl/training/cycle';
import { createImageCache } from '@mlpl/training/image-cache';
import { createIncumbentSource } from '@mlpl/training/incumbent';
import { loadPackagedBaseDataset } from '@mlpl/training/mnist-source';
import type { BaseDataset } from '@mlpl/training/mnist-source';
import { registerBaseDataset } from '@mlpl/training/registration';
import { addFeedback, silent } from '@mlpl/training/test-support';
import { trainModel } from '@mlpl/training/train';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const pretrainedDir = path.join(root, 'pretrained');

async function throughput(): Promise<{ scratch: number; fineTune: number; evaluate: number }> {
  const data = loadPackagedBaseDataset();
  const sample = selectDigits(data.train, Array.from({ length: 2048 }, (_, i) => i * 4));
  const empty = selectDigits(sample, []);
  const scratch = await trainModel({ mode: 'scratch', newData: empty, replay: sample, seed: 1, epochs: 1 });
  scratch.model.dispose();
  const base = await loadModelBundle(await readBundleDir(pretrainedDir), PREPROCESSING_VERSION);
  // As a cycle fine-tunes: 10 new digits shown 8× per epoch beside a replay sample of 1,000, 3 epochs.
  const fineTune = await trainModel({
    mode: 'fine-tune',
    base: base.model,
    newData: selectDigits(sample, Array.from({ length: 10 }, (_, i) => 1000 + i)),
    replay: selectDigits(sample, Array.from({ length: 1000 }, (_, i) => i)),
    replayRatio: Number.POSITIVE_INFINITY,
    seed: 1,
  });
  fineTune.model.dispose();
  const started = performance.now();
  tf.tidy(() => (base.model.predict(tf.tensor4d(data.test.images, [data.test.count, 28, 28, 1]), { batchSize: 256 }) as tf.Tensor).dataSync());
  const evaluate = data.test.count / ((performance.now() - started) / 1000);
  base.model.dispose();
  return { scratch: scratch.imagesPerSecond, fineTune: fineTune.imagesPerSecond, evaluate };
}

function stages(result: CycleResult): string {
  if (result.status !== 'promoted') return `(${result.status}: ${result.reason})`;
  const t = result.timings;
  const share = (ms: number) => `${((100 * ms) / t.total).toFixed(0)} %`;
  return `${(t.total / 1000).toFixed(1)} s — load ${(t.load / 1000).toFixed(1)} s (${share(t.load)}), train ${(t.train / 1000).toFixed(1)} s (${share(t.train)}), evaluate ${(t.evaluate / 1000).toFixed(1)} s (${share(t.evaluate)}), hand-over ${(t.handOver / 1000).toFixed(1)} s (${share(t.handOver)})`;
}

async function main(): Promise<void> {
  const backend = await initTf('auto');
  console.log(`# bench/train — backend ${backend}, ${new Date().toISOString()}`);
  const rates = await throughput();
  console.log(`training, scratch (1 epoch, 2,048 digits, batch 32):                      ${rates.scratch.toFixed(0)} images/s`);
  console.log(`training, fine-tune (cycle defaults: 10 new ×8 + 1,000 replay, 3 epochs): ${rates.fineTune.toFixed(0)} images/s`);
  console.log(`evaluation (predict, batch 256):                                           ${rates.evaluate.toFixed(0)} images/s`);

  const [db, s3, stub] = await Promise.all([startMariaDb(), startS3rver(), startAppbuilderStub()]);
  const cacheDir = await mkdtemp(path.join(tmpdir(), 'mlpl-bench-train-'));
  const pool = createPool({ host: db.host, port: db.port, user: db.user, password: db.password, database: 'mysql' });
  await pool.query('CREATE DATABASE mlpl_bench');
  await pool.end();
  const benchPool = createPool({ host: db.host, port: db.port, user: db.user, password: db.password, database: 'mlpl_bench' });
  const storage = createStorage({ host: s3.host, port: s3.port, useSSL: false, accessKey: s3.accessKey, secretKey: s3.secretKey, region: 'us-east-1', imagesBucket: 'images', modelsBucket: 'models' });
  const incumbents = createIncumbentSource({ pool: benchPool, storage, pretrainedDir, logger: silent });
  try {
    await migrate(benchPool);
    await ensureBuckets(storage);
    const dataset = loadPackagedBaseDataset();
    const registration = await registerBaseDataset({ pool: benchPool, storage, logger: silent }, dataset);
    console.log(`registration of ${registration.registered.toLocaleString('en')} digits: ${registration.seconds.toFixed(1)} s (${(registration.registered / registration.seconds).toFixed(0)} images/s)`);

    const deps: CycleDeps = {
      pool: benchPool,
      storage,
      logger: silent,
      appbuilder: { url: stub.url, token: 'bench-token' },
      cacheDir,
      // As the service does: one cache for the process, so preprocessed inputs stay in memory.
      cache: createImageCache(storage, cacheDir),
      incumbent: () => incumbents.current(),
      // The service's defaults (settings.ts).
      settings: { threshold: 10, tolerance: 0.01, seed: 42, mode: 'fine-tune', replaySize: 1000, feedbackHeldOutShare: 0.2, baseSource: dataset.source, dropoutRate: 0 },
    };
    await incumbents.current();
    const tensorsBefore = tf.memory().numTensors;
    let next = 0;
    const cycle = async (label: string, cycleDeps: CycleDeps) => {
      await addFeedback(benchPool, storage, dataset.test, Array.from({ length: 10 }, () => (3 + 47 * next++) % dataset.test.count));
      const started = performance.now();
      const result = await runCycle(cycleDeps);
      const wall = (performance.now() - started) / 1000;
      console.log(`fast-path cycle, ${label}: ${wall.toFixed(1)} s wall, ${stages(result)}`);
    };
    await cycle('1,000 test digits, cold image cache', deps);
    await cycle('1,000 test digits, warm image cache', deps);

    // Real MNIST's test split is 10,000 digits: the same packaged digits, registered again as a
    // source whose test split holds all 10,000, give a cycle of that size (cold, then warm).
    const big = {
      source: 'bench-mnist-size' as const,
      train: dataset.train,
      test: { images: Float32Array.from([...dataset.train.images, ...dataset.test.images]), labels: Uint8Array.from([...dataset.train.labels, ...dataset.test.labels]), count: dataset.train.count + dataset.test.count },
    };
    await registerBaseDataset({ pool: benchPool, storage, logger: silent }, big as unknown as BaseDataset);
    const bigCacheDir = await mkdtemp(path.join(tmpdir(), 'mlpl-bench-train-big-'));
    try {
      const bigDeps = { ...deps, cacheDir: bigCacheDir, cache: createImageCache(storage, bigCacheDir), settings: { ...deps.settings, baseSource: big.source } };
      await cycle('10,000 test digits, cold image cache', bigDeps);
      await cycle('10,000 test digits, warm image cache', bigDeps);
    } finally {
      await rm(bigCacheDir, { recursive: true, force: true });
    }
    console.log(`tensors: ${tensorsBefore} before the cycles, ${tf.memory().numTensors} after (the model in service, swapped for the promoted one)`);
  } finally {
    incumbents.dispose();
    await benchPool.end();
    await stub.close();
    await Promise.all([db.stop(), s3.stop()]);
    await rm(cacheDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
