import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import sharp from 'sharp';
import { preprocessImage } from '@mlpl/shared';
import { REPO_ROOT } from './service-process.js';
import { CANVAS_SIDE, checkFonts, FONT_PACKAGES, fontDigitSet, HANDWRITING_FONTS, splitPoolAndHeldOut } from './font-digits.js';

/** Two fonts of different packages keep these tests to a couple of seconds. */
const FONTS = [HANDWRITING_FONTS[0], HANDWRITING_FONTS[7]].filter((font) => font !== undefined);

describe('font digits', () => {
  test('when the set is made twice with one seed, then the images are the same bytes, and another seed makes others', async () => {
    const a = await fontDigitSet({ seed: 5, perFontAndDigit: 1, fonts: FONTS });
    const b = await fontDigitSet({ seed: 5, perFontAndDigit: 1, fonts: FONTS });
    const c = await fontDigitSet({ seed: 6, perFontAndDigit: 1, fonts: FONTS });
    assert.equal(a.length, 20);
    assert.deepEqual(a.map((digit) => digit.label), [...Array(10).keys(), ...Array(10).keys()]);
    assert.ok(a.every((digit, i) => digit.png.equals(b[i]?.png ?? Buffer.alloc(0))));
    assert.ok(a.every((digit, i) => !digit.png.equals(c[i]?.png ?? Buffer.alloc(0))));
  });

  test('when a digit is rendered, then it is what the page sends: a 448×448 PNG of dark ink on white, which the webapp reads as a digit', async () => {
    const [digit] = await fontDigitSet({ seed: 1, perFontAndDigit: 1, fonts: FONTS.slice(0, 1) });
    assert.ok(digit !== undefined);
    const metadata = await sharp(digit.png).metadata();
    assert.deepEqual([metadata.format, metadata.width, metadata.height], ['png', CANVAS_SIDE, CANVAS_SIDE]);
    const { channels } = await sharp(digit.png).stats();
    const red = channels[0];
    assert.ok(red !== undefined && red.max >= 240 && red.min <= 40, `white paper and dark ink (grey ${red?.min}–${red?.max})`);
    assert.ok(red.mean > 200, `mostly paper (mean grey ${red.mean.toFixed(0)})`);
    assert.equal((await preprocessImage(digit.png)).length, 784);
  });

  test('when a set is split, then each half holds every font and digit, half of each one\'s variants, and no image is in both', async () => {
    const digits = await fontDigitSet({ seed: 2, perFontAndDigit: 2, fonts: FONTS });
    const { pool, heldOut } = splitPoolAndHeldOut(digits, 2);
    assert.equal(pool.length, 20);
    assert.equal(heldOut.length, 20);
    const groups = (half: typeof digits) => new Map([...new Set(half.map((d) => `${d.font}/${d.label}`))].map((key) => [key, half.filter((d) => `${d.font}/${d.label}` === key).length]));
    for (const half of [pool, heldOut]) {
      const counts = groups(half);
      assert.equal(counts.size, FONTS.length * 10);
      assert.ok([...counts.values()].every((n) => n === 1));
    }
    const inPool = new Set(pool);
    assert.ok(heldOut.every((digit) => !inPool.has(digit)));
    assert.deepEqual(splitPoolAndHeldOut(digits, 2).pool.map((d) => d.index), pool.map((d) => d.index), 'the same seed splits the same way');
  });

  test('when a font and digit has a single variant, then the split refuses it', () => {
    assert.throws(() => splitPoolAndHeldOut([{ font: 'Kristi', label: 3 }], 1), /Kristi digit 3 has 1 variant/);
  });

  test('when a font file is missing, then the error names the apt package that installs it', () => {
    const missing = { family: 'Nowhere', file: '/nonexistent/nowhere.ttf', aptPackage: 'fonts-nowhere' };
    assert.throws(() => checkFonts([missing]), /apt-get install -y fonts-nowhere/);
    assert.ok(FONT_PACKAGES.includes(HANDWRITING_FONTS[0]?.aptPackage ?? ''));
  });

  test('when the test command installs what the tests need, then it installs every font package', async () => {
    const script = await readFile(path.join(REPO_ROOT, 'scripts', 'test.sh'), 'utf8');
    for (const name of FONT_PACKAGES) assert.match(script, new RegExp(`\\b${name}\\b`), `scripts/test.sh installs ${name}`);
  });
});
