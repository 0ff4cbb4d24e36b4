import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { createModel, disposeModel } from './cnn.js';
import { BundleError, loadModelBundle, readBundleDir, serializeModel, writeBundleDir } from './model-bundle.js';
import type { ModelBundleFiles, ModelMetadata } from './model-bundle.js';
import { readTrainingSummary } from './lineage.js';
import { initTf } from './tf-backend.js';

const PREPROCESSING = 1;

function metadata(overrides: Partial<ModelMetadata> = {}): ModelMetadata {
  return {
    version: 'test-1',
    created: new Date(0).toISOString(),
    parent: null,
    input: { shape: [28, 28, 1], dtype: 'float32', range: [0, 1], polarity: 'white-on-black' },
    preprocessing: { version: PREPROCESSING },
    labels: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
    training: readTrainingSummary({ dataset: 'test' }),
    metrics: { accuracy: 0.5, testCount: 10 },
    ...overrides,
  };
}

function withJson(files: ModelBundleFiles, field: 'modelJson' | 'metadataJson', edit: (value: any) => void): ModelBundleFiles {
  const value = JSON.parse(files[field].toString('utf8'));
  edit(value);
  return { ...files, [field]: Buffer.from(JSON.stringify(value)) };
}

async function rejection(files: ModelBundleFiles): Promise<BundleError> {
  try {
    const { model } = await loadModelBundle(files, PREPROCESSING);
    model.dispose();
  } catch (error) {
    assert.ok(error instanceof BundleError, String(error));
    return error;
  }
  assert.fail('the bundle was accepted');
}

describe('model bundle', () => {
  let model: tfl.LayersModel;
  let files: ModelBundleFiles;
  before(async () => {
    await initTf('auto');
    model = createModel({ seed: 7 });
    files = await serializeModel(model, metadata());
  });
  after(() => disposeModel(model));

  it('when a model is saved and loaded, then it predicts exactly as before', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'mlpl-bundle-'));
    try {
      await writeBundleDir(dir, files);
      const loaded = await loadModelBundle(await readBundleDir(dir), PREPROCESSING);
      const input = tf.randomUniform([3, 28, 28, 1], 0, 1, 'float32', 1);
      const [expected, actual] = [model, loaded.model].map((m) => tf.tidy(() => (m.predict(input) as tf.Tensor).arraySync()));
      input.dispose();
      loaded.model.dispose();
      assert.deepEqual(actual, expected);
      assert.equal(loaded.metadata.version, 'test-1');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('when bundles are loaded and disposed, then no tensor is left behind', async () => {
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) (await loadModelBundle(files, PREPROCESSING)).model.dispose();
    assert.equal(tf.memory().numTensors, before);
  });

  const bad: [string, () => ModelBundleFiles, string][] = [
    ['model.json is not JSON', () => ({ ...files, modelJson: Buffer.from('{"modelTopology": ') }), 'invalid_json'],
    ['weights.bin is one byte short', () => ({ ...files, weightsBin: files.weightsBin.subarray(1) }), 'weights_mismatch'],
    ['weights.bin has a byte too many', () => ({ ...files, weightsBin: Buffer.concat([files.weightsBin, Buffer.alloc(1)]) }), 'weights_mismatch'],
    ['the manifest names another path', () => withJson(files, 'modelJson', (m) => (m.weightsManifest[0].paths = ['../../etc/passwd'])), 'invalid_topology'],
    ['the topology is missing', () => withJson(files, 'modelJson', (m) => delete m.modelTopology), 'invalid_topology'],
    ['a layer class is unknown', () => withJson(files, 'modelJson', (m) => (m.modelTopology.config.layers[1].class_name = 'Lambda')), 'invalid_topology'],
    ['the version is not a tag', () => withJson(files, 'metadataJson', (m) => (m.version = 'v1/../x')), 'invalid_metadata'],
    ['the version is the reserved "latest"', () => withJson(files, 'metadataJson', (m) => (m.version = 'latest')), 'invalid_metadata'],
    ['the preprocessing version differs', () => withJson(files, 'metadataJson', (m) => (m.preprocessing.version = 2)), 'invalid_metadata'],
    ['the accuracy is missing', () => withJson(files, 'metadataJson', (m) => delete m.metrics.accuracy), 'invalid_metadata'],
    ['metadata.json is an array', () => ({ ...files, metadataJson: Buffer.from('[]') }), 'invalid_metadata'],
  ];
  for (const [what, make, code] of bad) {
    it(`when ${what}, then the bundle is refused as ${code}`, async () => {
      assert.equal((await rejection(make())).code, code);
    });
  }

  it('when the model does not take 28×28×1 to 10 classes, then it is refused as unservable', async () => {
    const other = tfl.sequential({ layers: [tfl.layers.flatten({ inputShape: [32, 32, 1] }), tfl.layers.dense({ units: 10, activation: 'softmax' })] });
    const otherFiles = await serializeModel(other, metadata());
    other.dispose();
    const before = tf.memory().numTensors;
    assert.equal((await rejection(otherFiles)).code, 'unservable_model');
    assert.equal(tf.memory().numTensors, before, 'the refused model is disposed');
  });
});
