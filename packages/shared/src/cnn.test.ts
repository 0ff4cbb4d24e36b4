import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { CNN_INPUT_NAME, createModel, disposeModel } from './cnn.js';
import { initTf } from './tf-backend.js';

describe('createModel', () => {
  before(async () => {
    await initTf('wasm');
  });

  test('when built, then it reads [null,28,28,1] named image and writes [null,10]', () => {
    const model = createModel();
    assert.deepEqual(model.inputs[0]?.shape, [null, 28, 28, 1]);
    assert.equal(model.inputLayers[0]?.name, CNN_INPUT_NAME);
    assert.deepEqual(model.outputs[0]?.shape, [null, 10]);
    assert.ok(model.countParams() < 500_000);
    disposeModel(model);
  });

  test('when built twice with one seed, then the initial weights are equal', () => {
    const a = createModel({ seed: 7 });
    const b = createModel({ seed: 7 });
    const c = createModel({ seed: 8 });
    const first = (m: tfl.LayersModel) => m.getWeights()[0]?.dataSync();
    assert.deepEqual(first(a), first(b));
    assert.notDeepEqual(first(a), first(c));
    [a, b, c].forEach(disposeModel);
  });

  test('when trained a step and disposed, then no tensor is left', async () => {
    const before = tf.memory().numTensors;
    const model = createModel({ learningRate: 0.01 });
    const xs = tf.zeros([4, 28, 28, 1]);
    const ys = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d([0, 1, 2, 3], 'int32'), 10), 'float32'));
    await model.trainOnBatch(xs, ys);
    const probabilities = tf.tidy(() => tf.sum(model.predict(xs) as tf.Tensor, 1).dataSync());
    assert.ok(probabilities.every((p) => Math.abs(p - 1) < 1e-5));
    tf.dispose([xs, ys]);
    disposeModel(model);
    assert.equal(tf.memory().numTensors, before);
  });
});
