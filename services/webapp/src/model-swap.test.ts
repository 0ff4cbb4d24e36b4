import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { RowDataPacket } from 'mysql2/promise';
import { BUNDLE_FILES, readBundleDir, serializeModel, writeBundleDir } from '@mlpl/shared';
import type { ModelBundleFiles, ModelMetadata } from '@mlpl/shared';
import { createTestDatabase, createTestStorage, renderDigitPng } from '@mlpl/shared/testing';
import type { TestDatabase, TestStorage } from '@mlpl/shared/testing';
import { loadPackagedMnist } from '@mlpl/shared/mnist-package';
import { DEFAULT_MODEL_DIR } from './settings.js';
import { post, startTestApp } from './test-support.js';
import type { RunningApp } from './test-support.js';

const execFileAsync = promisify(execFile);

const TOKEN = 'model-swap-test-token-0123456789';
const NEXT = 'swap-test-2';

type Answer = { status: number; body: any };

async function answer(response: Response): Promise<Answer> {
  const text = await response.text();
  try {
    return { status: response.status, body: JSON.parse(text) };
  } catch {
    return { status: response.status, body: text };
  }
}

describe('model swap: POST /internal/model', () => {
  let db: TestDatabase;
  let s3: TestStorage;
  let app: RunningApp;
  let root: string;
  let pretrained: ModelBundleFiles;
  let original: string;
  let sevenPng: Buffer;

  /** The pretrained bundle, its metadata naming `version`. */
  function bundleAs(version: string): ModelBundleFiles {
    const metadata = JSON.parse(pretrained.metadataJson.toString('utf8')) as ModelMetadata;
    return { ...pretrained, metadataJson: Buffer.from(JSON.stringify({ ...metadata, version }, null, 2)) };
  }

  const folder = (name: string) => path.join(root, name);

  async function request(body: string, headers: Record<string, string> = {}): Promise<Answer> {
    return answer(await fetch(`${app.url}/internal/model`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body }));
  }

  const swapTo = (version: string) => request(JSON.stringify({ version }), { authorization: `Bearer ${TOKEN}` });

  async function servedVersion(): Promise<string> {
    return ((await (await fetch(`${app.url}/api/model`)).json()) as { version: string }).version;
  }

  /** Sends a swap that must be refused, and checks nothing changed: the model, and the tensors held. */
  async function assertRefused(send: () => Promise<Answer>, status: number, code: string): Promise<Answer> {
    const version = await servedVersion();
    const tensors = tf.memory().numTensors;
    const refused = await send();
    assert.equal(refused.status, status, JSON.stringify(refused.body));
    assert.equal(refused.body.error.code, code);
    assert.equal(typeof refused.body.error.message, 'string');
    assert.equal(await servedVersion(), version);
    assert.equal(tf.memory().numTensors, tensors, 'a refused model must be disposed');
    return refused;
  }

  before(async () => {
    db = await createTestDatabase();
    s3 = await createTestStorage();
    root = await mkdtemp(path.join(tmpdir(), 'mlpl-models-'));
    pretrained = await readBundleDir(DEFAULT_MODEL_DIR);
    original = (JSON.parse(pretrained.metadataJson.toString('utf8')) as ModelMetadata).version;
    assert.notEqual(original, NEXT);
    await writeBundleDir(folder(original), pretrained);
    await writeBundleDir(folder(NEXT), bundleAs(NEXT));
    app = await startTestApp({ database: db.settings, storage: s3.settings, modelSwap: { modelsRoot: root, token: TOKEN } });
    const mnist = loadPackagedMnist();
    const seven = mnist.labels.indexOf(7);
    sevenPng = await renderDigitPng(mnist.images.subarray(seven * 784, (seven + 1) * 784), { scale: 4, invert: true });
  });
  after(async () => {
    await app?.close();
    await db?.drop();
    if (root !== undefined) await rm(root, { recursive: true, force: true });
  });

  it('when no token is sent, then it is 401 and the served model is unchanged', async () => {
    assert.equal(await servedVersion(), original);
    await assertRefused(() => request(JSON.stringify({ version: NEXT })), 401, 'unauthorized');
    assert.equal(await servedVersion(), original);
  });

  it('when the token is wrong or not a Bearer token, then it is 401', async () => {
    for (const authorization of [`Bearer ${TOKEN}x`, 'Bearer wrong', `Basic ${TOKEN}`, TOKEN, 'Bearer ']) {
      await assertRefused(() => request(JSON.stringify({ version: NEXT }), { authorization }), 401, 'unauthorized');
    }
  });

  describe('a body that is not {"version": "<a model version>"} is 400', () => {
    const cases: { name: string; body: string; contentType?: string }[] = [
      { name: 'not JSON', body: '{"version": ' },
      { name: 'a JSON string', body: JSON.stringify(NEXT) },
      { name: 'a JSON array', body: JSON.stringify([NEXT]) },
      { name: 'an empty object', body: '{}' },
      { name: 'an extra key', body: JSON.stringify({ version: NEXT, force: true }) },
      { name: 'a __proto__ key', body: `{"version": "${NEXT}", "__proto__": {}}` },
      { name: 'a number as version', body: '{"version": 2}' },
      { name: 'the version as text/plain', body: NEXT, contentType: 'text/plain' },
      ...['../x', '..', 'a/b', '.building-x', '', 'v'.repeat(65), 'current', 'latest', 'candidate-x'].map((version) => ({ name: `version "${version}"`, body: JSON.stringify({ version }) })),
    ];
    for (const testCase of cases) {
      it(`when the body is ${testCase.name}, then it is 400`, async () => {
        const headers = { authorization: `Bearer ${TOKEN}`, ...(testCase.contentType === undefined ? {} : { 'content-type': testCase.contentType }) };
        await assertRefused(() => request(testCase.body, headers), 400, 'bad_request');
      });
    }
  });

  it('when no folder holds the version, then it is 404', async () => {
    await assertRefused(() => swapTo('never-built'), 404, 'unknown_version');
  });

  it('when the folder holds another version, then it is 409 and the loaded model is disposed', async () => {
    await writeBundleDir(folder('mislabelled'), bundleAs(NEXT));
    const refused = await assertRefused(() => swapTo('mislabelled'), 409, 'version_mismatch');
    assert.match(refused.body.error.message, new RegExp(NEXT));
  });

  describe('a bundle that does not load or does not predict is 422', () => {
    it('when weights.bin is truncated, then it is 422 weights_mismatch', async () => {
      const files = bundleAs('truncated');
      await writeBundleDir(folder('truncated'), { ...files, weightsBin: files.weightsBin.subarray(0, files.weightsBin.length - 100) });
      await assertRefused(() => swapTo('truncated'), 422, 'weights_mismatch');
    });

    it('when model.json is garbage, then it is 422 invalid_json', async () => {
      await writeBundleDir(folder('garbage'), { ...bundleAs('garbage'), modelJson: Buffer.from('\u0000not json at all{') });
      await assertRefused(() => swapTo('garbage'), 422, 'invalid_json');
    });

    it('when the weights are all NaN, then it is 422 unservable_model and the model is disposed', async () => {
      const files = bundleAs('nan-weights');
      const weightsBin = Buffer.from(new Float32Array(files.weightsBin.length / 4).fill(Number.NaN).buffer);
      await writeBundleDir(folder('nan-weights'), { ...files, weightsBin });
      await assertRefused(() => swapTo('nan-weights'), 422, 'unservable_model');
    });

    it('when the model gives five classes, then it is 422 unservable_model and the model is disposed', async () => {
      const model = tfl.sequential({ layers: [tfl.layers.flatten({ inputShape: [28, 28, 1] }), tfl.layers.dense({ units: 5, activation: 'softmax' })] });
      const files = await serializeModel(model, JSON.parse(bundleAs('five-classes').metadataJson.toString('utf8')) as ModelMetadata);
      model.dispose();
      await writeBundleDir(folder('five-classes'), files);
      await assertRefused(() => swapTo('five-classes'), 422, 'unservable_model');
    });

    it('when the folder lacks weights.bin, then it is 422 incomplete_bundle', async () => {
      const files = bundleAs('no-weights');
      await mkdir(folder('no-weights'));
      await writeFile(path.join(folder('no-weights'), BUNDLE_FILES.modelJson), files.modelJson);
      await writeFile(path.join(folder('no-weights'), BUNDLE_FILES.metadataJson), files.metadataJson);
      const refused = await assertRefused(() => swapTo('no-weights'), 422, 'incomplete_bundle');
      assert.match(refused.body.error.message, /weights\.bin/);
      assert.ok(!refused.body.error.message.includes(root), 'the message must not reveal the models root');
    });

    it('when the version names a file, not a folder, then it is 422 incomplete_bundle', async () => {
      await writeFile(folder('a-file'), 'not a folder');
      await assertRefused(() => swapTo('a-file'), 422, 'incomplete_bundle');
    });
  });

  it('when a good folder is named, then it is served from the next request and the old model is freed', async () => {
    const tensors = tf.memory().numTensors;
    const swapped = await swapTo(NEXT);
    assert.equal(swapped.status, 200, JSON.stringify(swapped.body));
    assert.deepEqual(swapped.body, { version: NEXT, previousVersion: original });
    assert.equal(tf.memory().numTensors, tensors, 'the replaced model must be disposed');

    assert.equal(await servedVersion(), NEXT);
    assert.equal(app.classifier.metadata.version, NEXT);
    const predicted = await post(`${app.url}/api/predict`, [{ name: 'image', file: sevenPng }]);
    assert.equal(predicted.status, 200, JSON.stringify(predicted.body));
    assert.equal(predicted.body.digit, 7);
    assert.equal(predicted.body.modelVersion, NEXT);
    const [rows] = await db.pool.query<RowDataPacket[]>('SELECT model_version FROM predictions WHERE id = ?', [predicted.body.predictionId]);
    assert.deepEqual({ ...rows[0] }, { model_version: NEXT });
    const ready = (await (await fetch(`${app.url}/readyz`)).json()) as { modelVersion: string };
    assert.equal(ready.modelVersion, NEXT);
    assert.equal(tf.memory().numTensors, tensors);
  });

  it('when the original folder is named again, then the original is served again', async () => {
    const tensors = tf.memory().numTensors;
    const swapped = await swapTo(original);
    assert.equal(swapped.status, 200, JSON.stringify(swapped.body));
    assert.deepEqual(swapped.body, { version: original, previousVersion: NEXT });
    assert.equal(tf.memory().numTensors, tensors);
    assert.equal(await servedVersion(), original);
    const predicted = await post(`${app.url}/api/predict`, [{ name: 'image', file: sevenPng }]);
    assert.deepEqual([predicted.status, predicted.body.digit, predicted.body.modelVersion], [200, 7, original]);
  });

  it('when a swap is still loading, then another is 409 busy and the old model answers until the first completes', async () => {
    // weights.bin as a FIFO holds the first swap inside its read until the test writes it.
    const slow = 'slow-3';
    const files = bundleAs(slow);
    const fifo = path.join(folder(slow), BUNDLE_FILES.weightsBin);
    await mkdir(folder(slow));
    await writeFile(path.join(folder(slow), BUNDLE_FILES.modelJson), files.modelJson);
    await writeFile(path.join(folder(slow), BUNDLE_FILES.metadataJson), files.metadataJson);
    await execFileAsync('mkfifo', [fifo]);

    const first = swapTo(slow);
    // A non-blocking open of a FIFO's write end fails (ENXIO) until a reader has it open,
    // that is until the first swap is reading the folder.
    let probe: FileHandle | undefined;
    for (let tries = 0; probe === undefined; tries++) {
      assert.ok(tries < 1000, 'the first swap never opened weights.bin');
      probe = await open(fifo, constants.O_WRONLY | constants.O_NONBLOCK).catch(async (error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENXIO') throw error;
        await sleep(10);
        return undefined;
      });
    }
    try {
      await assertRefused(() => swapTo(NEXT), 409, 'busy');
      const predicted = await post(`${app.url}/api/predict`, [{ name: 'image', file: sevenPng }]);
      assert.deepEqual([predicted.status, predicted.body.modelVersion], [200, original]);
    } finally {
      const writer = await open(fifo, 'w');
      await writer.writeFile(files.weightsBin);
      await writer.close();
      await probe.close();
    }
    const swapped = await first;
    assert.equal(swapped.status, 200, JSON.stringify(swapped.body));
    assert.deepEqual(swapped.body, { version: slow, previousVersion: original });
    assert.equal(await servedVersion(), slow);
    // The lock is released: the next swap goes through.
    assert.deepEqual((await swapTo(original)).body, { version: original, previousVersion: slow });
  });
});

describe('webapp without model swap', () => {
  let db: TestDatabase;
  let s3: TestStorage;
  let app: RunningApp;

  before(async () => {
    db = await createTestDatabase();
    s3 = await createTestStorage();
    app = await startTestApp({ database: db.settings, storage: s3.settings });
  });
  after(async () => {
    await app?.close();
    await db?.drop();
  });

  it('when the app is created without modelSwap, then POST /internal/model is 404', async () => {
    const version = app.classifier.metadata.version;
    const response = await fetch(`${app.url}/internal/model`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ version: NEXT }),
    });
    const { status, body } = await answer(response);
    assert.equal(status, 404);
    assert.equal(body.error.code, 'not_found');
    assert.equal(((await (await fetch(`${app.url}/api/model`)).json()) as { version: string }).version, version);
  });
});
