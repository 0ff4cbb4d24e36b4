import { gunzipSync } from 'node:zlib';
import { MNIST_CLASSES, MNIST_IMAGE_SIZE, MNIST_PIXELS } from '@mlpl/shared';
import type { DigitSet } from '@mlpl/shared';

/**
 * The IDX format of the MNIST files: a 4-byte magic number — two zero bytes, a type byte and
 * a dimension-count byte — then each dimension as a big-endian uint32, then the data in
 * row-major order (last dimension fastest). The files are usually distributed gzipped.
 */
export const IDX_TYPE_UNSIGNED_BYTE = 0x08;

/** The other type codes the format defines; named in errors, none of them is read here. */
const IDX_OTHER_TYPES: Readonly<Record<number, string>> = {
  0x09: 'signed byte',
  0x0b: 'int16',
  0x0c: 'int32',
  0x0d: 'float32',
  0x0e: 'float64',
};

const GZIP_MAGIC = [0x1f, 0x8b] as const;

/**
 * Upper bound on a decompressed IDX file, in bytes. The largest real one (60,000 training
 * images) is 47,040,016 bytes; the bound stops a gzip bomb before it fills memory.
 */
export const MAX_IDX_BYTES = 64 * 1024 * 1024;

export type IdxArray = {
  /** Sizes of each dimension, outermost first (for images: [count, rows, columns]). */
  dims: number[];
  /** product(dims) unsigned bytes, row-major; a view on the (decompressed) input, not a copy. */
  data: Uint8Array;
};

export type ParseIdxOptions = {
  /** Named in error messages, e.g. the file name. */
  name?: string;
  /** Largest accepted decompressed size in bytes; default MAX_IDX_BYTES. */
  maxBytes?: number;
};

function isGzip(bytes: Uint8Array): boolean {
  return bytes[0] === GZIP_MAGIC[0] && bytes[1] === GZIP_MAGIC[1];
}

function gunzip(bytes: Buffer, label: string, maxBytes: number): Buffer {
  try {
    return gunzipSync(bytes, { maxOutputLength: maxBytes });
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === 'ERR_BUFFER_TOO_LARGE') {
      throw new Error(`${label}: decompresses to more than ${maxBytes} bytes, larger than any IDX file expected here`);
    }
    throw new Error(`${label}: starts like gzip but does not decompress (${(error as Error).message})`);
  }
}

/** Parses an IDX file of unsigned bytes, gzipped or not; throws on anything malformed. */
export function parseIdx(bytes: Buffer, options: ParseIdxOptions = {}): IdxArray {
  const label = options.name ?? 'IDX data';
  const maxBytes = options.maxBytes ?? MAX_IDX_BYTES;
  const raw = isGzip(bytes) ? gunzip(bytes, label, maxBytes) : bytes;
  if (raw.length > maxBytes) {
    throw new Error(`${label}: ${raw.length} bytes, more than the ${maxBytes} accepted`);
  }
  if (raw.length < 4) {
    throw new Error(`${label}: ${raw.length} bytes is too short for the 4-byte IDX magic number`);
  }
  if (raw[0] !== 0 || raw[1] !== 0) {
    const magic = raw.subarray(0, 4).toString('hex');
    throw new Error(`${label}: bad magic number 0x${magic}; an IDX file starts with two zero bytes`);
  }
  const type = raw[2] ?? -1;
  if (type !== IDX_TYPE_UNSIGNED_BYTE) {
    const known = IDX_OTHER_TYPES[type];
    const what = known === undefined ? 'an unknown type' : `${known} data`;
    throw new Error(
      `${label}: unsupported IDX type 0x${type.toString(16).padStart(2, '0')} (${what}); only 0x08, unsigned bytes, is read`,
    );
  }
  const rank = raw[3] ?? 0;
  if (rank === 0) {
    throw new Error(`${label}: declares 0 dimensions; an IDX array needs at least one`);
  }
  const headerBytes = 4 + 4 * rank;
  if (raw.length < headerBytes) {
    throw new Error(
      `${label}: truncated header: ${rank} dimensions need ${headerBytes} bytes, the file has ${raw.length}`,
    );
  }
  const dims: number[] = [];
  // Sizes multiply in float64: exact below 2^53, and a product past that is far above any buffer's
  // length anyway, so the comparisons below stay sound without allocating anything.
  let expected = 1;
  for (let i = 0; i < rank; i++) {
    const size = raw.readUInt32BE(4 + 4 * i);
    dims.push(size);
    expected *= size;
  }
  const actual = raw.length - headerBytes;
  if (actual < expected) {
    throw new Error(
      `${label}: truncated data: dimensions ${dims.join('×')} need ${expected} bytes after the header, the file has ${actual}`,
    );
  }
  if (actual > expected) {
    throw new Error(
      `${label}: ${actual - expected} bytes beyond the ${expected} that dimensions ${dims.join('×')} declare`,
    );
  }
  return { dims, data: new Uint8Array(raw.buffer, raw.byteOffset + headerBytes, expected) };
}

/** Encodes unsigned bytes as an (uncompressed) IDX file: the inverse of parseIdx. */
export function encodeIdx(dims: readonly number[], data: Uint8Array): Buffer {
  if (dims.length === 0 || dims.length > 255) {
    throw new Error(`an IDX array has 1–255 dimensions, not ${dims.length}`);
  }
  const expected = dims.reduce((product, size) => product * size, 1);
  if (data.length !== expected) {
    throw new Error(`dimensions ${dims.join('×')} need ${expected} bytes, got ${data.length}`);
  }
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = IDX_TYPE_UNSIGNED_BYTE;
  header[3] = dims.length;
  dims.forEach((size, i) => header.writeUInt32BE(size, 4 + 4 * i));
  return Buffer.concat([header, data]);
}

/** Reads an IDX file of 28×28 images: count × 784 floats in [0, 1] (byte / 255). */
export function readIdxImages(bytes: Buffer, options: ParseIdxOptions = {}): { images: Float32Array; count: number } {
  const label = options.name ?? 'IDX images';
  const { dims, data } = parseIdx(bytes, { ...options, name: label });
  const [count, rows, columns] = dims;
  if (dims.length !== 3 || count === undefined || rows !== MNIST_IMAGE_SIZE || columns !== MNIST_IMAGE_SIZE) {
    throw new Error(
      `${label}: dimensions ${dims.join('×')} are not images of ${MNIST_IMAGE_SIZE}×${MNIST_IMAGE_SIZE} (expected count×28×28)`,
    );
  }
  const images = new Float32Array(count * MNIST_PIXELS);
  for (let i = 0; i < images.length; i++) {
    images[i] = (data[i] ?? 0) / 255;
  }
  return { images, count };
}

/** Reads an IDX file of class labels: one dimension, every value a class 0–9. */
export function readIdxLabels(bytes: Buffer, options: ParseIdxOptions = {}): { labels: Uint8Array; count: number } {
  const label = options.name ?? 'IDX labels';
  const { dims, data } = parseIdx(bytes, { ...options, name: label });
  const [count] = dims;
  if (dims.length !== 1 || count === undefined) {
    throw new Error(`${label}: dimensions ${dims.join('×')} are not a list of labels (expected 1 dimension)`);
  }
  const bad = data.findIndex((value) => value >= MNIST_CLASSES);
  if (bad >= 0) {
    throw new Error(`${label}: label ${data[bad]} at index ${bad} is not a class 0–${MNIST_CLASSES - 1}`);
  }
  // A copy, so the result does not keep the whole decompressed file alive.
  return { labels: Uint8Array.from(data), count };
}

/**
 * Reads a pair of IDX files (images + labels) into the shape of loadPackagedMnist, so the rest
 * of training treats every source alike. Throws unless both agree on the count.
 */
export function readIdxDigitSet(
  imageBytes: Buffer,
  labelBytes: Buffer,
  names: { images?: string; labels?: string } = {},
): DigitSet {
  const { images, count } = readIdxImages(imageBytes, { name: names.images ?? 'IDX images' });
  const { labels, count: labelCount } = readIdxLabels(labelBytes, { name: names.labels ?? 'IDX labels' });
  if (count !== labelCount) {
    throw new Error(
      `${names.images ?? 'IDX images'} holds ${count} images but ${names.labels ?? 'IDX labels'} holds ${labelCount} labels`,
    );
  }
  return { images, labels, count };
}
