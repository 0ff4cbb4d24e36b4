import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MNIST_PIXELS, countByClass, selectDigits, splitHeldOut } from './digit-set.js';
import { loadPackagedMnist } from './mnist-package.js';

describe('packaged MNIST', () => {
  const set = loadPackagedMnist();

  test('when loaded, then it holds 10,000 labelled digits of 784 pixels in [0, 1]', () => {
    assert.equal(set.count, 10_000);
    assert.equal(set.images.length, 10_000 * MNIST_PIXELS);
    assert.equal(set.labels.length, 10_000);
    assert.deepEqual(countByClass(set.labels), [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]);
    assert.ok(set.images.every((v) => v >= 0 && v <= 1));
  });

  test('when loaded twice, then the order is the same (class 0 first)', () => {
    const again = loadPackagedMnist();
    assert.deepEqual(again.labels, set.labels);
    assert.deepEqual(again.images.subarray(0, 5 * MNIST_PIXELS), set.images.subarray(0, 5 * MNIST_PIXELS));
    assert.equal(set.labels[0], 0);
    assert.equal(set.labels[9999], 9);
  });

  test('when a digit is looked at, then it is white ink on a black border', () => {
    const first = set.images.subarray(0, MNIST_PIXELS);
    const border = [...first.subarray(0, 28), ...first.subarray(27 * 28)];
    assert.ok(border.every((v) => v === 0));
    assert.ok(Math.max(...first) > 0.9);
  });

  test('when split, then exactly the last 100 of each class are held out', () => {
    const { train, test: held } = splitHeldOut(set.labels);
    assert.equal(held.length, 1000);
    assert.equal(train.length, 9000);
    assert.deepEqual(countByClass(selectDigits(set, held).labels), new Array(10).fill(100));
    assert.equal(new Set([...train, ...held]).size, 10_000);
    // Class 0 occupies indices 0–1000, so its held-out digits are 901–1000.
    assert.deepEqual([...held.slice(0, 100)], Array.from({ length: 100 }, (_, i) => 901 + i));
    assert.deepEqual(splitHeldOut(set.labels), { train, test: held });
  });

  test('when digits are selected, then images and labels travel together', () => {
    const picked = selectDigits(set, [9999, 0]);
    assert.deepEqual([...picked.labels], [9, 0]);
    assert.deepEqual(picked.images.subarray(MNIST_PIXELS), set.images.subarray(0, MNIST_PIXELS));
    assert.throws(() => selectDigits(set, [10_000]), /outside/);
  });

  test('when a class is too small to hold out from, then the split refuses', () => {
    assert.throws(() => splitHeldOut(Uint8Array.from([0, 0, 1, 1]), 2), /class 0 has 2 digits/);
  });
});
