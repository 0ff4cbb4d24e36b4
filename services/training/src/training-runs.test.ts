import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  countUnusedFeedback,
  countUnusedFeedbackByClass,
  failInterruptedRuns,
  finishRun,
  insertImage,
  listPromotedVersions,
  listRuns,
  listUnusedFeedback,
  markImagesUsed,
  startRun,
} from '@mlpl/shared';
import { createTestDatabase } from '@mlpl/shared/testing';
import type { TestDatabase } from '@mlpl/shared/testing';

// The database functions the cycle relies on (migration 3), against real MariaDB.
describe('training runs and feedback bookkeeping', () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
  });
  after(async () => {
    await db?.drop();
  });

  async function addFeedback(label: number): Promise<number> {
    return insertImage(db.pool, {
      objectKey: `k/${label}.png`,
      sha256: String(label).repeat(64).slice(0, 64),
      contentType: 'image/png',
      byteSize: 1,
      width: 28,
      height: 28,
      label,
      source: 'feedback',
      split: null,
      predictionId: null,
      predictedDigit: null,
      modelVersion: null,
    });
  }

  test('when images are marked used, then only rows still unused change and counts follow', async () => {
    const ids = [await addFeedback(1), await addFeedback(2), await addFeedback(3)];
    assert.equal(await countUnusedFeedback(db.pool), 3);
    const first = await startRun(db.pool, { parentVersion: 'p', parameters: { seed: 1 } });
    assert.equal(await markImagesUsed(db.pool, ids.slice(0, 1), first), 1);
    const second = await startRun(db.pool, { parentVersion: 'p', parameters: {} });
    assert.equal(await markImagesUsed(db.pool, ids, second), 2, 'the image the first run used stays its');
    assert.equal(await countUnusedFeedback(db.pool), 0);
    assert.deepEqual(await listUnusedFeedback(db.pool), []);
    await finishRun(db.pool, first, { status: 'promoted', modelVersion: 'v1', history: [{ epoch: 1, loss: 0.5, accuracy: 0.9 }], durationMs: 12 });
    const runs = await listRuns(db.pool);
    assert.equal(runs.find((run) => run.id === first)?.status, 'promoted');
    assert.deepEqual(runs.find((run) => run.id === first)?.history, [{ epoch: 1, loss: 0.5, accuracy: 0.9 }]);
    assert.deepEqual(runs.find((run) => run.id === first)?.parameters, { seed: 1 });
  });

  test('when a run was left running by a killed process, then it is closed as failed and a finished run is not reopened', async () => {
    const stale = await startRun(db.pool, { parentVersion: null, parameters: {} });
    assert.ok((await failInterruptedRuns(db.pool)) >= 1);
    await finishRun(db.pool, stale, { status: 'promoted', durationMs: 1 });
    const run = (await listRuns(db.pool)).find((r) => r.id === stale);
    assert.equal(run?.status, 'failed');
    assert.match(run?.error ?? '', /interrupted/);
  });

  test('when feedback of several classes is unused, then it is counted per class and used rows drop out', async () => {
    const before = await countUnusedFeedbackByClass(db.pool);
    const ids = [await addFeedback(4), await addFeedback(4), await addFeedback(9)];
    const counts = await countUnusedFeedbackByClass(db.pool);
    assert.equal(counts.length, 10);
    assert.equal(counts[4], (before[4] ?? 0) + 2);
    assert.equal(counts[9], (before[9] ?? 0) + 1);
    const run = await startRun(db.pool, { parentVersion: null, parameters: {} });
    await markImagesUsed(db.pool, ids.slice(0, 1), run);
    assert.equal((await countUnusedFeedbackByClass(db.pool))[4], (before[4] ?? 0) + 1);
  });

  test('when runs are promoted, rejected and failed, then only promoted versions are listed, newest first', async () => {
    const versions: string[] = [];
    for (const [status, version] of [
      ['promoted', 'va'],
      ['rejected', 'vb'],
      ['promoted', 'vc'],
      ['failed', 'vd'],
    ] as const) {
      const run = await startRun(db.pool, { parentVersion: null, parameters: {} });
      await finishRun(db.pool, run, { status, modelVersion: version, durationMs: 1 });
      if (status === 'promoted') versions.unshift(version);
    }
    assert.deepEqual((await listPromotedVersions(db.pool)).slice(0, 2), versions);
    assert.deepEqual(await listPromotedVersions(db.pool, 1), ['vc']);
  });
});
