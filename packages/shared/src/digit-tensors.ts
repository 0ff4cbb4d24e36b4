import * as tf from '@tensorflow/tfjs-core';
import { MNIST_CLASSES, MNIST_IMAGE_SIZE, MNIST_PIXELS } from './digit-set.js';

/** mulberry32: a small seeded generator, so samples, orders and shifts repeat run to run. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/**
 * Copies digit `index` of `source` into slot `target` of `out` moved by (dx, dy) pixels;
 * what moves out of the 28×28 field is dropped, what moves in is black (0).
 */
export function copyShiftedDigit(source: Float32Array, index: number, out: Float32Array, target: number, dx: number, dy: number): void {
  for (let y = 0; y < MNIST_IMAGE_SIZE; y++) {
    const sy = y - dy;
    if (sy < 0 || sy >= MNIST_IMAGE_SIZE) continue;
    for (let x = 0; x < MNIST_IMAGE_SIZE; x++) {
      const sx = x - dx;
      if (sx < 0 || sx >= MNIST_IMAGE_SIZE) continue;
      out[target * MNIST_PIXELS + y * MNIST_IMAGE_SIZE + x] = source[index * MNIST_PIXELS + sy * MNIST_IMAGE_SIZE + sx] ?? 0;
    }
  }
}

/** Digits and labels as model input [n,28,28,1] and one-hot targets [n,10]; the caller disposes both. */
export function digitTensors(images: Float32Array, labels: Uint8Array): { xs: tf.Tensor4D; ys: tf.Tensor2D } {
  return tf.tidy(() => ({
    xs: tf.tensor4d(images, [labels.length, MNIST_IMAGE_SIZE, MNIST_IMAGE_SIZE, 1]),
    ys: tf.cast(tf.oneHot(tf.tensor1d(labels, 'int32'), MNIST_CLASSES), 'float32') as tf.Tensor2D,
  }));
}
