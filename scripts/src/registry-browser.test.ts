// The model registry page, end to end: a stack (process deploy target) makes two versions from
// real corrections, and headless Chromium opens /models, checks the charts have the data's
// shape, compares the two, and rolls back. Set MLPL_SCREENSHOTS=1 to rewrite docs/models*.png.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium } from 'playwright-core';
import type { Browser } from 'playwright-core';
import { correct, findMisclassified, servedVersion, waitForBaseData, waitForNewVersion } from './loop-support.js';
import { startTestStack } from './loop-fixtures.js';
import { REPO_ROOT } from './service-process.js';
import type { Stack } from './stack.js';

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const SCREENSHOTS = process.env.MLPL_SCREENSHOTS === '1';

type Detail = { history: unknown[]; evaluation: { candidate: { test?: { testCount: number } } } | null };

describe('the /models page after two training runs', () => {
  let stack: Stack;
  let cleanup: () => Promise<void>;
  let browser: Browser;
  const versions: string[] = [];

  before(async () => {
    ({ stack, cleanup } = await startTestStack({ deploy: 'process' }));
    await waitForBaseData(stack);
    const wrong = await findMisclassified(stack.urls.webapp, 20);
    for (const batch of [wrong.slice(0, 10), wrong.slice(10)]) {
      const before = await servedVersion(stack.urls.webapp);
      for (const digit of batch) assert.equal((await correct(stack.urls.webapp, digit)).status, 201);
      versions.push(await waitForNewVersion(stack.urls.webapp, before, 240_000));
    }
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
  });

  after(async () => {
    await browser?.close();
    await cleanup?.();
  });

  test('when /models is opened, then both versions are listed with the serving one marked, the charts match the data, two versions compare side by side, and a rollback with the admin token makes the earlier version answer', async () => {
    const [first, second] = versions as [string, string];
    const detail = (await (await fetch(`${stack.urls.webapp}/api/models/${second}`)).json()) as Detail;
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`${stack.urls.webapp}/models`);

    const table = page.getByTestId('versions-table');
    await table.locator(`[data-version="${second}"]`).waitFor();
    for (const version of ['pretrained-1', first, second]) assert.equal(await table.locator(`[data-version="${version}"]`).count(), 1, version);
    assert.equal(await table.locator('[data-serving="true"]').getAttribute('data-version'), second);

    // Open the serving version's detail; its charts have the shape of its record.
    await table.locator(`[data-version="${second}"]`).first().click();
    const epochPoints = page.getByTestId('epoch-chart').first().locator('[data-epoch]');
    await epochPoints.first().waitFor();
    const epochs = new Set(await epochPoints.evaluateAll((nodes) => nodes.map((n) => n.getAttribute('data-epoch'))));
    assert.equal(epochs.size, detail.history.length, 'one point per epoch');
    const cells = page.getByTestId('confusion-matrix').first().locator('rect[data-count]');
    assert.equal(await cells.count(), 100);
    const total = (await cells.evaluateAll((nodes) => nodes.map((n) => Number(n.getAttribute('data-count'))))).reduce((a, b) => a + b, 0);
    assert.equal(total, detail.evaluation?.candidate.test?.testCount, 'the heat map counts every test digit once');
    assert.ok((await page.getByTestId('class-bars').first().locator('rect[data-class]').count()) >= 30, 'precision, recall and F1 for ten digits');
    await page.getByTestId('error-rate-chart').locator('path[data-version]').first().waitFor({ state: 'attached' });
    assert.ok((await page.getByTestId('error-rate-chart').locator('path[data-version]').count()) >= 2, 'a line per version that served predictions');
    assert.ok((await page.getByTestId('corrections').locator('[data-correction-id]').count()) >= 10, 'the corrections as thumbnails');
    if (SCREENSHOTS) await page.screenshot({ path: path.join(REPO_ROOT, 'docs', 'models.png'), fullPage: true });

    // Compare the two trained versions.
    const left = page.getByTestId('compare-left');
    const right = page.getByTestId('compare-right');
    await page.locator('select').first().selectOption(first);
    await page.locator('select').nth(1).selectOption(second);
    await left.getByText(first).first().waitFor();
    await right.getByText(second).first().waitFor();

    // Without the token: refused, nothing changes.
    await page.getByTestId(`rollback-${first}`).click();
    await page.getByTestId('rollback-status').filter({ hasText: /401|token|unauthori/i }).waitFor();
    assert.equal(await servedVersion(stack.urls.webapp), second);

    // With it: the earlier version answers.
    await page.getByTestId('admin-token').fill(stack.tokens.admin);
    await page.getByTestId(`rollback-${first}`).click();
    await page.getByTestId('rollback-status').filter({ hasText: new RegExp(first) }).waitFor({ timeout: 120_000 });
    assert.equal(await servedVersion(stack.urls.webapp), first);
    await table.locator('[data-serving="true"]').and(page.locator(`[data-version="${first}"]`)).waitFor({ timeout: 30_000 });

    const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    await phone.goto(`${stack.urls.webapp}/models`);
    await phone.getByTestId('versions-table').locator(`[data-version="${second}"]`).waitFor();
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `no sideways scrolling on a phone (${overflow} px too wide)`);
    if (SCREENSHOTS) await phone.screenshot({ path: path.join(REPO_ROOT, 'docs', 'models-phone.png'), fullPage: true });
    assert.deepEqual(errors, [], 'no script error on the page');
  });
});
