// How alike two 28×28 digits (784 floats, 0..1) are, for tests of the preprocessing. Centring is
// by whole pixels, so a centre of mass lying near a half pixel can round either way: the
// comparison allows the digits to be re-aligned by up to maxShift pixels, and centring is
// checked separately, exactly, by centreOfMassError.

import { centreOfMass } from '../image-ink.js';
import { MNIST_IMAGE_SIZE } from '../digit-set.js';
import { CENTRE_OF_MASS_TARGET } from '../preprocess.js';

export type DigitComparison = {
  /** Mean over the 784 pixels of |actual − expected|, at the best shift. */
  meanAbsoluteError: number;
  /** Pearson correlation of the pixel values at that shift: 1 same shape, ≤ 0 unrelated or inverted. */
  correlation: number;
  /** Shift of actual (pixels, right and down) that matched best. */
  shift: { x: number; y: number };
};

function shifted(image: ArrayLike<number>, dx: number, dy: number): Float32Array {
  const out = new Float32Array(MNIST_IMAGE_SIZE * MNIST_IMAGE_SIZE);
  for (let y = 0; y < MNIST_IMAGE_SIZE; y++) {
    for (let x = 0; x < MNIST_IMAGE_SIZE; x++) {
      const fromX = x - dx;
      const fromY = y - dy;
      if (fromX < 0 || fromX >= MNIST_IMAGE_SIZE || fromY < 0 || fromY >= MNIST_IMAGE_SIZE) continue;
      out[y * MNIST_IMAGE_SIZE + x] = image[fromY * MNIST_IMAGE_SIZE + fromX]!;
    }
  }
  return out;
}

function meanAbsoluteError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! - b[i]!);
  return sum / a.length;
}

function correlation(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  let meanA = 0;
  let meanB = 0;
  for (let i = 0; i < n; i++) {
    meanA += a[i]!;
    meanB += b[i]!;
  }
  meanA /= n;
  meanB /= n;
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < n; i++) {
    const da = a[i]! - meanA;
    const db = b[i]! - meanB;
    ab += da * db;
    aa += da * da;
    bb += db * db;
  }
  return aa === 0 || bb === 0 ? 0 : ab / Math.sqrt(aa * bb);
}

/** Compares two 784-float digits at the whole-pixel shift (|dx|, |dy| ≤ maxShift) that fits best. */
export function compareDigits(actual: ArrayLike<number>, expected: ArrayLike<number>, maxShift = 1): DigitComparison {
  let best: DigitComparison | null = null;
  for (let dy = -maxShift; dy <= maxShift; dy++) {
    for (let dx = -maxShift; dx <= maxShift; dx++) {
      const moved = shifted(actual, dx, dy);
      const error = meanAbsoluteError(moved, expected);
      if (best === null || error < best.meanAbsoluteError) {
        best = { meanAbsoluteError: error, correlation: correlation(moved, expected), shift: { x: dx, y: dy } };
      }
    }
  }
  return best!;
}

/** Largest distance, on either axis (pixels), of a digit's centre of mass from where MNIST puts it.
 * At most 0.5 for every MNIST digit and for every output of preprocessImage. */
export function centreOfMassError(digit: ArrayLike<number>): number {
  const com = centreOfMass({ width: MNIST_IMAGE_SIZE, height: MNIST_IMAGE_SIZE, data: Float32Array.from(digit) });
  return Math.max(Math.abs(com.x - CENTRE_OF_MASS_TARGET), Math.abs(com.y - CENTRE_OF_MASS_TARGET));
}
