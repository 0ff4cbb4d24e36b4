// What a feedback answer says of the next training run, through real HTTP, MariaDB and s3rver:
// the page's "3 of 10 — the model retrains at 10" line is built from it.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { RowDataPacket } from 'mysql2/promise';
import { markImagesUsed, startRun } from '@mlpl/shared';
import { createTestDatabase, createTestStorage, renderDigitPng } from '@mlpl/shared/testing';
import type { TestDatabase, TestStorage } from '@mlpl/shared/testing';
import { loadPackagedMnist } from '@mlpl/shared/mnist-package';
import { loadWebappSettings } from './settings.js';
import { post, startTestApp } from './test-support.js';
import type { RunningApp } from './test-support.js';

const ACCOUNTS = { MYSQL_USER: 'u', MYSQL_PASSWORD: 'database-password-0123', STORAGE_ACCESS_KEY: 'a', STORAGE_SECRET_KEY: 'storage-secret-key-0123' };

describe('training progress in the feedback answer', () => {
  let db: TestDatabase;
  let s3: TestStorage;
  let app: RunningApp;
  const pngs: Buffer[] = [];

  before(async () => {
    db = await createTestDatabase();
    s3 = await createTestStorage();
    const { trainingThreshold } = loadWebappSettings({ ...ACCOUNTS, TRAINING_THRESHOLD: '3' });
    app = await startTestApp({ database: db.settings, storage: s3.settings, trainingThreshold });
    const mnist = loadPackagedMnist();
    for (let i = 0; i < 4; i++) pngs.push(await renderDigitPng(mnist.images.subarray(i * 784, (i + 1) * 784), { scale: 3 }));
  });
  after(async () => {
    await app?.close();
    await db?.drop();
  });

  const feedback = (url: string, png: Buffer, label: string) => post(`${url}/api/feedback`, [{ name: 'image', file: png }, { name: 'label', value: label }]);

  it('when feedback is stored, then its answer counts the unused feedback, itself included, against TRAINING_THRESHOLD', async () => {
    const answers = [];
    for (const [index, label] of ['5', '0', '4'].entries()) {
      const stored = await feedback(app.url, pngs[index]!, label);
      assert.equal(stored.status, 201, JSON.stringify(stored.body));
      answers.push(stored.body.training);
    }
    assert.deepEqual(answers, [
      { pending: 1, threshold: 3 },
      { pending: 2, threshold: 3 },
      { pending: 3, threshold: 3 },
    ]);
  });

  it('when a run has used the feedback, then it no longer counts', async () => {
    const [rows] = await db.pool.query<RowDataPacket[]>("SELECT id FROM images WHERE source = 'feedback'");
    const run = await startRun(db.pool, { parentVersion: null, parameters: {} });
    await markImagesUsed(db.pool, rows.map((row) => Number(row.id)), run);
    const stored = await feedback(app.url, pngs[3]!, '1');
    assert.equal(stored.status, 201);
    assert.deepEqual(stored.body.training, { pending: 1, threshold: 3 });
  });

  it('when the database stores feedback but cannot count it, then the feedback is stored and the answer says nothing of training', async () => {
    // A real refusal: an account that may add images but not read them.
    const user = `nocount_${randomBytes(4).toString('hex')}`;
    const password = randomBytes(12).toString('hex');
    await db.pool.query('CREATE USER ?@? IDENTIFIED BY ?', [user, '%', password]);
    await db.pool.query(`GRANT INSERT ON \`${db.settings.database}\`.images TO ?@?`, [user, '%']);
    let limited: RunningApp | undefined;
    try {
      limited = await startTestApp({ database: { ...db.settings, user, password }, storage: s3.settings });
      const stored = await feedback(limited.url, pngs[0]!, '7');
      assert.equal(stored.status, 201, JSON.stringify(stored.body));
      assert.equal(stored.body.training, null);
      const [rows] = await db.pool.query<RowDataPacket[]>('SELECT label FROM images WHERE id = ?', [stored.body.id]);
      assert.equal(rows[0]?.label, 7);
    } finally {
      await limited?.close();
      await db.pool.query('DROP USER ?@?', [user, '%']);
    }
  });
});
