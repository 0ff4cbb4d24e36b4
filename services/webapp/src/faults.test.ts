import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RowDataPacket } from 'mysql2/promise';
import { listObjectKeys } from '@mlpl/shared';
import { createTestDatabase, createTestStorage, renderDigitPng, startMariaDb, startS3rver } from '@mlpl/shared/testing';
import type { MariaDbServer, S3Server, TestDatabase, TestStorage } from '@mlpl/shared/testing';
import { loadPackagedMnist } from '@mlpl/shared/mnist-package';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { post, startTestApp } from './test-support.js';
import type { RunningApp } from './test-support.js';

/**
 * The webapp against a MariaDB and an s3rver of this file's own, which the tests stop and
 * start again on the same data folders and ports, as an outage would.
 */
describe('webapp when the database or storage fails', () => {
  let dbDir: string;
  let s3Dir: string;
  let mariadb: MariaDbServer;
  let s3rver: S3Server;
  let db: TestDatabase;
  let s3: TestStorage;
  let app: RunningApp;
  const mnist = loadPackagedMnist();
  const pngs: Buffer[] = [];

  before(async () => {
    dbDir = await mkdtemp(path.join(os.tmpdir(), 'mlpl-fault-db-'));
    s3Dir = await mkdtemp(path.join(os.tmpdir(), 'mlpl-fault-s3-'));
    mariadb = await startMariaDb({ dir: dbDir });
    s3rver = await startS3rver({ dir: s3Dir });
    db = await createTestDatabase(mariadb);
    s3 = await createTestStorage(s3rver);
    app = await startTestApp({ database: db.settings, storage: s3.settings });
    for (let i = 0; i < 4; i++) pngs.push(await renderDigitPng(mnist.images.subarray(i * 784, (i + 1) * 784), { scale: 3 }));
  });
  after(async () => {
    await app.close();
    await db.drop().catch(() => undefined);
    await mariadb.stop();
    await s3rver.stop();
    await rm(dbDir, { recursive: true, force: true });
    await rm(s3Dir, { recursive: true, force: true });
  });

  const feedback = (png: Buffer, label: string) =>
    post(`${app.url}/api/feedback`, [{ name: 'image', file: png }, { name: 'label', value: label }]);

  /** /readyz says which check failed, not the driver's words: no address, port, user or error code. */
  function assertNothingInternal(said: string, port: number): void {
    for (const secret of [String(port), '127.0.0.1', db.settings.user, 'ECONNREFUSED', 'connect', 'Access denied']) {
      assert.ok(!said.includes(secret), `/readyz says "${secret}": ${said}`);
    }
  }

  async function rowIds(): Promise<number[]> {
    const [rows] = await db.pool.query<RowDataPacket[]>('SELECT id FROM images ORDER BY id');
    return rows.map((row) => Number(row.id));
  }

  it('when storage is down, then feedback is 503, readiness says so, and no row is written', async () => {
    const stored = await feedback(pngs[0]!, '5');
    assert.equal(stored.status, 201);
    await s3rver.stop();
    const refused = await feedback(pngs[1]!, '0');
    assert.equal(refused.status, 503);
    assert.equal(refused.body.error.code, 'storage_unavailable');
    const ready = await fetch(`${app.url}/readyz`);
    assert.equal(ready.status, 503);
    const said = await ready.text();
    assert.deepEqual((JSON.parse(said) as { checks: unknown }).checks, { model: 'ok', database: 'ok', storage: 'failed', startup: 'ok' });
    assertNothingInternal(said, s3rver.port);
    // Predictions do not need storage.
    assert.equal((await post(`${app.url}/api/predict`, [{ name: 'image', file: pngs[1]! }])).status, 200);
    assert.deepEqual(await rowIds(), [stored.body.id]);

    s3rver = await startS3rver({ dir: s3Dir, port: s3rver.port });
    const again = await feedback(pngs[1]!, '0');
    assert.equal(again.status, 201);
    assert.deepEqual(await rowIds(), [stored.body.id, again.body.id]);
    const keys = await listObjectKeys(s3.storage, s3.settings.imagesBucket);
    assert.ok(keys.includes(stored.body.objectKey) && keys.includes(again.body.objectKey));
  });

  it('when the database stalls without refusing, then feedback is a 503 and predictions answer within seconds', async () => {
    const before = await rowIds();
    mariadb.process.kill('SIGSTOP');
    try {
      const started = Date.now();
      const [refused, predicted] = await Promise.all([feedback(pngs[3]!, '6'), post(`${app.url}/api/predict`, [{ name: 'image', file: pngs[3]! }])]);
      assert.equal(refused.status, 503);
      assert.equal(refused.body.error.code, 'database_unavailable');
      assert.equal(predicted.status, 200);
      assert.equal(predicted.body.predictionId, null);
      assert.ok(Date.now() - started < 10_000, `answered after ${Date.now() - started} ms`);
    } finally {
      mariadb.process.kill('SIGCONT');
    }
    assert.deepEqual(await rowIds(), before);
  });

  it('when the database is down, then feedback is 503, predictions still answer, and nothing earlier is lost', async () => {
    const before = await rowIds();
    await mariadb.stop();
    const refused = await feedback(pngs[2]!, '4');
    assert.equal(refused.status, 503);
    assert.equal(refused.body.error.code, 'database_unavailable');
    const predicted = await post(`${app.url}/api/predict`, [{ name: 'image', file: pngs[2]! }]);
    assert.equal(predicted.status, 200);
    assert.equal(predicted.body.predictionId, null, 'no id is handed out for a prediction that was not recorded');
    const ready = await fetch(`${app.url}/readyz`);
    assert.equal(ready.status, 503);
    const said = await ready.text();
    assert.deepEqual((JSON.parse(said) as { checks: unknown }).checks, { model: 'ok', database: 'failed', storage: 'ok', startup: 'ok' });
    assertNothingInternal(said, mariadb.port);

    mariadb = await startMariaDb({ dir: dbDir, port: mariadb.port });
    assert.deepEqual(await rowIds(), before);
    const again = await feedback(pngs[2]!, '4');
    assert.equal(again.status, 201);
    assert.deepEqual(await rowIds(), [...before, again.body.id]);
    assert.equal((await fetch(`${app.url}/readyz`)).status, 200);
  });
});
