/**
 * bench/predict: /api/predict under concurrent load on loopback, beside the model's own
 * predict rate on the same input in the same run.
 *
 * Starts a throwaway MariaDB and s3rver, runs the real webapp as a child process (so the
 * load generator does not share its event loop), then drives it with autocannon at 1, 8
 * and 64 connections. Prints a table; timings are only comparable within one run.
 *
 * Usage: npm run bench:predict [-- --seconds 10]
 */
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import * as tf from '@tensorflow/tfjs-core';
import { initTf, loadModelBundle, MNIST_IMAGE_SIZE, MNIST_PIXELS, preprocessImage, PREPROCESSING_VERSION, readBundleDir, toDatabaseEnv, toStorageEnv } from '@mlpl/shared';
import type { DatabaseSettings, StorageSettings } from '@mlpl/shared';
import { freePort, renderDigitPng, startMariaDb, startS3rver } from '@mlpl/shared/testing';
import { loadPackagedMnist } from '@mlpl/shared/mnist-package';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const seconds = Number(process.argv[process.argv.indexOf('--seconds') + 1] || 10) || 10;
const CONNECTIONS = [1, 8, 64];
/** One digit, as the webapp hands it to the model. */
const INPUT_SHAPE: [number, number, number, number] = [1, MNIST_IMAGE_SIZE, MNIST_IMAGE_SIZE, 1];

async function multipartBody(png: Buffer): Promise<{ body: Buffer; contentType: string }> {
  const form = new FormData();
  form.append('image', new Blob([new Uint8Array(png)], { type: 'image/png' }), 'digit.png');
  const request = new Request('http://localhost/', { method: 'POST', body: form });
  return { body: Buffer.from(await request.arrayBuffer()), contentType: request.headers.get('content-type') ?? '' };
}

/** Single-image predictions per second, the way the webapp calls the model. */
async function modelRate(input: Float32Array, durationMs: number): Promise<{ predictRate: number; preprocessAndPredictRate: number; png: Buffer }> {
  const { model } = await loadModelBundle(await readBundleDir(path.join(root, 'pretrained')), PREPROCESSING_VERSION);
  const predictOnce = () => tf.tidy(() => (model.predict(tf.tensor4d(input, INPUT_SHAPE)) as tf.Tensor).dataSync());
  for (let i = 0; i < 20; i++) predictOnce();
  let count = 0;
  let started = performance.now();
  while (performance.now() - started < durationMs) {
    predictOnce();
    count++;
  }
  const predictRate = (count * 1000) / (performance.now() - started);
  const png = await renderDigitPng(input, { scale: 10, invert: true });
  count = 0;
  started = performance.now();
  while (performance.now() - started < durationMs) {
    const x = await preprocessImage(png);
    tf.tidy(() => (model.predict(tf.tensor4d(x, INPUT_SHAPE)) as tf.Tensor).dataSync());
    count++;
  }
  const preprocessAndPredictRate = (count * 1000) / (performance.now() - started);
  model.dispose();
  return { predictRate, preprocessAndPredictRate, png };
}

async function waitReady(url: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const ok = await fetch(`${url}/readyz`).then((r) => r.ok).catch(() => false);
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error('webapp did not become ready');
}

async function main(): Promise<void> {
  const backend = await initTf('auto');
  const mnist = loadPackagedMnist();
  const digit = mnist.images.slice(0, MNIST_PIXELS);
  const model = await modelRate(digit, 3000);

  const db = await startMariaDb();
  const s3 = await startS3rver();
  const database: DatabaseSettings = { host: db.host, port: db.port, database: 'mlpl_bench', user: db.user, password: db.password };
  const storage: StorageSettings = { host: s3.host, port: s3.port, useSSL: false, accessKey: s3.accessKey, secretKey: s3.secretKey, region: 'us-east-1', imagesBucket: 'images', modelsBucket: 'models' };
  const port = await freePort();
  const webapp = spawn(process.execPath, [path.join(root, 'services/webapp/dist/main.js')], {
    // 64 connections from one address: every upload may wait for a decoder (MAX_QUEUED_DECODES)
    // and none is rate limited; the bench measures throughput, not the refusals a flood meets.
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      MAX_QUEUED_DECODES: String(Math.max(...CONNECTIONS)),
      RATE_LIMIT_PREDICT_PER_MINUTE: '0',
      ...toDatabaseEnv(database),
      ...toStorageEnv(storage),
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    const { default: mysql } = await import('mysql2/promise');
    const admin = await mysql.createConnection({ host: db.host, port: db.port, user: db.user, password: db.password });
    await admin.query(`CREATE DATABASE IF NOT EXISTS \`${database.database}\``);
    await admin.end();
    await waitReady(url);
    const { body, contentType } = await multipartBody(model.png);
    const rows: string[] = [];
    for (const connections of CONNECTIONS) {
      const result = await autocannon({
        url: `${url}/api/predict`,
        method: 'POST',
        headers: { 'content-type': contentType },
        body,
        connections,
        duration: seconds,
      });
      const errors = result.errors + result.timeouts + result.non2xx;
      rows.push(
        `| ${connections} | ${result.requests.average.toFixed(1)} | ${result.latency.p50} | ${result.latency.p99} | ${errors} | ${(result.requests.average / model.preprocessAndPredictRate).toFixed(2)} | ${(result.requests.average / model.predictRate).toFixed(2)} |`,
      );
    }
    console.log(`\nbench/predict — backend ${backend}, ${seconds} s per level, 2 cores shared; input: a 280×280 PNG of an MNIST digit (${body.length} B multipart)`);
    console.log(`model.predict alone (batch 1, same input): ${model.predictRate.toFixed(1)} predictions/s`);
    console.log(`preprocess + predict in one process:        ${model.preprocessAndPredictRate.toFixed(1)} images/s\n`);
    console.log('| connections | requests/s | p50 ms | p99 ms | errors | ÷ preprocess+predict | ÷ predict alone |');
    console.log('|---|---|---|---|---|---|---|');
    for (const row of rows) console.log(row);
  } finally {
    webapp.kill('SIGTERM');
    await new Promise((resolve) => webapp.once('exit', resolve));
    await db.stop();
    await s3.stop();
  }
}

await main();
