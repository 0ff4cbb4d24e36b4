import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { MNIST_PIXELS, getObjectBytes, preprocessImage, sha256Hex, writeAtomically } from '@mlpl/shared';
import type { DigitSet, Storage } from '@mlpl/shared';
import { mapLimited } from './map-limited.js';

/** What the cache needs to know of an image: where it is stored and what its bytes hash to. */
export type CachedImageRef = { objectKey: string; sha256: string };

export type ImageCache = {
  /** The image's bytes: from the folder when present and intact, else from storage (then kept). */
  bytes(ref: CachedImageRef): Promise<Buffer>;
  /** The model's input for the image: 784 floats from `preprocessImage`, kept in memory (least recently used go first). Callers must not change it. */
  input(ref: CachedImageRef): Promise<Float32Array>;
  /** Requests made to storage so far: what the cache saves is visible in logs and tests. */
  readonly fetches: number;
};

const SHA256_PATTERN = /^[0-9a-f]{64}$/;

/** Preprocessed inputs kept in memory: 784 floats (3 KiB) each, so 20,000 take about 63 MB. */
export const DEFAULT_MEMO_LIMIT = 20_000;

/**
 * A folder of image bytes keyed by their SHA-256 (`<dir>/<aa>/<sha256>.bin`), in front of the
 * images bucket. Bytes from storage are checked against the hash the database recorded
 * before they are kept, and cached bytes are checked again when read, so a corrupt file is
 * fetched anew instead of trained on. Content addressing makes entries immutable: the
 * cache never needs invalidating.
 */
export function createImageCache(storage: Storage, dir: string, options: { memoLimit?: number } = {}): ImageCache {
  const memoLimit = options.memoLimit ?? DEFAULT_MEMO_LIMIT;
  // Inputs by SHA-256, oldest first: a cycle reads the same test set every time, so keeping
  // the preprocessed floats spares decoding them again (sharp is most of a warm load).
  const memo = new Map<string, Float32Array>();
  let fetches = 0;
  const fileOf = (sha256: string) => path.join(dir, sha256.slice(0, 2), `${sha256}.bin`);

  async function bytes(ref: CachedImageRef): Promise<Buffer> {
    if (!SHA256_PATTERN.test(ref.sha256)) throw new Error(`image ${ref.objectKey}: ${ref.sha256} is not a sha256 hex digest`);
    const file = fileOf(ref.sha256);
    try {
      const cached = await readFile(file);
      if (sha256Hex(cached) === ref.sha256) return cached;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    fetches++;
    const fetched = await getObjectBytes(storage, storage.settings.imagesBucket, ref.objectKey);
    const actual = sha256Hex(fetched);
    if (actual !== ref.sha256) {
      throw new Error(`image ${ref.objectKey}: storage holds bytes with SHA-256 ${actual}, the database recorded ${ref.sha256}`);
    }
    await mkdir(path.dirname(file), { recursive: true });
    await writeAtomically(file, fetched);
    return fetched;
  }

  return {
    bytes,
    async input(ref) {
      const kept = memo.get(ref.sha256);
      if (kept !== undefined) {
        memo.delete(ref.sha256);
        memo.set(ref.sha256, kept);
        return kept;
      }
      const input = await preprocessImage(await bytes(ref));
      if (memoLimit > 0) {
        memo.set(ref.sha256, input);
        if (memo.size > memoLimit) memo.delete(memo.keys().next().value as string);
      }
      return input;
    },
    get fetches() {
      return fetches;
    },
  };
}

/** Loads labelled images through the cache into a DigitSet, in the order given. */
export async function loadDigitSet(
  cache: ImageCache,
  rows: readonly (CachedImageRef & { label: number })[],
  options: { concurrency?: number } = {},
): Promise<DigitSet> {
  const inputs = await mapLimited(rows, options.concurrency ?? 16, (row) => cache.input(row));
  const images = new Float32Array(rows.length * MNIST_PIXELS);
  inputs.forEach((input, i) => images.set(input, i * MNIST_PIXELS));
  return { images, labels: Uint8Array.from(rows, (row) => row.label), count: rows.length };
}
