// Pixel arithmetic of the preprocessing, without sharp or I/O: from decoded RGBA to "ink"
// (how much digit each pixel holds, 0..1), its bounding box, and the centre-of-mass placement.
// Images are row-major: pixel (x, y) is at index y * width + x.

/** A single-channel image; what the values mean is stated by whoever returns one. */
export type GreyImage = { width: number; height: number; data: Float32Array };

export type PixelBox = { left: number; top: number; width: number; height: number };

/** Smallest difference from the background, in 8-bit grey levels, that counts as ink at all.
 * An image whose strongest ink is fainter than this is blank (paper grain, JPEG noise). */
export const MIN_INK_CONTRAST = 32;

/** Deviations from the background smaller than this (grey levels) are noise when deciding
 * whether the ink is darker or lighter than the background. */
const POLARITY_NOISE = 8;

/** Rec. 709 luma of 8-bit sRGB values, 0..255. */
function luma(r: number, g: number, b: number): number {
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** Median of values in 0..255, by a 256-bin histogram (values are rounded to a bin). */
function median255(values: Iterable<number>): number {
  const histogram = new Uint32Array(256);
  let count = 0;
  for (const value of values) {
    histogram[Math.min(255, Math.max(0, Math.round(value)))]! += 1;
    count += 1;
  }
  let seen = 0;
  for (let level = 0; level < 256; level++) {
    seen += histogram[level]!;
    if (seen * 2 >= count) return level;
  }
  return 0;
}

/**
 * Grey levels 0..255 of an 8-bit RGBA image, with transparency flattened onto the background the
 * image implies:
 * - mostly transparent (a canvas export: strokes on nothing): the opaque pixels are the ink, so
 *   they go onto white when they are dark and onto black when they are light;
 * - mostly opaque: the opaque pixels hold the background already, so the transparent ones take
 *   the opaque pixels' median grey and disappear into it.
 * Flattening onto a fixed white would turn light strokes on transparency into nothing.
 */
export function flattenToGrey(rgba: Uint8Array, width: number, height: number): Float32Array {
  const count = width * height;
  const grey = new Float32Array(count);
  let transparent = 0;
  let anyTranslucent = false;
  for (let i = 0; i < count; i++) {
    grey[i] = luma(rgba[4 * i]!, rgba[4 * i + 1]!, rgba[4 * i + 2]!);
    const alpha = rgba[4 * i + 3]!;
    if (alpha < 255) anyTranslucent = true;
    if (alpha < 128) transparent += 1;
  }
  if (!anyTranslucent) return grey;

  let background: number;
  if (transparent * 2 >= count) {
    let weighted = 0;
    let weights = 0;
    for (let i = 0; i < count; i++) {
      const alpha = rgba[4 * i + 3]!;
      weighted += alpha * grey[i]!;
      weights += alpha;
    }
    const inkGrey = weights > 0 ? weighted / weights : 0;
    background = inkGrey < 128 ? 255 : 0;
  } else {
    background = median255(opaqueGreys(grey, rgba));
  }
  for (let i = 0; i < count; i++) {
    const alpha = rgba[4 * i + 3]! / 255;
    grey[i] = alpha * grey[i]! + (1 - alpha) * background;
  }
  return grey;
}

function* opaqueGreys(grey: Float32Array, rgba: Uint8Array): Generator<number> {
  for (let i = 0; i < grey.length; i++) if (rgba[4 * i + 3]! >= 128) yield grey[i]!;
}

function* borderValues(image: GreyImage): Generator<number> {
  const { width, height, data } = image;
  for (let x = 0; x < width; x++) {
    yield data[x]!;
    if (height > 1) yield data[(height - 1) * width + x]!;
  }
  for (let y = 1; y < height - 1; y++) {
    yield data[y * width]!;
    if (width > 1) yield data[y * width + width - 1]!;
  }
}

/**
 * Ink in 0..1 (1 = the strongest ink in the image) from grey levels 0..255, or null when the
 * image holds no ink. The background level is the median of the outermost pixel ring (a digit
 * rarely covers most of the border; it may well cover most of the area when cropped tightly).
 * Polarity: the ink is on the side of the background where the pixels deviate most in total,
 * so dark-on-light, light-on-dark and mid-grey backgrounds all come out as light digit on 0.
 */
export function extractInk(grey: GreyImage): GreyImage | null {
  const { data } = grey;
  const background = median255(borderValues(grey));
  let lighter = 0;
  let darker = 0;
  for (let i = 0; i < data.length; i++) {
    const deviation = data[i]! - background;
    if (deviation > POLARITY_NOISE) lighter += deviation;
    else if (deviation < -POLARITY_NOISE) darker -= deviation;
  }
  const sign = lighter >= darker ? 1 : -1;
  const ink = new Float32Array(data.length);
  let peak = 0;
  for (let i = 0; i < data.length; i++) {
    const value = Math.max(0, sign * (data[i]! - background));
    ink[i] = value;
    if (value > peak) peak = value;
  }
  if (peak < MIN_INK_CONTRAST) return null;
  for (let i = 0; i < ink.length; i++) ink[i]! /= peak;
  return { width: grey.width, height: grey.height, data: ink };
}

/** The smallest box holding every pixel above threshold, or null when there is none. */
export function inkBoundingBox(image: GreyImage, threshold: number): PixelBox | null {
  const { width, height, data } = image;
  let left = width;
  let right = -1;
  let top = height;
  let bottom = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (data[y * width + x]! <= threshold) continue;
      if (x < left) left = x;
      if (x > right) right = x;
      if (y < top) top = y;
      if (y > bottom) bottom = y;
    }
  }
  if (right < 0) return null;
  return { left, top, width: right - left + 1, height: bottom - top + 1 };
}

/**
 * Zeroes every 8-connected group of pixels above threshold whose ink (sum of values) is less than
 * minFraction of the ink above threshold in the whole image: JPEG ringing, dust, paper grain.
 * Whole strokes, even ones detached from the rest of the digit, weigh far more.
 */
export function removeSpecks(image: GreyImage, threshold: number, minFraction: number): void {
  const { width, height, data } = image;
  // component[i]: 0 = not visited, otherwise the 1-based number of pixel i's group.
  const component = new Int32Array(data.length);
  const masses: number[] = [];
  const stack: number[] = [];
  let total = 0;
  for (let start = 0; start < data.length; start++) {
    if (component[start] !== 0 || data[start]! <= threshold) continue;
    const label = masses.length + 1;
    let mass = 0;
    component[start] = label;
    stack.push(start);
    while (stack.length > 0) {
      const i = stack.pop()!;
      mass += data[i]!;
      const x = i % width;
      const y = (i - x) / width;
      for (let ny = Math.max(0, y - 1); ny <= Math.min(height - 1, y + 1); ny++) {
        for (let nx = Math.max(0, x - 1); nx <= Math.min(width - 1, x + 1); nx++) {
          const n = ny * width + nx;
          if (component[n] === 0 && data[n]! > threshold) {
            component[n] = label;
            stack.push(n);
          }
        }
      }
    }
    masses.push(mass);
    total += mass;
  }
  const small = masses.map((mass) => mass < minFraction * total);
  if (!small.includes(true)) return;
  for (let i = 0; i < data.length; i++) {
    const label = component[i]!;
    if (label !== 0 && small[label - 1]) data[i] = 0;
  }
}

export function crop(image: GreyImage, box: PixelBox): GreyImage {
  const data = new Float32Array(box.width * box.height);
  for (let y = 0; y < box.height; y++) {
    const from = (box.top + y) * image.width + box.left;
    data.set(image.data.subarray(from, from + box.width), y * box.width);
  }
  return { width: box.width, height: box.height, data };
}

/** The box grown by margin pixels on every side, clipped to a width×height image. */
export function growBox(box: PixelBox, margin: number, width: number, height: number): PixelBox {
  const left = Math.max(0, box.left - margin);
  const top = Math.max(0, box.top - margin);
  const right = Math.min(width, box.left + box.width + margin);
  const bottom = Math.min(height, box.top + box.height + margin);
  return { left, top, width: right - left, height: bottom - top };
}

/** Divides by the maximum so the strongest ink is 1, as in every MNIST digit. */
export function normalisePeak(image: GreyImage): void {
  let peak = 0;
  for (const value of image.data) if (value > peak) peak = value;
  if (peak > 0) for (let i = 0; i < image.data.length; i++) image.data[i]! /= peak;
}

/** Centre of mass in pixel-index coordinates (pixel (x, y) has its centre at x, y). */
export function centreOfMass(image: GreyImage): { x: number; y: number } {
  let sum = 0;
  let sumX = 0;
  let sumY = 0;
  for (let y = 0; y < image.height; y++) {
    for (let x = 0; x < image.width; x++) {
      const value = image.data[y * image.width + x]!;
      sum += value;
      sumX += value * x;
      sumY += value * y;
    }
  }
  if (sum === 0) return { x: (image.width - 1) / 2, y: (image.height - 1) / 2 };
  return { x: sumX / sum, y: sumY / sum };
}

/**
 * A fieldSize×fieldSize field (zeros) with the image pasted so that its centre of mass lands as
 * near as a whole-pixel shift allows to (target, target). Whole pixels: a fractional shift would
 * resample, i.e. blur. The shift is clamped so that no pixel above inkThreshold leaves the field;
 * fainter edge pixels that would fall outside are dropped.
 */
export function placeByCentreOfMass(
  image: GreyImage,
  fieldSize: number,
  target: number,
  inkThreshold: number,
): Float32Array {
  const field = new Float32Array(fieldSize * fieldSize);
  const com = centreOfMass(image);
  const ink = inkBoundingBox(image, inkThreshold) ?? { left: 0, top: 0, width: image.width, height: image.height };
  // Offset of the image's (0, 0) in the field: within [-ink.left, fieldSize - ink right edge].
  const clamp = (offset: number, inkStart: number, inkSize: number) =>
    Math.min(Math.max(offset, -inkStart), fieldSize - inkStart - inkSize);
  const left = clamp(Math.round(target - com.x), ink.left, ink.width);
  const top = clamp(Math.round(target - com.y), ink.top, ink.height);
  for (let y = Math.max(0, -top); y < image.height && top + y < fieldSize; y++) {
    for (let x = Math.max(0, -left); x < image.width && left + x < fieldSize; x++) {
      field[(top + y) * fieldSize + left + x] = image.data[y * image.width + x]!;
    }
  }
  return field;
}
