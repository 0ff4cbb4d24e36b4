import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RowDataPacket } from 'mysql2/promise';
import { contentAddressedKey, FEEDBACK_SOURCE, insertImage, MNIST_PIXELS, putObject, selectDigits } from '@mlpl/shared';
import type { DigitSet, Pool, Storage } from '@mlpl/shared';
import { renderDigitPng } from '@mlpl/shared/testing';
import { DEFAULT_FASHION_MNIST_DIR, loadPackagedBaseDataset } from './mnist-source.js';
import type { BaseDataset } from './mnist-source.js';
import { registerBaseDataset } from './registration.js';

/**
 * Path of one of the Fashion-MNIST IDX files Debian's `dataset-fashion-mnist` installs. The
 * tests on real IDX data need it, and .ci/run installs it, so its absence is a failure with
 * the fix in the message, never a silent skip.
 */
export function requireFashionFile(name: string): string {
  const file = path.join(DEFAULT_FASHION_MNIST_DIR, name);
  if (!existsSync(file)) {
    throw new Error(
      `${file} is missing: the IDX tests read real files from Debian's package dataset-fashion-mnist; ` +
        'install it with `apt-get install -y dataset-fashion-mnist` (.ci/run does so)',
    );
  }
  return file;
}

export const PRETRAINED_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'pretrained');

export const silent = { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined };

/** Every `step`-th digit from `offset`, so a small slice still holds every class (the sets are ordered by class). */
export function spread(set: DigitSet, count: number, offset = 0): DigitSet {
  const step = Math.floor(set.count / count);
  return selectDigits(set, Array.from({ length: count }, (_, i) => offset + i * step));
}

/**
 * Adds digits of `set` as feedback, as the webapp would: the PNG object, then the row. `label`
 * overrides the true label (a correction that is wrong, or a class test). Returns the row ids.
 */
export async function addFeedback(
  pool: Pool,
  storage: Storage,
  set: DigitSet,
  indices: readonly number[],
  label?: (index: number) => number,
): Promise<number[]> {
  const ids: number[] = [];
  for (const i of indices) {
    const png = await renderDigitPng(set.images.subarray(i * MNIST_PIXELS, (i + 1) * MNIST_PIXELS));
    const sha256 = createHash('sha256').update(png).digest('hex');
    const objectKey = contentAddressedKey(sha256, 'png');
    await putObject(storage, storage.settings.imagesBucket, objectKey, png, 'image/png');
    ids.push(
      await insertImage(pool, {
        objectKey,
        sha256,
        contentType: 'image/png',
        byteSize: png.length,
        width: 28,
        height: 28,
        label: label?.(i) ?? set.labels[i] ?? 0,
        source: FEEDBACK_SOURCE,
        split: null,
        predictionId: null,
        predictedDigit: null,
        modelVersion: 'pretrained-1',
      }),
    );
  }
  return ids;
}

/** `used_in_run` of every feedback row, oldest first. */
export async function feedbackUsage(pool: Pool): Promise<(number | null)[]> {
  const [rows] = await pool.query<RowDataPacket[]>("SELECT used_in_run FROM images WHERE source = 'feedback' ORDER BY id");
  return rows.map((row) => (row.used_in_run === null ? null : Number(row.used_in_run)));
}

/** Registers a small, class-balanced slice of the packaged digits: `train` + `test` images. */
export async function registerSlice(pool: Pool, storage: Storage, train: number, test: number): Promise<BaseDataset> {
  const full = loadPackagedBaseDataset();
  const slice: BaseDataset = { source: full.source, train: spread(full.train, train), test: spread(full.test, test) };
  await registerBaseDataset({ pool, storage, logger: silent }, slice);
  return full;
}
