import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  centreOfMass,
  extractInk,
  flattenToGrey,
  inkBoundingBox,
  placeByCentreOfMass,
  removeSpecks,
  type GreyImage,
} from './image-ink.js';

/** RGBA pixels of a width×height image: `paint(x, y)` gives [r, g, b, a]. */
function rgbaImage(width: number, height: number, paint: (x: number, y: number) => number[]): Uint8Array {
  const rgba = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) rgba.set(paint(x, y), (y * width + x) * 4);
  return rgba;
}

function greyImage(width: number, height: number, value: (x: number, y: number) => number): GreyImage {
  const data = new Float32Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data[y * width + x] = value(x, y);
  return { width, height, data };
}

const inSquare = (x: number, y: number) => x >= 4 && x < 8 && y >= 4 && y < 8;

describe('flattenToGrey', () => {
  test('when dark strokes lie on transparency, then the transparency becomes white', () => {
    // Canvas export: transparent pixels are (0, 0, 0, 0), strokes opaque black.
    const rgba = rgbaImage(12, 12, (x, y) => (inSquare(x, y) ? [0, 0, 0, 255] : [0, 0, 0, 0]));
    const grey = flattenToGrey(rgba, 12, 12);
    assert.equal(grey[0], 255);
    assert.equal(grey[5 * 12 + 5], 0);
  });

  test('when light strokes lie on transparency, then the transparency becomes black', () => {
    const rgba = rgbaImage(12, 12, (x, y) => (inSquare(x, y) ? [255, 255, 255, 255] : [255, 255, 255, 0]));
    const grey = flattenToGrey(rgba, 12, 12);
    assert.equal(grey[0], 0);
    assert.equal(grey[5 * 12 + 5], 255);
  });

  test('when an opaque white page has transparent corners, then the corners become white too', () => {
    const rgba = rgbaImage(12, 12, (x, y) => (x + y < 2 ? [0, 0, 0, 0] : inSquare(x, y) ? [0, 0, 0, 255] : [255, 255, 255, 255]));
    const grey = flattenToGrey(rgba, 12, 12);
    assert.equal(grey[0], 255);
  });
});

describe('extractInk', () => {
  test('when ink is darker than a mid-grey background, then it comes out high and the background 0', () => {
    const ink = extractInk(greyImage(12, 12, (x, y) => (inSquare(x, y) ? 40 : 128)));
    assert.ok(ink);
    assert.equal(ink.data[5 * 12 + 5], 1);
    assert.equal(ink.data[0], 0);
  });

  test('when ink is lighter than a mid-grey background, then it comes out high as well', () => {
    const ink = extractInk(greyImage(12, 12, (x, y) => (inSquare(x, y) ? 220 : 128)));
    assert.ok(ink);
    assert.equal(ink.data[5 * 12 + 5], 1);
    assert.equal(ink.data[0], 0);
  });

  test('when the image is one flat grey, then there is no ink', () => {
    assert.equal(extractInk(greyImage(12, 12, () => 77)), null);
  });
});

describe('removeSpecks', () => {
  test('when a lone pixel lies beside a digit, then it goes and a detached stroke stays', () => {
    // A 10×2 bar, a 1×4 detached stroke (20% of the ink), and one faint speck (0.3, about 1%).
    const image = greyImage(20, 20, (x, y) => {
      if (y >= 10 && y < 12 && x >= 5 && x < 15) return 1;
      if (x === 10 && y >= 2 && y < 7) return 1;
      if (x === 0 && y === 19) return 0.3;
      return 0;
    });
    removeSpecks(image, 0.1, 0.02);
    assert.equal(image.data[19 * 20], 0);
    assert.equal(image.data[3 * 20 + 10], 1);
    assert.deepEqual(inkBoundingBox(image, 0.1), { left: 5, top: 2, width: 10, height: 10 });
  });
});

describe('placeByCentreOfMass', () => {
  test('when the mass sits at one edge, then the shift is clamped so no ink leaves the field', () => {
    // 20×20, a heavy bar in column 0 and a thin line along the top: centre of mass near x = 0.
    const image = greyImage(20, 20, (x, y) => (x === 0 ? 1 : y === 0 ? 0.1 : 0));
    const field = placeByCentreOfMass(image, 28, 14, 0.05);
    const sum = (values: Float32Array) => values.reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(sum(field) - sum(image.data)) < 1e-5, 'all ink kept');
    // Unclamped, the left column would go to x = round(14 − 0.87) = 13 and the top line past x = 27.
    const columnHasInk = (x: number) => Array.from({ length: 28 }, (_, y) => field[y * 28 + x]!).some((v) => v > 0);
    assert.ok(columnHasInk(8) && !columnHasInk(7), 'the bar at x = 8');
    assert.ok(columnHasInk(27), 'the top line ends at the right edge');
  });

  test('when the image is symmetric, then its centre of mass lands on the target', () => {
    const image = greyImage(5, 5, (x, y) => (x === 2 || y === 2 ? 1 : 0));
    const field = placeByCentreOfMass(image, 28, 14, 0.1);
    assert.deepEqual(centreOfMass({ width: 28, height: 28, data: field }), { x: 14, y: 14 });
  });
});
