import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import { countByClass } from '@mlpl/shared';
import { encodeIdx, parseIdx, readIdxDigitSet, readIdxImages, readIdxLabels } from './idx.js';
import { requireFashionFile } from './test-support.js';

/** A raw IDX header + data, byte by byte, for the malformed cases. */
function idx(type: number, dims: number[], dataBytes: number): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = type;
  header[3] = dims.length;
  dims.forEach((size, i) => header.writeUInt32BE(size, 4 + 4 * i));
  return Buffer.concat([header, Buffer.alloc(dataBytes, 7)]);
}

describe('IDX on the real Fashion-MNIST test files (Debian dataset-fashion-mnist)', () => {
  const imagesGz = readFileSync(requireFashionFile('t10k-images-idx3-ubyte.gz'));
  const labelsGz = readFileSync(requireFashionFile('t10k-labels-idx1-ubyte.gz'));

  it('when the gzipped images are parsed, then there are 10,000 of 28×28 bytes', () => {
    const started = performance.now();
    const { dims, data } = parseIdx(imagesGz, { name: 't10k-images' });
    const ms = performance.now() - started;
    assert.deepEqual(dims, [10_000, 28, 28]);
    assert.equal(data.length, 7_840_000);
    console.log(`# parseIdx t10k-images (gzipped, 10,000 images): ${ms.toFixed(0)} ms`);
  });

  it('when the gzipped labels are parsed, then there are 10,000, 1,000 per class, in the published order', () => {
    const { dims, data } = parseIdx(labelsGz);
    assert.deepEqual(dims, [10_000]);
    assert.deepEqual(countByClass(data), new Array(10).fill(1_000));
    // First and last labels, as Python's gzip module reads the same file (9 = ankle boot).
    assert.deepEqual([...data.subarray(0, 10)], [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]);
    assert.deepEqual([...data.subarray(-5)], [9, 1, 8, 1, 5]);
  });

  it('when the pair is read as a digit set, then pixels are in [0, 1] with the known sums and mean', () => {
    const started = performance.now();
    const set = readIdxDigitSet(imagesGz, labelsGz, { images: 't10k-images', labels: 't10k-labels' });
    const ms = performance.now() - started;
    console.log(`# readIdxDigitSet t10k (10,000 images + labels to floats): ${ms.toFixed(0)} ms`);
    assert.equal(set.count, 10_000);
    assert.equal(set.images.length, 10_000 * 784);
    assert.equal(set.labels.length, 10_000);
    let min = Infinity;
    let max = -Infinity;
    let sum = 0;
    for (const value of set.images) {
      min = Math.min(min, value);
      max = Math.max(max, value);
      sum += value;
    }
    assert.equal(min, 0);
    assert.equal(max, 1);
    // Reference values computed independently with Python's gzip module on the same file.
    assert.ok(Math.abs(sum / set.images.length - 0.286849) < 1e-5, `mean ${sum / set.images.length}`);
    const imageSum = (index: number) =>
      Math.round(set.images.subarray(index * 784, (index + 1) * 784).reduce((a, b) => a + b * 255, 0));
    assert.equal(imageSum(0), 33_456);
    assert.equal(imageSum(9_999), 24_390);
    const row14 = [...set.images.subarray(14 * 28, 15 * 28)].map((v) => Math.round(v * 255));
    assert.deepEqual(row14.slice(10, 16), [0, 0, 98, 136, 110, 109]);
    // The garments are centred: the top-left pixel is dark in (almost) every image.
    let corner = 0;
    for (let i = 0; i < set.count; i++) corner += set.images[i * 784] ?? 0;
    assert.ok(corner * 255 < 100, `corner pixels sum to ${corner * 255}`);
  });

  it('when the same file is given uncompressed, then the result is identical', () => {
    const fromGzip = parseIdx(labelsGz);
    const fromRaw = parseIdx(gunzipSync(labelsGz));
    assert.deepEqual(fromRaw.dims, fromGzip.dims);
    assert.deepEqual(fromRaw.data, fromGzip.data);
  });

  it('when images and labels are swapped, then each reader says what it expected', () => {
    assert.throws(
      () => readIdxImages(labelsGz, { name: 'labels file' }),
      /labels file: dimensions 10000 are not images of 28×28/,
    );
    assert.throws(
      () => readIdxLabels(imagesGz, { name: 'images file' }),
      /images file: dimensions 10000×28×28 are not a list of labels/,
    );
  });
});

describe('IDX refusals', () => {
  it('when the magic number does not start with two zero bytes, then it is a bad magic number', () => {
    const bytes = idx(0x08, [2], 2);
    bytes[0] = 0x50;
    assert.throws(() => parseIdx(bytes, { name: 'x.idx' }), /x\.idx: bad magic number 0x50000801/);
    assert.throws(() => parseIdx(Buffer.from([0, 0, 8])), /too short for the 4-byte IDX magic/);
    assert.throws(() => parseIdx(Buffer.alloc(0)), /0 bytes is too short/);
  });

  it('when the type is not unsigned bytes, then the type is named as unsupported', () => {
    assert.throws(() => parseIdx(idx(0x0d, [2], 8)), /unsupported IDX type 0x0d \(float32 data\); only 0x08/);
    assert.throws(() => parseIdx(idx(0x09, [2], 2)), /unsupported IDX type 0x09 \(signed byte data\)/);
    assert.throws(() => parseIdx(idx(0x42, [2], 2)), /unsupported IDX type 0x42 \(an unknown type\)/);
  });

  it('when there are no dimensions or the header stops short, then it says so', () => {
    assert.throws(() => parseIdx(idx(0x08, [], 0)), /declares 0 dimensions/);
    const short = idx(0x08, [10, 28, 28], 0).subarray(0, 10);
    assert.throws(() => parseIdx(short), /truncated header: 3 dimensions need 16 bytes, the file has 10/);
  });

  it('when the data is shorter than the dimensions promise, then it is truncated', () => {
    assert.throws(
      () => parseIdx(idx(0x08, [3, 28, 28], 3 * 784 - 1)),
      /truncated data: dimensions 3×28×28 need 2352 bytes after the header, the file has 2351/,
    );
    // A gzipped file cut short is refused too (zlib reports the unexpected end).
    const gz = gzipSync(idx(0x08, [3, 28, 28], 3 * 784));
    assert.throws(() => parseIdx(gz.subarray(0, gz.length - 12)), /starts like gzip but does not decompress/);
  });

  it('when there are more bytes than the dimensions declare, then it is refused', () => {
    assert.throws(() => parseIdx(idx(0x08, [4], 5)), /1 bytes beyond the 4 that dimensions 4 declare/);
  });

  it('when dimensions declare more than the bound, then it is refused before anything is allocated', () => {
    assert.throws(() => parseIdx(idx(0x08, [0xffffffff, 0xffffffff, 28], 16)), /truncated data/);
    assert.throws(() => parseIdx(idx(0x08, [100], 100), { maxBytes: 50 }), /108 bytes, more than the 50 accepted/);
  });

  it('when gzip input decompresses beyond the bound, then it stops at the bound (gzip bomb)', () => {
    const bomb = gzipSync(Buffer.alloc(8 * 1024 * 1024));
    assert.ok(bomb.length < 16 * 1024);
    assert.throws(
      () => parseIdx(bomb, { name: 'bomb.gz', maxBytes: 1024 * 1024 }),
      /bomb\.gz: decompresses to more than 1048576 bytes/,
    );
  });

  it('when gzip magic is followed by garbage, then it says the gzip does not decompress', () => {
    assert.throws(
      () => parseIdx(Buffer.from([0x1f, 0x8b, 1, 2, 3, 4, 5, 6])),
      /starts like gzip but does not decompress/,
    );
  });

  it('when images are not 28×28 or labels are out of range or counts differ, then the pair is refused', () => {
    const images = (count: number, rows = 28, columns = 28) =>
      encodeIdx([count, rows, columns], new Uint8Array(count * rows * columns));
    const labels = (values: number[]) => encodeIdx([values.length], Uint8Array.from(values));
    assert.throws(() => readIdxImages(images(2, 27, 28)), /IDX images: dimensions 2×27×28 are not images of 28×28/);
    assert.throws(() => readIdxImages(encodeIdx([2, 784], new Uint8Array(2 * 784))), /dimensions 2×784 are not images/);
    assert.throws(
      () => readIdxLabels(encodeIdx([2, 1], Uint8Array.from([1, 2]))),
      /dimensions 2×1 are not a list of labels/,
    );
    assert.throws(() => readIdxLabels(labels([3, 9, 10])), /label 10 at index 2 is not a class 0–9/);
    assert.throws(
      () => readIdxDigitSet(images(3), labels([1, 2]), { images: 'a.idx', labels: 'b.idx' }),
      /a\.idx holds 3 images but b\.idx holds 2 labels/,
    );
  });

  it('when a set is encoded and read back, then bytes become floats byte / 255', () => {
    const pixels = new Uint8Array(2 * 784).map((_, i) => i % 256);
    const set = readIdxDigitSet(gzipSync(encodeIdx([2, 28, 28], pixels)), encodeIdx([2], Uint8Array.from([0, 9])));
    assert.equal(set.count, 2);
    assert.deepEqual([...set.labels], [0, 9]);
    assert.equal(set.images[255], 1);
    assert.equal(set.images[256], 0);
    assert.ok(Math.abs((set.images[100] ?? -1) - 100 / 255) < 1e-7);
    assert.throws(() => encodeIdx([2, 2], new Uint8Array(3)), /dimensions 2×2 need 4 bytes, got 3/);
  });
});
