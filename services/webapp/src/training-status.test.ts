// How training stands, as /api/training and /api/training/runs tell it, through real HTTP,
// MariaDB and s3rver; runs are recorded with the functions the training service records them with.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RowDataPacket } from 'mysql2/promise';
import { finishRun, startRun } from '@mlpl/shared';
import { createTestDatabase, createTestStorage, renderDigitPng } from '@mlpl/shared/testing';
import type { TestDatabase, TestStorage } from '@mlpl/shared/testing';
import { loadPackagedMnist } from '@mlpl/shared/mnist-package';
import type { TrainingRunList, TrainingStatus } from './registry-types.js';
import { post, startTestApp } from './test-support.js';
import type { RunningApp } from './test-support.js';

/** A gate that failed on the test set: 2.2 points (22 of 1,000 digits) lost, with a 1-point tolerance. */
const LOST_ON_TEST = {
  candidate: { test: { accuracy: 0.948, testCount: 1000 } },
  incumbent: { test: { accuracy: 0.97, testCount: 1000 } },
  checks: [{ set: 'test', candidate: 0.948, incumbent: 0.97, delta: 0.948 - 0.97, passed: false }],
};

describe('how training stands (/api/training, /api/training/runs)', () => {
  let db: TestDatabase;
  let s3: TestStorage;
  let app: RunningApp;
  const mnist = loadPackagedMnist();
  const png = (index: number) => renderDigitPng(mnist.images.subarray(index * 784, (index + 1) * 784), { scale: 3 });
  const label = async (index: number) => {
    const stored = await post(`${app.url}/api/feedback`, [{ name: 'image', file: await png(index) }, { name: 'label', value: String(mnist.labels[index]) }]);
    assert.equal(stored.status, 201, JSON.stringify(stored.body));
  };
  const status = async () => {
    const response = await fetch(`${app.url}/api/training`);
    assert.equal(response.status, 200);
    return (await response.json()) as TrainingStatus;
  };
  const newestFeedbackId = async () => {
    const [rows] = await db.pool.query<RowDataPacket[]>("SELECT MAX(id) AS id FROM images WHERE source = 'feedback'");
    return Number(rows[0]?.id);
  };

  before(async () => {
    db = await createTestDatabase();
    s3 = await createTestStorage();
    app = await startTestApp({ database: db.settings, storage: s3.settings, trainingThreshold: 3 });
  });
  after(async () => {
    await app?.close();
    await db?.drop();
  });

  it('when no run has happened, then it counts the labels against the threshold and has no last run', async () => {
    assert.deepEqual(await status(), { pending: 0, threshold: 3, waitsForNewLabels: false, lastRun: null });
  });

  it('when the last run was rejected and no label came in since, then it says why in plain words and that the next run waits for new labels', async () => {
    for (const index of [0, 1, 2]) await label(index);
    const runId = await startRun(db.pool, { parentVersion: 'pretrained-1', parameters: { mode: 'fine-tune', tolerance: 0.01 } });
    await finishRun(db.pool, runId, {
      status: 'rejected',
      evaluation: LOST_ON_TEST,
      gateReason: 'test accuracy dropped by 0.0220 > 0.01',
      dataCounts: { mode: 'fine-tune', classes: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], newestFeedbackId: await newestFeedbackId() },
      durationMs: 1000,
    });
    const { lastRun, ...rest } = await status();
    assert.deepEqual(rest, { pending: 3, threshold: 3, waitsForNewLabels: true }, 'a rejected run uses no label');
    assert.ok(lastRun !== null && lastRun.finishedAt !== null);
    assert.deepEqual({ ...lastRun, startedAt: undefined, finishedAt: undefined }, {
      id: runId,
      status: 'rejected',
      startedAt: undefined,
      finishedAt: undefined,
      parentVersion: 'pretrained-1',
      modelVersion: null,
      verdict: 'rejected: lost 2.2 points against pretrained-1 on the test set (22 of 1,000 digits), more than the 1-point tolerance',
      error: null,
    });
  });

  it('when a label comes in after a rejection, then training no longer waits', async () => {
    await label(3);
    const { pending, waitsForNewLabels, lastRun } = await status();
    assert.deepEqual({ pending, waitsForNewLabels, status: lastRun?.status }, { pending: 4, waitsForNewLabels: false, status: 'rejected' });
  });

  it('when a run is under way, then it is the last run, without a verdict or an end', async () => {
    const runId = await startRun(db.pool, { parentVersion: 'pretrained-1', parameters: {} });
    const { lastRun } = await status();
    assert.deepEqual({ id: lastRun?.id, status: lastRun?.status, finishedAt: lastRun?.finishedAt, verdict: lastRun?.verdict }, { id: runId, status: 'running', finishedAt: null, verdict: null });
    await finishRun(db.pool, runId, { status: 'failed', error: 'no base test images of source \'mnist\' are registered', durationMs: 5 });
    const failed = (await status()).lastRun;
    assert.deepEqual({ status: failed?.status, verdict: failed?.verdict, error: failed?.error }, { status: 'failed', verdict: null, error: "no base test images of source 'mnist' are registered" });
  });

  it('when the runs are listed, then every run is there newest first, those that made no version included', async () => {
    const promoted = await startRun(db.pool, { parentVersion: 'pretrained-1', parameters: { tolerance: 0.01 } });
    await finishRun(db.pool, promoted, {
      status: 'promoted',
      modelVersion: 'v3-test',
      evaluation: { ...LOST_ON_TEST, checks: [{ set: 'test', candidate: 0.975, incumbent: 0.97, delta: 0.005, passed: true }] },
      durationMs: 10,
    });
    const response = await fetch(`${app.url}/api/training/runs`);
    assert.equal(response.status, 200);
    const { runs } = (await response.json()) as TrainingRunList;
    assert.deepEqual(runs.map((run) => [run.id, run.status, run.modelVersion]), [
      [promoted, 'promoted', 'v3-test'],
      [promoted - 1, 'failed', null],
      [promoted - 2, 'rejected', null],
    ]);
    assert.equal(runs[0]?.verdict, 'promoted: 0.5 points better than pretrained-1 on the test set');
    const [newest] = ((await (await fetch(`${app.url}/api/training/runs?limit=1`)).json()) as TrainingRunList).runs;
    assert.equal(newest?.id, promoted);
    for (const limit of ['0', 'x', '1000']) assert.equal((await fetch(`${app.url}/api/training/runs?limit=${limit}`)).status, 400, limit);
  });
});
