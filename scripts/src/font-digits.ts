import { existsSync } from 'node:fs';
import sharp from 'sharp';
import { seededRandom } from '@mlpl/shared';

/**
 * Digits that are not MNIST: 0–9 rendered from handwriting fonts that Debian packages ship,
 * each variant bent by a seeded augmentation (rotation, slant, stroke width, size, position,
 * noise) and sent as the draw page sends a drawing: a 448×448 PNG of #111111 ink on white
 * paper (services/webapp/public/app.js). For the learning-curve bench and its test: digits
 * the pretrained model has never seen the like of, which people would correct.
 */

export type HandwritingFont = {
  /** Pango's family name, as `fc-scan --format '%{family[0]}'` prints it for the file. */
  family: string;
  file: string;
  /** The Debian package that installs `file`. */
  aptPackage: string;
};

/**
 * Chosen by eye from a contact sheet of Debian's handwriting and script fonts: digits that
 * look written, in styles that differ. Left out: outline or sketch fonts (femkeklaver, Cabin
 * Sketch: hollow strokes), plain or calligraphic ones (Andika, Comic Neue, Isabella, Purisa,
 * Rufscript, Leckerli One), faint ones (Ecolier), and the large CJK packages with Latin digits
 * (fonts-klee 64 MB, fonts-kiloji 10 MB, fonts-yusei-magic 8 MB).
 */
export const HANDWRITING_FONTS: readonly HandwritingFont[] = [
  { family: 'DkgHandwriting', file: '/usr/share/fonts/truetype/fifthhorseman/dkg.ttf', aptPackage: 'fonts-dkg-handwriting' },
  { family: 'Breip', file: '/usr/share/fonts/truetype/breip/Breip.ttf', aptPackage: 'fonts-breip' },
  { family: 'Because We Learn', file: '/usr/share/fonts/opentype/bwht/BecauseWeLearn-Regular.otf', aptPackage: 'fonts-bwht' },
  { family: 'Because We Organize', file: '/usr/share/fonts/opentype/bwht/BecauseWeOrganize-Regular.otf', aptPackage: 'fonts-bwht' },
  { family: 'Dancing Script', file: '/usr/share/fonts/opentype/dancingscript/DancingScript-Regular.otf', aptPackage: 'fonts-dancingscript' },
  { family: 'Humor Sans', file: '/usr/share/fonts/truetype/humor-sans/Humor-Sans.ttf', aptPackage: 'fonts-humor-sans' },
  { family: 'Kaushan Script', file: '/usr/share/fonts/opentype/kaushanscript/KaushanScript-Regular.otf', aptPackage: 'fonts-kaushanscript' },
  { family: 'Kristi', file: '/usr/share/fonts/truetype/kristi/Kristi.ttf', aptPackage: 'fonts-kristi' },
  { family: 'Tomson Talks', file: '/usr/share/fonts/truetype/tomsontalks/TomsonTalks.ttf', aptPackage: 'fonts-tomsontalks' },
  { family: 'Havana', file: '/usr/share/fonts/opentype/havana/Havana-Regular.otf', aptPackage: 'fonts-havana' },
  { family: 'Delphine', file: '/usr/share/fonts/truetype/sjfonts/Delphine.ttf', aptPackage: 'fonts-sjfonts' },
  { family: 'Steve', file: '/usr/share/fonts/truetype/sjfonts/SteveHand.ttf', aptPackage: 'fonts-sjfonts' },
];

/** The Debian packages HANDWRITING_FONTS come from: what `apt-get install` needs for this set. */
export const FONT_PACKAGES: readonly string[] = [...new Set(HANDWRITING_FONTS.map((font) => font.aptPackage))];

/** The page's canvas: 448×448 (index.html), ink #111111 on #ffffff paper (app.js). */
export const CANVAS_SIDE = 448;
const INK_GREY = 0x11;
const PAPER_GREY = 0xff;

/**
 * Point size the glyphs are rendered at (pango at 72 dpi: points = pixels); a digit comes out
 * 50–150 px tall, enough for the stroke-width steps below to be fine-grained, small enough for
 * the morphology in JavaScript to be cheap.
 */
const GLYPH_POINTS = 140;

/** The augmentation's ranges; each variant draws each uniformly from its range. */
export const AUGMENTATION = {
  /** Degrees either way. */
  rotation: 15,
  /** Horizontal shear (x += slant · y) either way: handwriting leans. */
  slant: 0.15,
  /**
   * Stroke width as a fraction of the digit's height, the font's own width thinned (erosion)
   * or thickened (dilation) towards it. The page's pen (a tenth of the canvas) on a digit
   * two thirds of the canvas tall gives 0.15; MNIST's 2–3 px strokes on 20 px, 0.1–0.15.
   */
  stroke: [0.06, 0.16],
  /** Width ÷ height, relative to the font's. */
  aspect: [0.85, 1.15],
  /** Digit height as a fraction of the canvas side, before rotation (the page's digits are drawn across most of it). */
  height: [0.45, 0.8],
  /** Standard deviation of the grey noise on every pixel, in 8-bit levels. */
  noise: [0, 12],
} as const;

/**
 * Erosion stops before a stroke could break: never below this share of the glyph's ink.
 * A thin script font (Kristi) loses most of its ink in one step and is then left as it is.
 */
const MIN_INK_KEPT_BY_EROSION = 0.6;

export type FontDigit = {
  /** Position in the set: an id for messages. */
  index: number;
  label: number;
  /** The font's family name. */
  font: string;
  /** Which of the font's variants of this digit, 0-based. */
  variant: number;
  png: Buffer;
};

export type FontDigitOptions = {
  seed: number;
  /** Variants of each digit in each font. */
  perFontAndDigit: number;
  /** Default HANDWRITING_FONTS. */
  fonts?: readonly HandwritingFont[];
};

/** Throws naming the apt packages to install when any font file is missing. */
export function checkFonts(fonts: readonly HandwritingFont[] = HANDWRITING_FONTS): void {
  const missing = fonts.filter((font) => !existsSync(font.file));
  if (missing.length === 0) return;
  const packages = [...new Set(missing.map((font) => font.aptPackage))];
  throw new Error(
    `handwriting font file(s) missing: ${missing.map((font) => `${font.file} (${font.family})`).join(', ')}; ` +
      `install them with: apt-get install -y ${packages.join(' ')}`,
  );
}

/** Grey raster, one byte a pixel: 255 = full ink. */
type Raster = { width: number; height: number; data: Uint8Array };

/** One glyph as the font draws it, white ink on black, cropped to its ink. */
async function renderGlyph(font: HandwritingFont, digit: number): Promise<Raster> {
  const { data, info } = await sharp({ text: { text: String(digit), font: `${font.family} ${GLYPH_POINTS}`, fontfile: font.file, dpi: 72 } })
    .extractChannel(0)
    .raw()
    .toBuffer({ resolveWithObject: true });
  const full: Raster = { width: info.width, height: info.height, data: new Uint8Array(data) };
  return crop(full, 0);
}

/** The raster cut to its ink (pixels above `threshold`), with `margin` blank pixels around. */
function crop(image: Raster, margin: number, threshold = 8): Raster {
  let top = image.height;
  let left = image.width;
  let bottom = -1;
  let right = -1;
  for (let y = 0; y < image.height; y++) {
    for (let x = 0; x < image.width; x++) {
      if ((image.data[y * image.width + x] ?? 0) <= threshold) continue;
      top = Math.min(top, y);
      bottom = Math.max(bottom, y);
      left = Math.min(left, x);
      right = Math.max(right, x);
    }
  }
  if (bottom < 0) throw new Error('the glyph has no ink');
  const width = right - left + 1 + 2 * margin;
  const height = bottom - top + 1 + 2 * margin;
  const data = new Uint8Array(width * height);
  for (let y = top; y <= bottom; y++) {
    for (let x = left; x <= right; x++) data[(y - top + margin) * width + (x - left + margin)] = image.data[y * image.width + x] ?? 0;
  }
  return { width, height, data };
}

/**
 * One step of grey morphology: each pixel becomes the max (dilate) or min (erode) of its
 * neighbourhood, the 3×3 square or the 4-neighbour cross. Alternating the two grows or
 * shrinks strokes by one pixel a step in a near-round (octagonal) way.
 */
function morphStep(image: Raster, dilate: boolean, square: boolean): Raster {
  const { width, height, data } = image;
  const out = new Uint8Array(data.length);
  const pick = dilate ? Math.max : Math.min;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let value = data[y * width + x] ?? 0;
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          if ((dx === 0 && dy === 0) || (!square && dx !== 0 && dy !== 0)) continue;
          const nx = x + dx;
          const ny = y + dy;
          const neighbour = nx < 0 || ny < 0 || nx >= width || ny >= height ? 0 : (data[ny * width + nx] ?? 0);
          value = pick(value, neighbour);
        }
      }
      out[y * width + x] = value;
    }
  }
  return { width, height, data: out };
}

const inkOf = (image: Raster) => image.data.reduce((sum, value) => sum + value, 0);

/**
 * The glyph's mean stroke width, pixels: a stroke of width w and length L has area w·L and an
 * outline about 2·L long, so w ≈ 2 · area / outline. The outline is counted as ink/paper
 * edges between 4-neighbours, which overcounts a slanted edge by 4/π on average.
 */
function strokeWidth(glyph: Raster): number {
  const ink = (x: number, y: number) => x >= 0 && y >= 0 && x < glyph.width && y < glyph.height && (glyph.data[y * glyph.width + x] ?? 0) > 127;
  let area = 0;
  let edges = 0;
  for (let y = 0; y < glyph.height; y++) {
    for (let x = 0; x < glyph.width; x++) {
      if (!ink(x, y)) continue;
      area++;
      for (const [dx, dy] of [[1, 0], [-1, 0], [0, 1], [0, -1]] as const) if (!ink(x + dx, y + dy)) edges++;
    }
  }
  return edges === 0 ? 0 : (2 * area) / (edges * (Math.PI / 4));
}

/** Strokes `steps` pixels thicker (> 0) or thinner (< 0, stopped before a stroke could break). */
function changeStroke(glyph: Raster, steps: number): Raster {
  if (steps > 0) {
    let image = crop(glyph, steps + 1);
    for (let i = 0; i < steps; i++) image = morphStep(image, true, i % 2 === 1);
    return image;
  }
  const ink = inkOf(glyph);
  let image = glyph;
  for (let i = 0; i < -steps; i++) {
    const thinner = morphStep(image, false, i % 2 === 1);
    if (inkOf(thinner) < MIN_INK_KEPT_BY_EROSION * ink) break;
    image = thinner;
  }
  return image;
}

/** Standard normal deviate (Box–Muller) from a uniform source. */
function gaussian(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

const between = (random: () => number, [low, high]: readonly [number, number]) => low + (high - low) * random();

/** One variant of a glyph, placed on the page's canvas as the page would send it. */
async function drawVariant(glyph: Raster, random: () => number): Promise<Buffer> {
  // A step of morphology moves each side of a stroke by one pixel.
  const steps = Math.round((between(random, AUGMENTATION.stroke) * glyph.height - strokeWidth(glyph)) / 2);
  const stroked = changeStroke(glyph, steps);
  const angle = between(random, [-AUGMENTATION.rotation, AUGMENTATION.rotation]) * (Math.PI / 180);
  const slant = between(random, [-AUGMENTATION.slant, AUGMENTATION.slant]);
  const aspect = between(random, AUGMENTATION.aspect);
  // Scale (x by the aspect), then slant, then rotate: [[cos, −sin], [sin, cos]] · [[1, slant], [0, 1]] · diag(aspect, 1),
  // times a scale that sets the height, shrunk where the turned digit would not fit the canvas.
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  const shape = [cos * aspect, cos * slant - sin, sin * aspect, sin * slant + cos] as const;
  const extent = (a: number, b: number) => Math.abs(a) * stroked.width + Math.abs(b) * stroked.height;
  const fits = (CANVAS_SIDE - 4) / Math.max(extent(shape[0], shape[1]), extent(shape[2], shape[3]));
  const scale = Math.min((between(random, AUGMENTATION.height) * CANVAS_SIDE) / glyph.height, fits);
  const matrix = shape.map((value) => value * scale) as [number, number, number, number];
  const { data, info } = await sharp(Buffer.from(stroked.data), { raw: { width: stroked.width, height: stroked.height, channels: 1 } })
    .affine(matrix, { background: '#000000', interpolator: sharp.interpolators.bilinear })
    .extractChannel(0)
    .raw()
    .toBuffer({ resolveWithObject: true });
  const placed = crop({ width: info.width, height: info.height, data: new Uint8Array(data) }, 0);
  // Anywhere on the canvas it fits: the page leaves where to draw to the person.
  const left = Math.floor(random() * Math.max(1, CANVAS_SIDE - placed.width + 1));
  const top = Math.floor(random() * Math.max(1, CANVAS_SIDE - placed.height + 1));
  const sigma = between(random, AUGMENTATION.noise);
  const rgba = Buffer.alloc(CANVAS_SIDE * CANVAS_SIDE * 4);
  for (let y = 0; y < CANVAS_SIDE; y++) {
    for (let x = 0; x < CANVAS_SIDE; x++) {
      const inside = x >= left && y >= top && x < left + placed.width && y < top + placed.height;
      const ink = inside ? (placed.data[(y - top) * placed.width + (x - left)] ?? 0) / 255 : 0;
      const grey = PAPER_GREY + ink * (INK_GREY - PAPER_GREY) + sigma * gaussian(random);
      const i = 4 * (y * CANVAS_SIDE + x);
      rgba[i] = rgba[i + 1] = rgba[i + 2] = Math.min(255, Math.max(0, Math.round(grey)));
      rgba[i + 3] = 255;
    }
  }
  return sharp(rgba, { raw: { width: CANVAS_SIDE, height: CANVAS_SIDE, channels: 4 } }).png().toBuffer();
}

/**
 * `perFontAndDigit` variants of every digit in every font, in the order font, digit, variant.
 * The same seed gives the same images (on the same fonts and libvips): each (font, digit,
 * variant) draws from a generator seeded by the seed and its own position, so adding a font
 * or variant leaves the others as they were.
 */
export async function fontDigitSet(options: FontDigitOptions): Promise<FontDigit[]> {
  const fonts = options.fonts ?? HANDWRITING_FONTS;
  if (!(Number.isInteger(options.perFontAndDigit) && options.perFontAndDigit >= 1)) {
    throw new RangeError(`perFontAndDigit must be a whole number ≥ 1, got ${options.perFontAndDigit}`);
  }
  checkFonts(fonts);
  const digits: FontDigit[] = [];
  for (const [f, font] of fonts.entries()) {
    for (let label = 0; label <= 9; label++) {
      const glyph = await renderGlyph(font, label);
      for (let variant = 0; variant < options.perFontAndDigit; variant++) {
        const random = seededRandom((options.seed ^ Math.imul(f * 1000 + label * 100 + variant + 1, 0x9e3779b1)) >>> 0);
        digits.push({ index: digits.length, label, font: font.family, variant, png: await drawVariant(glyph, random) });
      }
    }
  }
  return digits;
}

/**
 * Splits a set into a pool (to send as feedback) and a held-out half (to measure on) by
 * variant: of each font's variants of each digit, a seeded half goes to each side, so both
 * halves hold every font and every digit and no image is in both.
 */
export function splitPoolAndHeldOut<T extends Pick<FontDigit, 'label' | 'font'>>(digits: readonly T[], seed: number): { pool: T[]; heldOut: T[] } {
  const groups = new Map<string, T[]>();
  for (const digit of digits) {
    const key = `${digit.font}\u0000${digit.label}`;
    groups.set(key, [...(groups.get(key) ?? []), digit]);
  }
  const random = seededRandom(seed);
  const pool: T[] = [];
  const heldOut: T[] = [];
  for (const [key, group] of groups) {
    if (group.length < 2) throw new Error(`${key.replace('\u0000', ' digit ')} has ${group.length} variant; a split needs at least 2`);
    const order = shuffled(group, random);
    const half = Math.floor(order.length / 2);
    heldOut.push(...order.slice(0, half));
    pool.push(...order.slice(half));
  }
  return { pool: shuffled(pool, random), heldOut };
}

/** A seeded Fisher–Yates shuffle (a copy). */
export function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}
