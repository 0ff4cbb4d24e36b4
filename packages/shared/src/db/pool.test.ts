import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { getImage } from './images.js';
import { createPool, REQUEST_PATH, select } from './pool.js';
import type { Pool } from './pool.js';
import { liveCountsByVersion } from './registry.js';
import { createTestDatabase } from '../testing/test-env.js';
import type { TestDatabase } from '../testing/test-env.js';

async function connectionId(pool: Pool): Promise<number> {
  const [row] = await select(pool, REQUEST_PATH, 'SELECT CONNECTION_ID() AS id');
  return Number(row?.id);
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
      await assert.rejects(select(pool, { timeoutMs: 200 }, 'SELECT SLEEP(5)'), (error: { code?: string }) => error.code === 'PROTOCOL_SEQUENCE_TIMEOUT');
      // The pool's only connection was busy sleeping: kept, it would be handed out again once
      // the sleep ended; closed, the next statement gets a new one.
      const next = await connectionId(pool);
      assert.notEqual(next, first);
    } finally {
      await pool.end();
    }
  });

  it('when the tables are locked, then request-path reads (an image, the registry) give up at their deadline (STATEMENT_TIMEOUT_MS)', async () => {
    const locker = await db.pool.getConnection();
    try {
      await locker.query('LOCK TABLES images WRITE, predictions WRITE');
      const reads = [() => getImage(db.pool, 1), () => liveCountsByVersion(db.pool, new Date(0))];
      // PROTOCOL_SEQUENCE_TIMEOUT: the driver's statement timeout cut them off (no timing asserted).
      await Promise.all(reads.map((read) => assert.rejects(read(), { code: 'PROTOCOL_SEQUENCE_TIMEOUT' })));
    } finally {
      await locker.query('UNLOCK TABLES');
      locker.release();
    }
  });
});
