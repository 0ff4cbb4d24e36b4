import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RowDataPacket } from 'mysql2/promise';
import { createTestDatabase, createTestStorage, loadMnistDigits, renderDigitPng } from '@mlpl/shared/testing';
import type { TestDatabase, TestStorage } from '@mlpl/shared/testing';
import { clientKey, RateLimiter } from './rate-limit.js';
import { form, startTestApp } from './test-support.js';
import type { RunningApp } from './test-support.js';

describe('RateLimiter', () => {
  it('when a client sent its minute\'s worth, then the next is refused with the seconds to wait, and another client is not', () => {
    let now = 0;
    const limiter = new RateLimiter(3, () => now);
    assert.deepEqual([limiter.take('a'), limiter.take('a'), limiter.take('a')], [0, 0, 0]);
    assert.equal(limiter.take('a'), 20, 'one more every 20 s at 3 a minute');
    assert.equal(limiter.take('b'), 0);
    now += 19_000;
    assert.equal(limiter.take('a'), 1);
    now += 1_000;
    assert.equal(limiter.take('a'), 0, 'refilled at the rate');
    assert.equal(limiter.take('a'), 20);
  });

  it('when time passes, then a bucket refills no higher than a minute\'s worth', () => {
    let now = 0;
    const limiter = new RateLimiter(2, () => now);
    limiter.take('a');
    now += 10 * 60_000;
    assert.deepEqual([limiter.take('a'), limiter.take('a'), limiter.take('a') > 0], [0, 0, true]);
  });

  it('when a client has been unseen for a minute, then it is forgotten; the others are kept', () => {
    let now = 0;
    const limiter = new RateLimiter(60, () => now);
    limiter.take('old');
    now += 30_000;
    limiter.take('recent');
    assert.equal(limiter.clients, 2);
    now += 30_000;
    limiter.take('new');
    assert.equal(limiter.clients, 2, 'old forgotten');
    now += 60_000;
    limiter.take('new');
    assert.equal(limiter.clients, 1);
  });

  it('when addresses are keyed, then IPv4 is itself, IPv4 in IPv6 is IPv4, and IPv6 is its /64', () => {
    assert.equal(clientKey('203.0.113.9'), '203.0.113.9');
    assert.equal(clientKey('::ffff:203.0.113.9'), '203.0.113.9');
    assert.equal(clientKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
    assert.equal(clientKey('2001:db8:1:2:ffff:ffff:ffff:ffff'), '2001:db8:1:2::/64');
    assert.equal(clientKey('2001:db8::1'), '2001:db8:0:0::/64');
    assert.equal(clientKey('::1'), '0:0:0:0::/64');
    assert.equal(clientKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
    assert.equal(clientKey(undefined), 'unknown');
  });
});

describe('per-client rate limits on predict and feedback', () => {
  const PROBE_TOKEN = 'rate-limit-probe-token-0123';
  let db: TestDatabase;
  let s3: TestStorage;
  let png: Buffer;
  const apps: RunningApp[] = [];

  before(async () => {
    [db, s3] = await Promise.all([createTestDatabase(), createTestStorage()]);
    png = await renderDigitPng(loadMnistDigits(4, 1)[0] ?? new Float32Array(784), { scale: 2 });
  });
  after(async () => {
    for (const app of apps) await app.close();
    await db.drop();
  });

  const start = async (options: Omit<Parameters<typeof startTestApp>[0], 'database' | 'storage'>) => {
    const app = await startTestApp({ database: db.settings, storage: s3.settings, ...options });
    apps.push(app);
    return app;
  };
  const predictions = async () => Number(((await db.pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM predictions'))[0][0] as RowDataPacket).n);
  const predict = (app: RunningApp, headers: Record<string, string> = {}) => fetch(`${app.url}/api/predict`, { method: 'POST', body: form([{ name: 'image', file: png }]), headers });
  const feedback = (app: RunningApp) => fetch(`${app.url}/api/feedback`, { method: 'POST', body: form([{ name: 'image', file: png }, { name: 'label', value: '4' }]) });

  async function assertLimited(response: Response, what: RegExp): Promise<void> {
    assert.equal(response.status, 429);
    const retryAfter = Number(response.headers.get('retry-after'));
    assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `Retry-After ${response.headers.get('retry-after')}`);
    const { error } = (await response.json()) as { error: { code: string; message: string } };
    assert.equal(error.code, 'rate_limited');
    assert.match(error.message, what);
    assert.match(error.message, new RegExp(`try again in ${retryAfter} s`));
  }

  it('when a client sends more predictions or corrections a minute than allowed, then the extra ones are a 429 with Retry-After and are not recorded', async () => {
    const app = await start({ rateLimits: { predictPerMinute: 3, feedbackPerMinute: 2 }, probeToken: PROBE_TOKEN });
    for (let i = 0; i < 3; i++) assert.equal((await predict(app)).status, 200);
    const before = await predictions();
    await assertLimited(await predict(app), /too many predictions from your address \(at most 3 a minute\)/);
    assert.equal(await predictions(), before);
    for (let i = 0; i < 2; i++) assert.equal((await feedback(app)).status, 201);
    await assertLimited(await feedback(app), /too many corrections from your address \(at most 2 a minute\)/);
    // The health gate's probe is not counted, so a busy client cannot hold a rollout back.
    assert.equal((await predict(app, { 'x-mlpl-probe': PROBE_TOKEN })).status, 200);
    assert.equal((await predict(app, { 'x-mlpl-probe': 'not-the-token' })).status, 429);
  });

  it('when a limit is 0, then there is none', async () => {
    const app = await start({ rateLimits: { predictPerMinute: 0, feedbackPerMinute: 1 } });
    for (let i = 0; i < 5; i++) assert.equal((await predict(app)).status, 200);
  });

  it('when the webapp does not trust a proxy, then X-Forwarded-For is ignored and the peer is the client', async () => {
    const app = await start({ rateLimits: { predictPerMinute: 1, feedbackPerMinute: 1 } });
    assert.equal((await predict(app, { 'x-forwarded-for': '203.0.113.1' })).status, 200);
    await assertLimited(await predict(app, { 'x-forwarded-for': '203.0.113.2' }), /predictions/);
  });

  it('when the webapp trusts one proxy, then the address it appended is the client, whatever a client wrote before it', async () => {
    const app = await start({ rateLimits: { predictPerMinute: 1, feedbackPerMinute: 1 }, trustProxy: 1 });
    assert.equal((await predict(app, { 'x-forwarded-for': '203.0.113.1' })).status, 200);
    await assertLimited(await predict(app, { 'x-forwarded-for': '203.0.113.1' }), /predictions/);
    assert.equal((await predict(app, { 'x-forwarded-for': '203.0.113.2' })).status, 200, 'another client has its own bucket');
    // A client that writes an address of its own: nginx appends the one it saw, which counts.
    await assertLimited(await predict(app, { 'x-forwarded-for': '198.51.100.7, 203.0.113.1' }), /predictions/);
  });
});
