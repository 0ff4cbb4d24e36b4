/** MNIST's format, which is also the model's input: 28×28 row-major floats in [0, 1], white ink on black. */
export const MNIST_IMAGE_SIZE = 28;
export const MNIST_PIXELS = MNIST_IMAGE_SIZE * MNIST_IMAGE_SIZE;
export const MNIST_CLASSES = 10;

export type DigitSet = {
  /** count × 784 floats in [0, 1], white on black. */
  images: Float32Array;
  /** count class indices, 0–9. */
  labels: Uint8Array;
  count: number;
};

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
