import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RowDataPacket } from 'mysql2/promise';
import { getImage, insertImage } from './images.js';
import { migrate, MIGRATIONS } from './migrations.js';
import { createPool } from './pool.js';
import { getPrediction, insertPrediction } from './predictions.js';
import { createTestDatabase } from '../testing/test-env.js';
import type { TestDatabase } from '../testing/test-env.js';

describe('database', () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
  });
  after(async () => {
    await db.drop();
  });

  it('when migrations run again, then nothing is applied twice', async () => {
    assert.deepEqual(await migrate(db.pool), []);
    const [rows] = await db.pool.query<RowDataPacket[]>('SELECT version FROM schema_migrations ORDER BY version');
    assert.deepEqual(
      rows.map((row) => row.version),
      MIGRATIONS.map((migration) => migration.version),
    );
  });

  it('when two services migrate an empty database at once, then each migration is applied once', async () => {
    const name = `${db.settings.database}_empty`;
    await db.pool.query(`CREATE DATABASE \`${name}\``);
    const pools = [createPool({ ...db.settings, database: name }), createPool({ ...db.settings, database: name })];
    try {
      const results = await Promise.all(pools.map((pool) => migrate(pool)));
      const all = MIGRATIONS.map((migration) => migration.version);
      assert.deepEqual([...results].sort((a, b) => b.length - a.length), [all, []]);
    } finally {
      await Promise.all(pools.map((pool) => pool.end()));
      await db.pool.query(`DROP DATABASE \`${name}\``);
    }
  });

  it('when an image row is inserted, then it reads back unused', async () => {
    const id = await insertImage(db.pool, {
      objectKey: 'ab/x.png',
      sha256: 'ab'.repeat(32),
      contentType: 'image/png',
      byteSize: 10,
      width: 28,
      height: 28,
      label: 7,
      source: 'feedback',
      split: null,
      predictionId: null,
      predictedDigit: 1,
      modelVersion: 'v1',
    });
    const row = await getImage(db.pool, id);
    assert.equal(row?.label, 7);
    assert.equal(row?.predictedDigit, 1);
    assert.equal(row?.usedInRun, null);
  });

  it('when a label is out of range, then the database refuses it too', async () => {
    await assert.rejects(
      insertImage(db.pool, {
        objectKey: 'ab/y.png',
        sha256: 'cd'.repeat(32),
        contentType: 'image/png',
        byteSize: 10,
        width: 28,
        height: 28,
        label: 10,
        source: 'feedback',
        split: null,
        predictionId: null,
        predictedDigit: null,
        modelVersion: null,
      }),
    );
  });

  it('when a prediction is recorded, then it reads back', async () => {
    const id = '0f8fad5b-d9cb-469f-a165-70867728950e';
    const row = { id, modelVersion: 'v1', imageSha256: 'ef'.repeat(32), digit: 3, confidence: 0.9, latencyMs: 2.5 };
    await insertPrediction(db.pool, row);
    assert.deepEqual(await getPrediction(db.pool, id), row);
    assert.equal(await getPrediction(db.pool, '00000000-0000-0000-0000-000000000000'), undefined);
  });
});
