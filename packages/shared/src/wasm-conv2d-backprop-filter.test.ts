import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initTf } from './tf-backend.js';

/** Deterministic values in [-1, 1) (a 32-bit LCG), so a failure reproduces. */
function randomValues(count: number, seed: number): Float32Array {
  const out = new Float32Array(count);
  let state = seed >>> 0;
  for (let i = 0; i < count; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = state / 2 ** 31 - 1;
  }
  return out;
}

type Case = {
  xShape: [number, number, number, number];
  filterShape: [number, number, number, number];
  strides: number | [number, number];
  pad: 'same' | 'valid';
};

/** d/dW of sum(conv2d(x, W) · r) is exactly Conv2DBackpropFilter(x, dy = r). */
function filterGradient(backend: string, c: Case, seed: number): { values: Float32Array; shape: number[] } {
  tf.engine().startScope();
  try {
    assert.equal(tf.getBackend(), backend);
    const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
    const x = tf.tensor4d(randomValues(size(c.xShape), seed), c.xShape);
    const w = tf.tensor4d(randomValues(size(c.filterShape), seed + 1), c.filterShape);
    const outShape = tf.conv2d(x, w, c.strides, c.pad).shape;
    const r = tf.tensor(randomValues(size(outShape), seed + 2), outShape);
    const gradient = tf.grad((filter: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(x, filter as tf.Tensor4D, c.strides, c.pad), r)));
    const dw = gradient(w);
    return { values: dw.dataSync() as Float32Array, shape: dw.shape };
  } finally {
    tf.engine().endScope();
  }
}

const cases: Case[] = [];
for (const strides of [1, 2] as const) {
  for (const pad of ['same', 'valid'] as const) {
    cases.push(
      { xShape: [2, 7, 9, 3], filterShape: [3, 3, 3, 4], strides, pad },
      { xShape: [3, 10, 11, 2], filterShape: [5, 5, 2, 3], strides, pad },
      { xShape: [1, 8, 8, 5], filterShape: [4, 2, 5, 6], strides, pad },
      { xShape: [4, 28, 28, 1], filterShape: [5, 5, 1, 8], strides, pad },
    );
  }
}
cases.push({ xShape: [2, 9, 10, 3], filterShape: [3, 3, 3, 2], strides: [1, 2], pad: 'same' });
cases.push({ xShape: [2, 10, 9, 3], filterShape: [2, 3, 3, 2], strides: [2, 1], pad: 'valid' });

describe('wasm Conv2DBackpropFilter', () => {
  before(async () => {
    await initTf('wasm');
  });

  let worst = 0;
  cases.forEach((c, i) => {
    const name = `x ${c.xShape.join('x')}, filter ${c.filterShape.join('x')}, strides ${String(c.strides)}, ${c.pad}`;
    test(`when ${name}, then the wasm gradient equals the cpu gradient`, async () => {
      await tf.setBackend('cpu');
      const expected = filterGradient('cpu', c, 100 + i);
      await tf.setBackend('wasm');
      const actual = filterGradient('wasm', c, 100 + i);
      assert.deepEqual(actual.shape, c.filterShape);
      assert.deepEqual(expected.shape, c.filterShape);
      let scale = 0;
      let maxError = 0;
      for (let j = 0; j < expected.values.length; j++) {
        scale = Math.max(scale, Math.abs(expected.values[j] ?? 0));
        maxError = Math.max(maxError, Math.abs((expected.values[j] ?? 0) - (actual.values[j] ?? 0)));
      }
      const relative = maxError / scale;
      worst = Math.max(worst, relative);
      assert.ok(relative < 1e-4, `max error ${maxError} is ${relative} of max |dW| ${scale}`);
    });
  });

  test('when every case has run, then report the worst relative error', (t) => {
    t.diagnostic(`worst max-error / max|dW| = ${worst.toExponential(2)}`);
    assert.ok(worst < 1e-4);
  });

  test('when called repeatedly, then no tensor or wasm buffer is left behind', async () => {
    await tf.setBackend('wasm');
    const c: Case = { xShape: [3, 10, 11, 2], filterShape: [5, 5, 2, 3], strides: 2, pad: 'valid' };
    filterGradient('wasm', c, 1);
    const before = tf.memory() as tf.MemoryInfo & { numDataBuffers: number };
    for (let i = 0; i < 5; i++) {
      filterGradient('wasm', c, i);
    }
    const after = tf.memory() as tf.MemoryInfo & { numDataBuffers: number };
    assert.equal(after.numTensors, before.numTensors);
    assert.equal(after.numDataBuffers, before.numDataBuffers);
  });

  test('when dilations > 1 or NCHW are asked for, then it throws a clear error', async () => {
    await tf.setBackend('wasm');
    tf.tidy(() => {
      const x = tf.zeros([1, 5, 5, 1]);
      const dy = tf.zeros([1, 5, 5, 1]);
      const attrs = { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, 1, 1] };
      const run = (extra: Record<string, unknown>) =>
        tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, ...extra } as never);
      assert.throws(() => run({ dilations: 2 }), /only dilations of 1/);
      assert.throws(() => run({ dataFormat: 'NCHW' }), /only dataFormat 'NHWC'/);
    });
  });

  test('when a tiny CNN trains on wasm, then its loss falls and no tensor leaks', async () => {
    await tf.setBackend('wasm');
    const numBefore = tf.memory().numTensors;
    const model = tfl.sequential({
      layers: [
        tfl.layers.conv2d({ inputShape: [12, 12, 1], filters: 4, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }) }),
        tfl.layers.conv2d({ filters: 6, kernelSize: 3, padding: 'valid', activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }) }),
        tfl.layers.flatten(),
        tfl.layers.dense({ units: 2, activation: 'softmax', kernelInitializer: tfl.initializers.glorotUniform({ seed: 3 }) }),
      ],
    });
    const optimizer = tf.train.adam(0.01);
    model.compile({ optimizer, loss: 'categoricalCrossentropy' });
    // Two classes: a bright left half or a bright right half.
    const [xs, ys] = tf.tidy(() => {
      const n = 32;
      const noise = tf.mul(tf.tensor4d(randomValues(n * 144, 7), [n, 12, 12, 1]), 0.1);
      const labels = tf.tensor1d(Array.from({ length: n }, (_, i) => i % 2), 'int32');
      const column = tf.reshape(tf.less(tf.range(0, 12), 6), [1, 1, 12, 1]);
      const left = tf.where(column, tf.onesLike(noise), tf.zerosLike(noise));
      const isLeft = tf.reshape(tf.equal(labels, 0), [n, 1, 1, 1]);
      const images = tf.add(tf.where(tf.broadcastTo(isLeft, noise.shape), left, tf.sub(1, left)), noise);
      return [images, tf.cast(tf.oneHot(labels, 2), 'float32')];
    });
    const history = await model.fit(xs, ys, { epochs: 8, batchSize: 8, shuffle: false, verbose: 0 });
    const losses = history.history['loss'] as number[];
    xs.dispose();
    ys.dispose();
    model.dispose();
    optimizer.dispose();
    assert.ok((losses.at(-1) ?? Infinity) < (losses[0] ?? 0) * 0.5, `loss ${losses.join(' → ')}`);
    assert.equal(tf.memory().numTensors, numBefore);
  });
});
