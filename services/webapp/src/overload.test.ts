import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RowDataPacket } from 'mysql2/promise';
import { createTestDatabase, createTestStorage, loadMnistDigits, renderDigitPng } from '@mlpl/shared/testing';
import type { TestDatabase, TestStorage } from '@mlpl/shared/testing';
import { Limiter } from './limiter.js';
import { form, startTestApp } from './test-support.js';
import type { RunningApp } from './test-support.js';

/** Polls `check` every 10 ms for up to `timeoutMs`; fails naming `what`. */
async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`${what} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('the webapp under more uploads than it can decode', () => {
  let db: TestDatabase;
  let s3: TestStorage;
  let app: RunningApp;
  let png: Buffer;
  // One decoder, one waiting place: a test holds the decoder to fill the queue at will.
  const decodes = new Limiter(1, 1);

  before(async () => {
    [db, s3] = await Promise.all([createTestDatabase(), createTestStorage()]);
    app = await startTestApp({ database: db.settings, storage: s3.settings, decodes });
    png = await renderDigitPng(loadMnistDigits(7, 1)[0] ?? new Float32Array(784), { scale: 4 });
  });
  after(async () => {
    await app.close();
    await db.drop();
  });

  const predictions = async () => Number(((await db.pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM predictions'))[0][0] as RowDataPacket).n);
  const predict = (signal?: AbortSignal) => fetch(`${app.url}/api/predict`, { method: 'POST', body: form([{ name: 'image', file: png }]), ...(signal === undefined ? {} : { signal }) });
  /** Takes the one decoder until the returned function is called. */
  const holdDecoder = () => {
    let release = () => {};
    const held = decodes.run(() => new Promise<void>((resolve) => (release = resolve)));
    return async () => {
      release();
      await held;
    };
  };

  it('when the decoder is busy and the queue full, then predictions and feedback are a 503 "busy" with Retry-After, and the queued one is answered once it is free', async () => {
    const release = holdDecoder();
    try {
      const queued = predict();
      await until('the prediction waits for the decoder', () => decodes.queued === 1);
      const before = await predictions();
      const refused = await predict();
      assert.equal(refused.status, 503);
      assert.equal(refused.headers.get('retry-after'), '1');
      const { error } = (await refused.json()) as { error: { code: string; message: string } };
      assert.equal(error.code, 'busy');
      assert.match(error.message, /try again in 1 s/);
      const feedback = await fetch(`${app.url}/api/feedback`, { method: 'POST', body: form([{ name: 'image', file: png }, { name: 'label', value: '7' }]) });
      assert.equal(feedback.status, 503);
      assert.equal(feedback.headers.get('retry-after'), '1');
      assert.equal(((await feedback.json()) as { error: { code: string } }).error.code, 'busy');
      assert.equal(await predictions(), before, 'nothing refused was recorded');
      await release();
      const answered = await queued;
      assert.equal(answered.status, 200);
      assert.equal(((await answered.json()) as { digit: number }).digit, 7);
    } finally {
      await release();
    }
  });

  it('when a client hangs up while its upload waits, then the upload leaves the queue and is never decoded or recorded', async () => {
    const release = holdDecoder();
    try {
      const before = await predictions();
      const hangUp = new AbortController();
      const abandoned = predict(hangUp.signal).catch((error: unknown) => error);
      await until('the prediction waits for the decoder', () => decodes.queued === 1);
      hangUp.abort();
      assert.equal(((await abandoned) as Error).name, 'AbortError');
      await until('the abandoned upload leaves the queue', () => decodes.queued === 0);
      await release();
      assert.equal(decodes.running, 0, 'nothing took the decoder after it was freed');
      assert.equal(await predictions(), before);
    } finally {
      await release();
    }
  });
});

describe('the webapp flooded with large uploads', () => {
  let db: TestDatabase;
  let s3: TestStorage;
  let app: RunningApp;
  let large: Buffer;
  const decodes = new Limiter(2, 4);

  before(async () => {
    [db, s3] = await Promise.all([createTestDatabase(), createTestStorage()]);
    app = await startTestApp({ database: db.settings, storage: s3.settings, decodes });
    // About 9 megapixels (2996 × 2996), as a photo of a digit would be: ~36 MB once decoded.
    large = await renderDigitPng(loadMnistDigits(3, 1)[0] ?? new Float32Array(784), { scale: 107 });
  });
  after(async () => {
    await app.close();
    await db.drop();
  });

  it('when 24 clients upload 9-megapixel images at once, then /healthz keeps answering, what does not fit waiting is refused 503, and the rest is answered', async () => {
    const flood = Array.from({ length: 24 }, () =>
      fetch(`${app.url}/api/predict`, { method: 'POST', body: form([{ name: 'image', file: large }]) }).then(async (response) => ({ status: response.status, body: await response.text() })),
    );
    let floodDone = false;
    const answered = Promise.all(flood).finally(() => (floodDone = true));
    let checks = 0;
    // Asked over and over while the flood lasts; each must answer within a generous 5 s.
    do {
      const health = await fetch(`${app.url}/healthz`, { signal: AbortSignal.timeout(5000) });
      assert.equal(health.status, 200);
      checks++;
      await new Promise((resolve) => setTimeout(resolve, 20));
    } while (!floodDone);
    const results = await answered;
    const statuses = results.map((result) => result.status);
    assert.ok(checks >= 1);
    assert.ok(statuses.every((status) => status === 200 || status === 503), statuses.join(' '));
    assert.ok(statuses.includes(503), `the queue of 4 refused some: ${statuses.join(' ')}`);
    assert.ok(statuses.filter((status) => status === 200).length >= 2 + 4, `those decoding and waiting were answered: ${statuses.join(' ')}`);
    assert.deepEqual([decodes.running, decodes.queued], [0, 0]);
  });
});
