import sharp from 'sharp';
import {
  contentAddressedKey,
  countBaseImages,
  insertBaseImages,
  MNIST_IMAGE_SIZE,
  MNIST_PIXELS,
  putObject,
  registeredSourceIndexes,
  sha256Hex,
} from '@mlpl/shared';
import type { DigitSet, Logger, NewBaseImageRow, Pool, Storage } from '@mlpl/shared';
import { mapLimited } from './map-limited.js';
import type { BaseDataset } from './mnist-source.js';

/** Rows per bulk INSERT, and images uploaded before each insert. */
export const DEFAULT_REGISTRATION_BATCH_SIZE = 500;

/** Uploads in flight at once: small objects, so latency, not bandwidth, is the limit. */
export const DEFAULT_REGISTRATION_CONCURRENCY = 16;

export const BASE_SPLITS = ['train', 'test'] as const;
export type BaseSplit = (typeof BASE_SPLITS)[number];

export type RegistrationProgress = {
  source: string;
  split: BaseSplit;
  /** Images of this split registered so far, earlier runs included. */
  done: number;
  /** Images in this split. */
  total: number;
  /** New images per second in this run, all splits together. */
  imagesPerSecond: number;
};

export type RegistrationOptions = {
  /** Default DEFAULT_REGISTRATION_BATCH_SIZE. */
  batchSize?: number;
  /** Default DEFAULT_REGISTRATION_CONCURRENCY. */
  concurrency?: number;
  /** Called after every batch is in the database; a throw stops the registration there. */
  onProgress?: (progress: RegistrationProgress) => void;
  /** Stops between batches: what is registered stays, the next call carries on. */
  signal?: AbortSignal;
};

export type RegistrationDeps = {
  pool: Pool;
  storage: Storage;
  logger: Pick<Logger, 'info' | 'warn'>;
};

export type RegistrationResult = {
  source: string;
  /** Images registered by this call. */
  registered: number;
  /** Images found registered already (an earlier, maybe interrupted, call). */
  skipped: number;
  seconds: number;
};

export const BASE_IMAGE_CONTENT_TYPE = 'image/png';

/**
 * One digit as a 28×28 single-channel PNG. Bytes are deterministic for given pixels (no
 * timestamps, fixed settings), so the content-addressed key of a digit is stable across runs.
 * Pixels are floats in [0, 1] quantised to 0–255.
 */
export async function encodeDigitPng(set: DigitSet, index: number): Promise<Buffer> {
  const pixels = new Uint8Array(MNIST_PIXELS);
  const offset = index * MNIST_PIXELS;
  for (let i = 0; i < MNIST_PIXELS; i++) pixels[i] = Math.round((set.images[offset + i] ?? 0) * 255);
  return sharp(pixels, { raw: { width: MNIST_IMAGE_SIZE, height: MNIST_IMAGE_SIZE, channels: 1 } })
    .toColourspace('b-w')
    .png({ compressionLevel: 9, adaptiveFiltering: false, palette: false })
    .toBuffer();
}

/**
 * True when the database holds fewer base images of `source` than expected (default: none
 * at all). Rows are written only after their object, so rows stand for objects too.
 */
export async function needsRegistration(pool: Pool, source: string, expectedCount = 1): Promise<boolean> {
  return (await countBaseImages(pool, source)) < expectedCount;
}

/**
 * Puts every image of the base data not yet registered into storage (content-addressed PNG)
 * and the database (a row with label, split, source and source index). Resumable: the rows
 * already present are skipped, and a unique key on (source, split, source_index) turns a
 * race with another registrar into a no-op. An object is always stored before its row, so a
 * row never points at a missing object; an interrupted batch leaves at most orphan objects,
 * which the next run writes again under the same keys. Nothing is ever deleted.
 */
export async function registerBaseDataset(
  deps: RegistrationDeps,
  dataset: BaseDataset,
  options: RegistrationOptions = {},
): Promise<RegistrationResult> {
  const batchSize = options.batchSize ?? DEFAULT_REGISTRATION_BATCH_SIZE;
  const concurrency = options.concurrency ?? DEFAULT_REGISTRATION_CONCURRENCY;
  if (!(Number.isInteger(batchSize) && batchSize > 0)) throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
  if (!(Number.isInteger(concurrency) && concurrency > 0)) {
    throw new RangeError(`concurrency must be a positive integer, got ${concurrency}`);
  }
  const bucket = deps.storage.settings.imagesBucket;
  const started = performance.now();
  const elapsedSeconds = () => (performance.now() - started) / 1000;
  let registered = 0;
  let skipped = 0;

  for (const split of BASE_SPLITS) {
    const set = dataset[split];
    const present = await registeredSourceIndexes(deps.pool, dataset.source, split);
    const pending: number[] = [];
    for (let index = 0; index < set.count; index++) if (!present.has(index)) pending.push(index);
    skipped += set.count - pending.length;
    let done = set.count - pending.length;
    if (pending.length > 0) {
      deps.logger.info(
        { source: dataset.source, split, total: set.count, already: done, pending: pending.length },
        'registering base images',
      );
    }

    for (let start = 0; start < pending.length; start += batchSize) {
      options.signal?.throwIfAborted();
      const batch = pending.slice(start, start + batchSize);
      // Uploads finish in any order; the rows come in the batch's, so the ids follow the source order.
      const rows = await mapLimited(batch, concurrency, async (index): Promise<NewBaseImageRow> => {
        const png = await encodeDigitPng(set, index);
        const sha256 = sha256Hex(png);
        const objectKey = contentAddressedKey(sha256, 'png');
        // A plain PUT: the same key always holds the same bytes, so rewriting is harmless, and
        // one request is cheaper than a stat followed by a PUT for objects this small.
        await putObject(deps.storage, bucket, objectKey, png, BASE_IMAGE_CONTENT_TYPE);
        return {
          objectKey,
          sha256,
          contentType: BASE_IMAGE_CONTENT_TYPE,
          byteSize: png.length,
          width: MNIST_IMAGE_SIZE,
          height: MNIST_IMAGE_SIZE,
          label: set.labels[index] ?? Number.NaN,
          source: dataset.source,
          split,
          sourceIndex: index,
        };
      });
      const inserted = await insertBaseImages(deps.pool, rows);
      registered += inserted;
      // Rows another registrar inserted meanwhile count as skipped, not as ours.
      skipped += batch.length - inserted;
      done += batch.length;
      const progress: RegistrationProgress = {
        source: dataset.source,
        split,
        done,
        total: set.count,
        imagesPerSecond: Math.round(registered / Math.max(elapsedSeconds(), 1e-3)),
      };
      deps.logger.info(progress, 'base images registered');
      options.onProgress?.(progress);
    }
  }

  const result: RegistrationResult = { source: dataset.source, registered, skipped, seconds: elapsedSeconds() };
  deps.logger.info(
    { ...result, seconds: Math.round(result.seconds * 10) / 10 },
    registered > 0 ? 'base data registration finished' : 'base data already registered',
  );
  return result;
}
