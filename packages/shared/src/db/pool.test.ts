import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { getImage } from './images.js';
import { createPool, REQUEST_PATH, select, STATEMENT_TIMEOUT_MS } from './pool.js';
import type { Pool } from './pool.js';
import { liveCountsByVersion } from './registry.js';
import { createTestDatabase } from '../testing/test-env.js';
import type { TestDatabase } from '../testing/test-env.js';

async function connectionId(pool: Pool): Promise<number> {
  const [row] = await select(pool, REQUEST_PATH, 'SELECT CONNECTION_ID() AS id');
  return Number(row?.id);
}

async function elapsedMs(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

describe('statement deadlines', () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
  });
  after(async () => {
    await db.drop();
  });

  it('when a statement outlasts its deadline, then it is cut off and its connection is closed, not handed out again', async () => {
    const pool = createPool(db.settings, { connectionLimit: 1 });
    try {
      const first = await connectionId(pool);
      const took = await elapsedMs(() =>
        assert.rejects(select(pool, { timeoutMs: 200 }, 'SELECT SLEEP(5)'), (error: { code?: string }) => error.code === 'PROTOCOL_SEQUENCE_TIMEOUT'),
      );
      assert.ok(took < 2000, `gave up after ${Math.round(took)} ms`);
      // The pool's only connection was busy sleeping: a new one answers at once.
      let next = 0;
      const waited = await elapsedMs(async () => {
        next = await connectionId(pool);
      });
      assert.ok(waited < 2000, `the next statement waited ${Math.round(waited)} ms`);
      assert.notEqual(next, first);
    } finally {
      await pool.end();
    }
  });

  it('when the tables are locked, then request-path reads (an image, the registry) give up after STATEMENT_TIMEOUT_MS', async () => {
    const locker = await db.pool.getConnection();
    try {
      await locker.query('LOCK TABLES images WRITE, predictions WRITE');
      const reads = [() => getImage(db.pool, 1), () => liveCountsByVersion(db.pool)];
      const took = await Promise.all(reads.map((read) => elapsedMs(() => assert.rejects(read(), { code: 'PROTOCOL_SEQUENCE_TIMEOUT' }))));
      for (const ms of took) assert.ok(ms >= STATEMENT_TIMEOUT_MS - 50 && ms < STATEMENT_TIMEOUT_MS + 1500, `gave up after ${Math.round(ms)} ms`);
    } finally {
      await locker.query('UNLOCK TABLES');
      locker.release();
    }
  });
});
