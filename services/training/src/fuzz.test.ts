import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RowDataPacket } from 'mysql2/promise';
import { createLogger } from '@mlpl/shared';
import { createTestDatabase, fuzzServer, fuzzSettings, FuzzTally, listenOnLoopback } from '@mlpl/shared/testing';
import type { FuzzRoute, TestDatabase } from '@mlpl/shared/testing';
import { createTrainingApp } from './app.js';
import { createTrainer } from './trainer.js';

const TOKEN = 'training-fuzz-token-0123';

// The training service has no OpenAPI document: these are the routes of app.ts.
const ROUTES: FuzzRoute[] = [
  { method: 'GET', path: '/healthz' },
  { method: 'GET', path: '/status' },
  { method: 'POST', path: '/train' },
];

describe('training under random requests (FUZZ_RUNS, default 200)', () => {
  let db: TestDatabase;
  let closeServer: (() => Promise<void>) | undefined;
  let url: string;
  let cycles = 0;

  before(async () => {
    db = await createTestDatabase();
    const logger = createLogger({ name: 'training-fuzz', level: 'silent' });
    const trainer = createTrainer({
      pool: db.pool,
      storage: undefined as never,
      logger,
      appbuilder: { url: 'http://127.0.0.1:1/', token: 'x' },
      cacheDir: '/nonexistent',
      incumbent: () => {
        throw new Error('not used: runCycle is replaced');
      },
      settings: { threshold: 10, tolerance: 0.01, seed: 1, mode: 'fine-tune', replaySize: 0, feedbackHeldOutShare: 0.2 },
      // The base data is never registered here, so a right token gets as far as 409 not_ready: no cycle runs.
      runCycle: async () => {
        cycles++;
        throw new Error('no cycle runs in this test');
      },
    });
    const app = createTrainingApp({ trainer, pool: db.pool, logger, token: TOKEN, nextCheck: () => null, settings: { threshold: 10 } });
    ({ url, close: closeServer } = await listenOnLoopback(app));
  });
  after(async () => {
    await closeServer?.();
    await db?.drop();
  });

  it('when every route gets random methods, paths, headers and bodies, then each answer is 2xx or a 4xx error body in time, and no cycle starts', async (t) => {
    const { runs, seed } = fuzzSettings(200);
    t.diagnostic(`FUZZ_RUNS=${runs} FUZZ_SEED=${seed}`);
    const runsBefore = Number(((await db.pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM training_runs'))[0][0] as RowDataPacket).n);
    const tally = new FuzzTally();
    try {
      await fuzzServer({ base: url, routes: ROUTES, images: [Buffer.from('{}')], tooLarge: 64 * 1024, bearers: [TOKEN], runs, seed, tally });
    } finally {
      t.diagnostic(`${tally.total} requests`);
      for (const line of tally.lines()) t.diagnostic(line);
    }

    assert.equal((await fetch(`${url}/healthz`)).status, 200);
    assert.equal(cycles, 0);
    assert.equal(Number(((await db.pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM training_runs'))[0][0] as RowDataPacket).n), runsBefore);
  });
});
