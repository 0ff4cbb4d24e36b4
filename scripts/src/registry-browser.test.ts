// The model registry page, end to end: a stack (process deploy target) makes two versions from
// real corrections, and headless Chromium opens /models, checks the charts have the data's
// shape, compares the two, and rolls back. Set MLPL_SCREENSHOTS=1 to rewrite docs/models*.png.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium } from 'playwright-core';
import type { Browser } from 'playwright-core';
import { correct, findMisclassified, predict, sendFeedback, servedVersion, waitForBaseData, waitForNewVersion } from './loop-support.js';
import { startTestStack } from './loop-fixtures.js';
import { REPO_ROOT } from './service-process.js';
import type { Stack } from './stack.js';

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const SCREENSHOTS = process.env.MLPL_SCREENSHOTS === '1';

type Detail = { history: unknown[]; evaluation: { candidate: { test?: { testCount: number } } } | null; gate: { summary: string } | null };
type FeedbackCounts = { counts: { correction: number; confirmation: number; unlinked: number } };

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
    // Feedback of the two other kinds, too few to start a training run: a confirmation (the
    // digit the model said) and a label sent without a prediction.
    const sample = wrong[0]?.png as Buffer;
    const said = await predict(stack.urls.webapp, sample);
    assert.equal((await sendFeedback(stack.urls.webapp, sample, said.digit, said.predictionId)).status, 201);
    assert.equal((await sendFeedback(stack.urls.webapp, sample, said.digit, null)).status, 201);
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

    // The gate's verdict in words, the same in the row and the detail; its numbers one click away.
    assert.match(detail.gate?.summary ?? '', /^promoted: /);
    assert.equal(await table.locator(`[data-version="${second}"] .gate-summary`).textContent(), detail.gate?.summary);
    assert.equal(await page.getByTestId('gate-summary').textContent(), detail.gate?.summary);
    assert.equal(await page.getByTestId('gate-numbers').locator('table').first().isVisible(), false);
    await page.getByTestId('gate-numbers').locator('summary').click();
    // Several checks judge the test set (McNemar's test, the floor, the classes): the first of them.
    assert.ok(await page.getByTestId('gate-numbers').locator('tr[data-set="test"]').first().isVisible(), 'the checks behind the verdict');

    // The version in service and the one chosen look different, and say so in words.
    const servingRow = table.locator(`[data-version="${second}"]`);
    const pretrainedRow = table.locator('[data-version="pretrained-1"]');
    // The version button is named by its visible text, the version.
    await table.getByRole('button', { name: 'pretrained-1', exact: true }).click();
    await page.locator('#detail-heading').filter({ hasText: 'pretrained-1' }).waitFor();
    assert.equal(await pretrainedRow.getAttribute('aria-current'), 'true');
    assert.equal(await servingRow.getAttribute('aria-current'), null);
    assert.match((await servingRow.getAttribute('class')) ?? '', /\bserving\b/);
    assert.doesNotMatch((await pretrainedRow.getAttribute('class')) ?? '', /\bserving\b/);
    assert.ok(await servingRow.getByText('in service').first().isVisible());
    assert.ok(await pretrainedRow.getByText('details below').isVisible());
    assert.equal(await servingRow.getByText('details below').isVisible(), false);
    const look = (row: typeof servingRow) => row.evaluate((tr) => ({ background: getComputedStyle(tr).backgroundColor, bar: getComputedStyle(tr.querySelector('th') as Element).boxShadow }));
    const [served, chosen] = [await look(servingRow), await look(pretrainedRow)];
    assert.notEqual(served.background, chosen.background, 'only the chosen row is tinted');
    assert.match(served.bar, /inset/, 'the row in service has a bar at its start');
    assert.equal(chosen.bar, 'none', 'the chosen row has none');

    // The first model says when it served, and that this is inferred from the first start.
    assert.match((await pretrainedRow.locator('td[data-label="Served"]').textContent()) ?? '', /from the first start,.*until/);
    assert.match((await page.getByTestId('served').textContent()) ?? '', /^Served from the first start, .* until /);

    // Feedback filtered by kind: each filter shows only its kind, as many as the API counts.
    const { counts } = (await (await fetch(`${stack.urls.webapp}/api/corrections?limit=1`)).json()) as FeedbackCounts;
    assert.ok(counts.correction >= 10 && counts.confirmation >= 1 && counts.unlinked >= 1, JSON.stringify(counts));
    const shown = page.getByTestId('corrections').locator('[data-correction-id]');
    for (const [kind, label] of [['correction', 'corrections'], ['confirmation', 'confirmations'], ['unlinked', 'no prediction']] as const) {
      await page.getByTestId('feedback-kind').locator('label').filter({ hasText: label }).click();
      await page.waitForFunction((k) => {
        const items = Array.from(document.querySelectorAll('#corrections [data-correction-id]'));
        return items.length > 0 && items.every((item) => item.getAttribute('data-kind') === k);
      }, kind);
      assert.equal(await shown.count(), Math.min(24, counts[kind]), kind);
    }
    await page.getByTestId('feedback-kind').locator('label').filter({ hasText: 'all' }).click();
    await page.waitForFunction(() => new Set(Array.from(document.querySelectorAll('#corrections [data-correction-id]')).map((item) => item.getAttribute('data-kind'))).size > 1);

    // Every training run is listed, the runs that made the two versions among them.
    const { runs } = (await (await fetch(`${stack.urls.webapp}/api/training/runs`)).json()) as { runs: { id: number; modelVersion: string | null }[] };
    // A run's row, not the rows of the gate's checks folded under it.
    const runRows = page.getByTestId('training-runs').locator('tbody tr[data-run]');
    assert.deepEqual(await runRows.evaluateAll((rows) => rows.map((row) => Number(row.getAttribute('data-run')))), runs.map((run) => run.id));
    for (const version of versions) assert.ok(runs.some((run) => run.modelVersion === version), `a run made ${version}`);

    // Compare the two trained versions.
    const left = page.getByTestId('compare-left');
    const right = page.getByTestId('compare-right');
    await page.locator('select').first().selectOption(first);
    await page.locator('select').nth(1).selectOption(second);
    await left.getByText(first).first().waitFor();
    await right.getByText(second).first().waitFor();

    // The first version is older than the one in service: its button rolls back, and says so.
    const rollBack = table.locator(`[data-version="${first}"]`).getByRole('button', { name: 'Roll back to this version' });
    assert.equal(await rollBack.getAttribute('data-testid'), `rollback-${first}`);

    // Without the token: refused, nothing changes.
    await rollBack.click();
    await page.getByTestId('rollback-status').filter({ hasText: /401|token|unauthori/i }).waitFor();
    assert.equal(await servedVersion(stack.urls.webapp), second);

    // With it, once confirmed: the earlier version answers.
    await page.getByTestId('admin-token').fill(stack.tokens.admin);
    const confirmed = page.waitForEvent('dialog').then(async (dialog) => {
      assert.match(dialog.message(), new RegExp(`^Roll back to ${first} in place of ${second}\\?`));
      await dialog.accept();
    });
    await rollBack.click();
    await confirmed;
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
