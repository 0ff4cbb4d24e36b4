// What every answer tells a browser (Content-Security-Policy, nosniff, Referrer-Policy), that
// the pages need nothing the policy refuses, and how stored images are served.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { chromium } from 'playwright-core';
import { insertImage, putObject } from '@mlpl/shared';
import { createTestDatabase, createTestStorage } from '@mlpl/shared/testing';
import type { TestDatabase, TestStorage } from '@mlpl/shared/testing';
import { CONTENT_SECURITY_POLICY } from './security-headers.js';
import { startTestApp, watchCspViolations } from './test-support.js';
import type { RunningApp } from './test-support.js';

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

describe('the headers of the webapp answers', () => {
  let db: TestDatabase;
  let storage: TestStorage;
  let app: RunningApp;

  /** Stores `bytes` as a feedback image whose row records `contentType`, as a row written by hand (or by an older webapp) could. */
  async function storedImage(bytes: Buffer, contentType: string): Promise<number> {
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const objectKey = `test/${sha256}`;
    await putObject(app.storage, storage.settings.imagesBucket, objectKey, bytes, 'application/octet-stream');
    return insertImage(app.pool, {
      objectKey, sha256, contentType, byteSize: bytes.length, width: 28, height: 28, label: 3, source: 'feedback',
      split: null, predictionId: null, predictedDigit: null, modelVersion: null,
    });
  }

  before(async () => {
    db = await createTestDatabase();
    storage = await createTestStorage();
    app = await startTestApp({ database: db.settings, storage: storage.settings });
  });

  after(async () => {
    await app?.close();
    await db?.drop();
  });

  it('when anything is asked, pages, JSON, errors, then every answer carries the policy, nosniff and no-referrer', async () => {
    for (const route of ['/', '/models', '/index.html', '/app.js', '/api/model', '/api/models', '/healthz', '/readyz', '/docs', '/no-such-page', '/api/models/%20']) {
      const response = await fetch(`${app.url}${route}`);
      await response.arrayBuffer();
      assert.equal(response.headers.get('content-security-policy'), CONTENT_SECURITY_POLICY, route);
      assert.equal(response.headers.get('x-content-type-options'), 'nosniff', route);
      assert.equal(response.headers.get('referrer-policy'), 'no-referrer', route);
      assert.equal(response.headers.get('x-frame-options'), 'DENY', route);
    }
    for (const directive of ["script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "object-src 'none'"]) {
      assert.ok(CONTENT_SECURITY_POLICY.split('; ').includes(directive), directive);
    }
    assert.doesNotMatch(CONTENT_SECURITY_POLICY, /unsafe-inline|unsafe-eval/);
  });

  it('when the pages are read, then they hold no inline script, event-handler attribute or style', async () => {
    for (const route of ['/', '/models']) {
      const html = await (await fetch(`${app.url}${route}`)).text();
      for (const script of html.match(/<script\b[^>]*>/g) ?? []) assert.match(script, /\ssrc=/, `${route}: ${script}`);
      assert.doesNotMatch(html, /<style\b/i, route);
      assert.doesNotMatch(html, /\sstyle\s*=/i, route);
      assert.doesNotMatch(html, /\son[a-z]+\s*=/i, route);
      assert.doesNotMatch(html, /javascript:/i, route);
    }
  });

  it('when a correction is stored as a PNG, then its image is served as image/png, shown inline', async () => {
    const png = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');
    const id = await storedImage(png, 'image/png');
    const response = await fetch(`${app.url}/api/corrections/${id}/image`);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'image/png');
    assert.equal(response.headers.get('content-disposition'), null);
    assert.deepEqual(Buffer.from(await response.arrayBuffer()), png);
  });

  for (const recorded of ['text/html', 'image/svg+xml', 'text/html; charset=utf-8', 'application/javascript', 'html', '']) {
    it(`when a stored image's row records "${recorded}", then it is served as a download of application/octet-stream, never as that`, async () => {
      const page = Buffer.from('<html><script>alert(document.cookie)</script></html>');
      const id = await storedImage(page, recorded);
      const response = await fetch(`${app.url}/api/corrections/${id}/image`);
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('content-type'), 'application/octet-stream');
      assert.match(response.headers.get('content-disposition') ?? '', /^attachment; filename="?correction-\d+\.bin"?$/);
      assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
      assert.deepEqual(Buffer.from(await response.arrayBuffer()), page);
    });
  }

  it('when the API docs are opened in a browser, then Swagger UI renders and the policy refuses nothing', async () => {
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
    try {
      const page = await browser.newPage();
      const refused = watchCspViolations(page);
      await page.goto(`${app.url}/docs`);
      await page.locator('.swagger-ui .info .title').waitFor({ timeout: 15_000 });
      await page.locator('.opblock').first().waitFor({ timeout: 15_000 });
      assert.deepEqual(refused, []);
    } finally {
      await browser.close();
    }
  });
});
