// The page in a real headless Chromium against the real app: drawing, uploading, correcting, what
// becomes of a correction (the next training, a new model serving), and the phone layout. Set MLPL_SCREENSHOTS=1 to rewrite docs/screenshot*.png (tracked files, so CI
// leaves them alone).

import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { chromium } from 'playwright-core';
import type { Browser, BrowserContextOptions, Page } from 'playwright-core';
import type { RowDataPacket } from 'mysql2/promise';
import { commitRejection, finishRun, getObjectBytes, inspectImage, MNIST_IMAGE_SIZE, readBundleDir, startRun, writeBundleDir } from '@mlpl/shared';
import type { ModelMetadata } from '@mlpl/shared';
import { createTestDatabase, createTestStorage, renderDigitPng } from '@mlpl/shared/testing';
import type { TestDatabase, TestStorage } from '@mlpl/shared/testing';
import { loadPackagedMnist } from '@mlpl/shared/mnist-package';
import { DEFAULT_MODEL_DIR } from './settings.js';
import { checksRecordedBefore, post, refusedEvaluation, refusedVerdict, startTestApp, watchCspViolations } from './test-support.js';
import type { RunningApp } from './test-support.js';

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const DESKTOP: BrowserContextOptions = { viewport: { width: 1000, height: 800 } };
const PHONE: BrowserContextOptions = { viewport: { width: 375, height: 667 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const SCREENSHOTS = process.env.MLPL_SCREENSHOTS === '1';
const DOCS_DIR = fileURLToPath(new URL('../../../docs/', import.meta.url));
const SWAP_TOKEN = 'page-test-swap-token-0123456789';
/** The version the page sees start serving while it is open: the pretrained weights, renamed. */
const NEXT_VERSION = 'page-test-2';
/** The training threshold the app runs with: training's default, as the webapp's settings have it. */
const THRESHOLD = 10;

type Point = { x: number; y: number };
/** A pen stroke: points in units of the canvas side (0..1), drawn in order. */
type Stroke = Point[];

/** The 8 neighbours of a pixel, as [dx, dy]. */
const NEIGHBOURS = [[1, 0], [1, 1], [0, 1], [-1, 1], [-1, 0], [-1, -1], [0, -1], [1, -1]] as const;

/** Zhang–Suen thinning of a binary image: the one-pixel-wide skeleton a pen would have traced. */
function thin(mask: Uint8Array, size: number): Uint8Array {
  const skeleton = mask.slice();
  const at = (x: number, y: number) => (x < 0 || y < 0 || x >= size || y >= size ? 0 : (skeleton[y * size + x] ?? 0));
  for (let changed = true; changed; ) {
    changed = false;
    for (const pass of [0, 1]) {
      const removals: number[] = [];
      for (let y = 0; y < size; y++) {
        for (let x = 0; x < size; x++) {
          if (at(x, y) === 0) continue;
          // Neighbours clockwise from north: P2..P9 in the paper's numbering.
          const n = [at(x, y - 1), at(x + 1, y - 1), at(x + 1, y), at(x + 1, y + 1), at(x, y + 1), at(x - 1, y + 1), at(x - 1, y), at(x - 1, y - 1)];
          const [p2 = 0, , p4 = 0, , p6 = 0, , p8 = 0] = n;
          const neighbours = n.reduce((sum, v) => sum + v, 0);
          const transitions = n.filter((v, i) => v === 0 && n[(i + 1) % 8] === 1).length;
          const edge = pass === 0 ? p2 * p4 * p6 === 0 && p4 * p6 * p8 === 0 : p2 * p4 * p8 === 0 && p2 * p6 * p8 === 0;
          if (neighbours >= 2 && neighbours <= 6 && transitions === 1 && edge) removals.push(y * size + x);
        }
      }
      for (const index of removals) skeleton[index] = 0;
      changed ||= removals.length > 0;
    }
  }
  return skeleton;
}

/**
 * Pen strokes that redraw an MNIST digit as a person would: its ink (> 0.5) thinned to a
 * skeleton, walked from the line ends as straight on as the skeleton allows, each walk smoothed
 * by a 3-point moving average so it is not drawn as a staircase.
 */
function strokesOf(pixels: ArrayLike<number>): Stroke[] {
  const size = MNIST_IMAGE_SIZE;
  const mask = Uint8Array.from({ length: size * size }, (_, i) => ((pixels[i] ?? 0) > 0.5 ? 1 : 0));
  const skeleton = thin(mask, size);
  const neighbours = (i: number) =>
    NEIGHBOURS.map(([dx, dy]) => [(i % size) + dx, Math.floor(i / size) + dy] as const)
      .filter(([x, y]) => x >= 0 && y >= 0 && x < size && y < size && skeleton[y * size + x] === 1)
      .map(([x, y]) => y * size + x);
  const walked = new Set<string>();
  const edge = (a: number, b: number) => (a < b ? `${a}-${b}` : `${b}-${a}`);
  const unwalked = (i: number) => neighbours(i).filter((j) => !walked.has(edge(i, j)));
  const direction = (a: number, b: number) => Math.atan2(Math.floor(b / size) - Math.floor(a / size), (b % size) - (a % size));
  const turn = (from: number, to: number) => Math.abs(((to - from + 3 * Math.PI) % (2 * Math.PI)) - Math.PI);

  const ink = [...skeleton.keys()].filter((i) => skeleton[i] === 1);
  // Line ends first, so open strokes start where a pen would; closed loops start anywhere.
  const starts = [...ink.filter((i) => neighbours(i).length === 1), ...ink];
  const walks: number[][] = [];
  for (const start of starts) {
    if (neighbours(start).length === 0) walks.push([start]);
    while (unwalked(start).length > 0) {
      const walk = [start];
      for (let at = start, heading = NaN; ; ) {
        const options = unwalked(at);
        if (options.length === 0) break;
        // With no heading yet every turn is NaN, no comparison holds, and the first option wins.
        const next = options.reduce((best, j) => (turn(heading, direction(at, j)) < turn(heading, direction(at, best)) ? j : best));
        walked.add(edge(at, next));
        heading = direction(at, next);
        walk.push(next);
        at = next;
      }
      walks.push(walk);
    }
  }

  const point = (i: number): Point => ({ x: ((i % size) + 0.5) / size, y: (Math.floor(i / size) + 0.5) / size });
  return walks.map((walk) =>
    walk.map(point).map((p, k, all) => {
      if (k === 0 || k === all.length - 1) return p;
      const [a = p, b = p] = [all[k - 1], all[k + 1]];
      return { x: (a.x + p.x + b.x) / 3, y: (a.y + p.y + b.y) / 3 };
    }),
  );
}

async function canvasBox(page: Page) {
  const box = await page.locator('#canvas').boundingBox();
  assert.ok(box, 'the canvas is laid out');
  return box;
}

async function drawWithMouse(page: Page, strokes: Stroke[]): Promise<void> {
  const box = await canvasBox(page);
  const at = (p: Point) => [box.x + p.x * box.width, box.y + p.y * box.height] as const;
  for (const [first, ...rest] of strokes) {
    if (first === undefined) continue;
    await page.mouse.move(...at(first));
    await page.mouse.down();
    for (const point of rest) await page.mouse.move(...at(point), { steps: 2 });
    await page.mouse.up();
  }
}

/** Touch strokes through the DevTools protocol: Playwright's own touchscreen only taps. */
async function drawWithFinger(page: Page, strokes: Stroke[]): Promise<void> {
  const box = await canvasBox(page);
  const at = (p: Point) => ({ x: box.x + p.x * box.width, y: box.y + p.y * box.height });
  const cdp = await page.context().newCDPSession(page);
  try {
    for (const [first, ...rest] of strokes) {
      if (first === undefined) continue;
      await cdp.send('Input.dispatchTouchEvent', { type: 'touchStart', touchPoints: [at(first)] });
      for (const point of rest) await cdp.send('Input.dispatchTouchEvent', { type: 'touchMove', touchPoints: [at(point)] });
      await cdp.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
    }
  } finally {
    await cdp.detach();
  }
}

/** Waits for the answer to the current image and returns what the page shows. */
async function shownAnswer(page: Page) {
  await page.locator('#result[data-state="answered"]').waitFor();
  return {
    digit: await page.locator('#digit').textContent(),
    predictionId: await page.locator('#result').getAttribute('data-prediction-id'),
    rows: await page.locator('#probabilities li').evaluateAll((rows) =>
      rows.map((row) => ({
        digit: row.querySelector('.p-digit')?.textContent,
        value: row.querySelector('.p-value')?.textContent,
        barWidth: row.querySelector('.fill')?.getBoundingClientRect().width ?? 0,
        best: row.classList.contains('best'),
      })),
    ),
    modelVersion: await page.locator('#model-version').textContent(),
  };
}

/** Waits for the outcome of sending feedback and returns its message, failing on an error. */
async function feedbackStatus(page: Page): Promise<string> {
  const status = page.locator('#status[data-kind="ok"], #status[data-kind="error"]');
  await status.waitFor();
  const [kind, text] = await Promise.all([status.getAttribute('data-kind'), status.textContent()]);
  assert.equal(kind, 'ok', text ?? '');
  return text ?? '';
}

describe('the page', () => {
  let db: TestDatabase | undefined;
  let s3: TestStorage | undefined;
  let app: RunningApp;
  let browser: Browser | undefined;
  let modelsRoot: string | undefined;
  const mnist = loadPackagedMnist();
  const digitPixels = (index: number) => mnist.images.subarray(index * 784, (index + 1) * 784);

  /** The first digit of `label` that the model in service reads right with no doubt, so a
   * wrong answer on the page points at the page, not at a hard digit. */
  function clearDigit(label: number): Float32Array {
    for (let index = mnist.labels.indexOf(label); index < mnist.count && mnist.labels[index] === label; index++) {
      const { digit, probabilities } = app.classifier.classify(digitPixels(index));
      if (digit === label && (probabilities[digit] ?? 0) > 0.99) return digitPixels(index);
    }
    throw new Error(`the model reads no ${label} with confidence`);
  }

  async function withPage(options: BrowserContextOptions, use: (page: Page) => Promise<void>): Promise<void> {
    assert.ok(browser);
    const context = await browser.newContext(options);
    try {
      const page = await context.newPage();
      page.setDefaultTimeout(15_000);
      const refused = watchCspViolations(page);
      await page.goto(app.url);
      // The page has asked /api/model once this shows a version.
      await page.locator('#model-version', { hasText: app.classifier.metadata.version }).waitFor();
      await use(page);
      assert.deepEqual(refused, [], 'nothing the Content-Security-Policy refuses');
    } finally {
      await context.close();
    }
  }

  /** Unused feedback, as the training service's trigger counts it. */
  async function pendingFeedback(): Promise<number> {
    assert.ok(db);
    const [rows] = await db.pool.query<RowDataPacket[]>("SELECT COUNT(*) AS n FROM images WHERE source = 'feedback' AND used_in_run IS NULL");
    return Number(rows[0]?.n);
  }

  /** The line under a stored feedback, and where its link goes. */
  async function trainingLine(page: Page) {
    const line = page.locator('#training');
    await line.waitFor();
    return { text: await line.textContent(), link: await line.locator('a').getAttribute('href') };
  }

  async function feedbackRows() {
    assert.ok(db);
    const [rows] = await db.pool.query<RowDataPacket[]>(
      "SELECT label, source, prediction_id, predicted_digit, object_key FROM images WHERE source = 'feedback' ORDER BY id",
    );
    return rows;
  }

  before(async () => {
    db = await createTestDatabase();
    s3 = await createTestStorage();
    // Models the app can be told to serve (POST /internal/model), as the local stack's process target does.
    modelsRoot = await mkdtemp(path.join(tmpdir(), 'mlpl-page-models-'));
    const pretrained = await readBundleDir(DEFAULT_MODEL_DIR);
    const metadata = JSON.parse(pretrained.metadataJson.toString('utf8')) as ModelMetadata;
    await writeBundleDir(path.join(modelsRoot, metadata.version), pretrained);
    await writeBundleDir(path.join(modelsRoot, NEXT_VERSION), { ...pretrained, metadataJson: Buffer.from(JSON.stringify({ ...metadata, version: NEXT_VERSION })) });
    app = await startTestApp({ database: db.settings, storage: s3.settings, modelSwap: { modelsRoot, token: SWAP_TOKEN } });
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
    if (SCREENSHOTS) await mkdir(DOCS_DIR, { recursive: true });
  });

  after(async () => {
    // Each step runs even when one before it failed, so no browser or server outlives the test.
    await browser?.close().catch((error: unknown) => console.error('closing the browser:', error));
    await app?.close().catch((error: unknown) => console.error('closing the app:', error));
    await db?.drop().catch((error: unknown) => console.error('dropping the test database:', error));
    if (modelsRoot !== undefined) await rm(modelsRoot, { recursive: true, force: true });
  });

  it('when the page opens, then it says how many labelled digits the next training has, before any feedback', async () => {
    await withPage(DESKTOP, async (page) => {
      assert.equal(await pendingFeedback(), 0, 'a fresh database');
      assert.deepEqual(await trainingLine(page), {
        text: `Collected for the next training: 0 of ${THRESHOLD} labelled digits (corrections and confirmations) — the model retrains at ${THRESHOLD}. See every model version.`,
        link: '/models',
      });
    });
  });

  it('when a digit is drawn and corrected, then the answer is shown and the correction stored with its prediction', async () => {
    const label = 3;
    await withPage(DESKTOP, async (page) => {
      await drawWithMouse(page, strokesOf(clearDigit(label)));
      await page.locator('#predict').click();
      const shown = await shownAnswer(page);

      assert.equal(shown.digit, String(label));
      assert.equal(shown.rows.length, 10);
      for (const [digit, row] of shown.rows.entries()) {
        assert.equal(row.digit, String(digit));
        assert.match(row.value ?? '', /^\d{1,3}\.\d%$/);
        assert.equal(row.best, digit === label);
      }
      assert.ok((shown.rows[label]?.barWidth ?? 0) > 0, 'the answer has a visible bar');
      assert.equal(shown.modelVersion, app.classifier.metadata.version);
      assert.match(await page.locator('#model-accuracy').textContent() ?? '', /\d+\.\d% right on [\d,]+ test digits/);
      assert.match(shown.predictionId ?? '', UUID);
      const correction = (label + 1) % 10;
      await page.locator(`[data-label="${correction}"]`).click();
      assert.match(await feedbackStatus(page), new RegExp(`stored as a ${correction}`));
      const pending = await pendingFeedback();
      assert.equal(pending, 1, 'the first feedback of this database');
      assert.deepEqual(await trainingLine(page), {
        text: `Collected for the next training: 1 of ${THRESHOLD} labelled digits (corrections and confirmations) — the model retrains at ${THRESHOLD}. See every model version.`,
        link: '/models',
      });
      if (SCREENSHOTS) {
        await page.mouse.move(0, 0); // no hover colour on a button in the picture
        await page.screenshot({ path: `${DOCS_DIR}screenshot.png`, fullPage: true });
      }

      const rows = await feedbackRows();
      const row = rows.find((candidate) => candidate.prediction_id === shown.predictionId);
      assert.ok(row, `a feedback row cites prediction ${shown.predictionId}`);
      assert.equal(row.label, correction);
      assert.equal(row.predicted_digit, label);
      assert.ok(s3);
      const stored = await getObjectBytes(s3.storage, s3.settings.imagesBucket, row.object_key);
      const image = await inspectImage(stored, { maxBytes: 5 * 1024 * 1024, maxPixels: 25_000_000 });
      assert.equal(image.format, 'png');
      const bitmap = await page.locator('#canvas').evaluate((canvas: HTMLCanvasElement) => [canvas.width, canvas.height]);
      assert.deepEqual([image.width, image.height], bitmap, 'the canvas bitmap, whatever its size on screen');
    });
  });

  it('when an image file is chosen and confirmed, then its answer is shown and its own bytes are stored', async () => {
    const label = 7;
    const png = await renderDigitPng(clearDigit(label), { scale: 4, invert: true });
    await withPage(DESKTOP, async (page) => {
      await page.locator('#file').setInputFiles({ name: 'seven.png', mimeType: 'image/png', buffer: png });
      const shown = await shownAnswer(page);
      assert.equal(shown.digit, String(label));

      await page.locator('#correct').click();
      await feedbackStatus(page);
      // A confirmation counts towards the next training as a correction does.
      assert.match((await trainingLine(page)).text ?? '', new RegExp(`: ${await pendingFeedback()} of ${THRESHOLD} labelled digits`));
      const row = (await feedbackRows()).find((candidate) => candidate.prediction_id === shown.predictionId);
      assert.ok(row);
      assert.equal(row.label, label);
      assert.ok(s3);
      assert.deepEqual(await getObjectBytes(s3.storage, s3.settings.imagesBucket, row.object_key), png);
    });
  });

  it('when an image file is dropped on the drawing area, then it is predicted', async () => {
    const label = 4;
    const png = await renderDigitPng(clearDigit(label), { scale: 3 });
    await withPage(DESKTOP, async (page) => {
      const dataTransfer = await page.evaluateHandle((base64) => {
        const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
        const transfer = new DataTransfer();
        transfer.items.add(new File([bytes], 'four.png', { type: 'image/png' }));
        return transfer;
      }, png.toString('base64'));
      await page.locator('#dropzone').dispatchEvent('drop', { dataTransfer });
      assert.equal((await shownAnswer(page)).digit, String(label));
    });
  });

  it('when the answer is an 8, then the page says "an 8", and "a" before the other digits', async () => {
    const png = await renderDigitPng(clearDigit(8), { scale: 3 });
    await withPage(DESKTOP, async (page) => {
      await page.locator('#file').setInputFiles({ name: 'eight.png', mimeType: 'image/png', buffer: png });
      assert.equal((await shownAnswer(page)).digit, '8');
      assert.match(await page.locator('#answer-text').textContent() ?? '', /^It looks like an 8 \(/);
      assert.equal(await page.locator('#correct').textContent(), 'Yes, it is an 8');
      await page.locator('#correct').click();
      assert.match(await feedbackStatus(page), /stored as an 8\./);

      await page.locator('#file').setInputFiles({ name: 'seven.png', mimeType: 'image/png', buffer: await renderDigitPng(clearDigit(7), { scale: 3 }) });
      await page.locator('#digit', { hasText: '7' }).waitFor();
      assert.match(await page.locator('#answer-text').textContent() ?? '', /^It looks like a 7 \(/);
      assert.equal(await page.locator('#correct').textContent(), 'Yes, it is a 7');
    });
  });

  it('when an answer is refused, then the server\'s message is shown', async () => {
    const blank = await renderDigitPng(new Float32Array(784), { scale: 2 });
    await withPage(DESKTOP, async (page) => {
      await page.locator('#file').setInputFiles({ name: 'blank.png', mimeType: 'image/png', buffer: blank });
      const status = page.locator('#status[data-kind="error"]');
      await status.waitFor();
      assert.match(await status.textContent() ?? '', /^Could not predict: .+/);
      assert.equal(await page.locator('#correct').isDisabled(), true, 'nothing to confirm');
    });
  });

  it('when the screen is a phone, then nothing scrolls sideways and a finger can draw', async () => {
    const label = 7;
    await withPage(PHONE, async (page) => {
      const { width, height } = PHONE.viewport ?? { width: 0, height: 0 };
      const fits = () => page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok((await fits()) <= width, 'no horizontal scroll');
      const box = await canvasBox(page);
      assert.ok(box.x >= 0 && box.y >= 0 && box.x + box.width <= width && box.y + box.height <= height, `canvas ${JSON.stringify(box)} is fully visible`);
      assert.ok(box.width >= 0.8 * width, 'the canvas takes most of the width');

      await drawWithFinger(page, strokesOf(clearDigit(label)));
      // No Predict click: the answer comes by itself once the finger rests.
      assert.equal((await shownAnswer(page)).digit, String(label));
      assert.equal(await page.evaluate(() => window.scrollY), 0, 'drawing did not scroll the page');
      assert.ok((await fits()) <= width, 'no horizontal scroll with an answer shown');
      if (SCREENSHOTS) await page.screenshot({ path: `${DOCS_DIR}screenshot-phone.png`, fullPage: true });
    });
  });

  it('when a correction brings the feedback to the threshold, then the page says training starts at its next check', async () => {
    // Others' feedback, through the API, up to one short of the threshold.
    const png = await renderDigitPng(clearDigit(1), { scale: 2 });
    while ((await pendingFeedback()) < THRESHOLD - 1) {
      assert.equal((await post(`${app.url}/api/feedback`, [{ name: 'image', file: png }, { name: 'label', value: '1' }])).status, 201);
    }
    const label = 2;
    await withPage(DESKTOP, async (page) => {
      await page.locator('#file').setInputFiles({ name: 'two.png', mimeType: 'image/png', buffer: await renderDigitPng(clearDigit(label), { scale: 4 }) });
      await shownAnswer(page);
      await page.locator(`[data-label="${label + 1}"]`).click();
      await feedbackStatus(page);
      assert.equal(await pendingFeedback(), THRESHOLD);
      assert.deepEqual(await trainingLine(page), {
        text: `Collected for the next training: ${THRESHOLD} labelled digits, enough (it needs ${THRESHOLD}) — training starts at its next check; its model replaces this one only if it passes the check on test digits. See every model version.`,
        link: '/models',
      });
    });
  });

  it('when another model starts serving while the page is open, then the page says so without a new prediction', async () => {
    const original = app.classifier.metadata.version;
    const swapTo = async (version: string) => {
      const response = await fetch(`${app.url}/internal/model`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${SWAP_TOKEN}` },
        body: JSON.stringify({ version }),
      });
      assert.equal(response.status, 200, await response.text());
    };
    await withPage(DESKTOP, async (page) => {
      await page.locator('#file').setInputFiles({ name: 'seven.png', mimeType: 'image/png', buffer: await renderDigitPng(clearDigit(7), { scale: 4 }) });
      await shownAnswer(page);
      await page.locator('#correct').click();
      await feedbackStatus(page);
      await trainingLine(page);
      let predictions = 0;
      page.on('request', (request) => {
        if (new URL(request.url()).pathname === '/api/predict') predictions += 1;
      });

      await swapTo(NEXT_VERSION);
      let swappedBack = false;
      try {
        const news = page.locator('#model-news');
        await news.waitFor();
        assert.equal(
          await news.textContent(),
          `Model ${NEXT_VERSION} now serves in place of ${original}: press Predict to try your digit on it. What changed`,
        );
        assert.equal(await news.locator('a').getAttribute('href'), '/models');
        assert.equal(await page.locator('#model-version').textContent(), NEXT_VERSION);
        assert.equal(predictions, 0, 'the page learnt of the new model by itself');
        // The line keeps telling where labels go: the poll that saw the new model counted them again.
        assert.match((await trainingLine(page)).text ?? '', new RegExp(`^Collected for the next training: ${await pendingFeedback()} labelled digits`));

        await page.locator('#predict').click();
        await page.locator('#result[data-state="answered"]').waitFor();
        assert.equal(predictions, 1);
        assert.equal(await page.locator('#model-version').textContent(), NEXT_VERSION);

        // The version replaced a moment ago answering again is what a rollout looks like while the
        // old container drains (both take requests): not news. The second poll after the swap is
        // only asked once the first one's answer has been shown.
        await swapTo(original);
        swappedBack = true;
        for (let poll = 0; poll < 2; poll++) await page.waitForRequest((request) => new URL(request.url()).pathname === '/api/model');
        assert.equal(await page.locator('#model-version').textContent(), NEXT_VERSION);
        assert.match(await page.locator('#model-news').textContent() ?? '', new RegExp(`^Model ${NEXT_VERSION} now serves`));
      } finally {
        if (!swappedBack) await swapTo(original);
      }
    });
  });

  it('when a run after the page\'s feedback keeps the model (rejected, failed, then rejected again setting its labels aside), then the line says so in plain words and what happens next, also on a fresh page', async () => {
    assert.ok(db);
    const pool = db.pool;
    const version = app.classifier.metadata.version;
    const newestFeedbackId = async () => {
      const [rows] = await pool.query<RowDataPacket[]>("SELECT MAX(id) AS id FROM images WHERE source = 'feedback'");
      return Number(rows[0]?.id);
    };
    const line = (page: Page, text: string | RegExp) => page.locator('#training').filter({ hasText: text }).waitFor();
    await withPage(DESKTOP, async (page) => {
      await page.locator('#file').setInputFiles({ name: 'six.png', mimeType: 'image/png', buffer: await renderDigitPng(clearDigit(6), { scale: 4 }) });
      await shownAnswer(page);
      await page.locator('#correct').click();
      await feedbackStatus(page);
      assert.ok((await pendingFeedback()) >= THRESHOLD, 'enough labels for a run, from the tests before');

      // The training service starts a run, and its gate rejects the candidate: 22 of 1,000 test digits lost.
      const rejected = await startRun(pool, { parentVersion: version, parameters: { mode: 'fine-tune', tolerance: 0.01 } });
      await line(page, `Training run ${rejected} is under way`);
      await finishRun(pool, rejected, {
        status: 'rejected',
        evaluation: {
          candidate: { test: { accuracy: 0.948, testCount: 1000 } },
          incumbent: { test: { accuracy: 0.97, testCount: 1000 } },
          // As runs recorded them before the gate's checks had kinds.
          checks: checksRecordedBefore([{ set: 'test', candidate: 0.948, incumbent: 0.97, delta: 0.948 - 0.97, passed: false }]),
        },
        gateReason: 'test accuracy dropped by 0.0220 > 0.01',
        dataCounts: { mode: 'fine-tune', classes: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], newestFeedbackId: await newestFeedbackId() },
        durationMs: 1000,
      });
      const keptText = `Training run ${rejected} kept the model in service — its candidate was rejected: lost 2.2 points against ${version} on the test set (22 of 1,000 digits), more than the 1-point tolerance. `
        + 'The next run waits for new labels: one more labelled digit starts it. See every training run.';
      await line(page, /kept the model in service/);
      assert.equal(await page.locator('#training').textContent(), keptText);
      assert.equal(await page.locator('#training a').getAttribute('href'), '/models#runs-heading');

      // The same on a page opened now, with no feedback of its own: training waits, whatever the count says.
      assert.ok(browser);
      const fresh = await browser.newPage({ viewport: DESKTOP.viewport ?? null });
      try {
        await fresh.goto(app.url);
        await line(fresh, /kept the model in service/);
        assert.equal(await fresh.locator('#training').textContent(), keptText);
      } finally {
        await fresh.close();
      }

      // A new label ends the wait; the next run fails: the line says why, and that the count still stands.
      await page.locator('#file').setInputFiles({ name: 'five.png', mimeType: 'image/png', buffer: await renderDigitPng(clearDigit(5), { scale: 4 }) });
      await shownAnswer(page);
      await page.locator('#correct').click();
      await feedbackStatus(page);
      await line(page, /^Collected for the next training: \d+ labelled digits, enough/);
      const failed = await startRun(pool, { parentVersion: version, parameters: { mode: 'fine-tune', tolerance: 0.01 } });
      await finishRun(pool, failed, { status: 'failed', error: 'the appbuilder could not be reached', durationMs: 5 });
      await line(page, `Training run ${failed} failed`);
      assert.equal(
        await page.locator('#training').textContent(),
        `Training run ${failed} failed, so the model in service stays: the appbuilder could not be reached. `
          + `Collected for the next training: ${await pendingFeedback()} labelled digits, enough (it needs ${THRESHOLD}) — training starts at its next check; its model replaces this one only if it passes the check on test digits. See every training run.`,
      );

      // The next run is refused too, the third refusal in a row: the labelled digits it tried are set aside, out of the count.
      const [unused] = await pool.query<RowDataPacket[]>("SELECT id FROM images WHERE source = 'feedback' AND used_in_run IS NULL AND set_aside_in_run IS NULL");
      const tried = unused.map((row) => Number(row.id));
      const refused = await startRun(pool, { parentVersion: version, servingVersion: version, parameters: { mode: 'fine-tune', tolerance: 0.01, refusalsBeforeReview: 3 } });
      await commitRejection(pool, refused, {
        status: 'rejected',
        evaluation: refusedEvaluation(version),
        dataCounts: { mode: 'fine-tune', classes: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], newestFeedbackId: Math.max(...tried), setAsideImageIds: tried },
        durationMs: 1000,
      }, tried);
      await line(page, `Training run ${refused} kept the model in service`);
      assert.equal(
        await page.locator('#training').textContent(),
        `Training run ${refused} kept the model in service — its candidate was ${refusedVerdict(version)}. `
          + `After 3 refusals in a row, the ${tried.length} labelled digits it tried are set aside for people to review. `
          + `Collected for the next training: 0 of ${THRESHOLD} labelled digits (corrections and confirmations) — the model retrains at ${THRESHOLD}. See every training run.`,
      );
    });
  });
});
