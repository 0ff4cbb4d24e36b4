import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initTf } from './tf-backend.js';

describe('initTf', () => {
  test('when tfjs-node is absent and the preference is auto, then wasm is chosen', async () => {
    const reasons: string[] = [];
    assert.equal(await initTf('auto', { onFallback: (reason) => reasons.push(reason) }), 'wasm');
    assert.equal(tf.getBackend(), 'wasm');
    assert.deepEqual(reasons, ['@tensorflow/tfjs-node is not installed']);
    const sum = tf.tidy(() => tf.add(tf.tensor1d([1, 2]), tf.tensor1d([3, 4])).arraySync());
    assert.deepEqual(sum, [4, 6]);
  });

  test('when called twice, then the second call succeeds with the same backend', async () => {
    assert.equal(await initTf(), 'wasm');
    assert.equal(await initTf('wasm'), 'wasm');
    assert.equal(tf.getBackend(), 'wasm');
  });

  test('when wasm is chosen, then a convolution filter gradient is available', async () => {
    await initTf('wasm');
    assert.notEqual(tf.getKernel('Conv2DBackpropFilter', 'wasm'), undefined);
  });

  test('when cpu is asked for, then cpu is used', async () => {
    assert.equal(await initTf('cpu'), 'cpu');
    assert.equal(tf.getBackend(), 'cpu');
    assert.equal(tf.tidy(() => tf.square(tf.scalar(3)).arraySync()), 9);
  });

  test('when tensorflow is asked for but tfjs-node is absent, then it throws naming the package', async () => {
    await assert.rejects(initTf('tensorflow'), /@tensorflow\/tfjs-node/);
    assert.equal(await initTf('auto'), 'wasm');
  });
});
