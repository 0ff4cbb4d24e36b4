import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { initTf, listRuns } from '@mlpl/shared';
import { createTestDatabase, createTestStorage, startMariaDb } from '@mlpl/shared/testing';
import type { MariaDbServer, TestDatabase, TestStorage } from '@mlpl/shared/testing';
import { startAppbuilderStub } from './appbuilder-stub.js';
import type { AppbuilderStub } from './appbuilder-stub.js';
import { runCycle } from './cycle.js';
import type { CycleDeps } from './cycle.js';
import { createIncumbentSource } from './incumbent.js';
import type { IncumbentSource } from './incumbent.js';
import { loadPackagedBaseDataset } from './mnist-source.js';
import { PRETRAINED_DIR, addFeedback, feedbackUsage, registerSlice, silent } from './test-support.js';
import { trainModel } from './train.js';
import type { TrainOptions } from './train.js';

// A MariaDB of its own, stopped in the middle of a cycle and started again on the same data.
describe('when the database goes away', () => {
  let dataDir: string;
  let cacheDir: string;
  let server: MariaDbServer;
  let db: TestDatabase;
  let storage: TestStorage;
  let stub: AppbuilderStub;
  let incumbents: IncumbentSource;
  let deps: CycleDeps;
  let feedbackIds: number[];

  before(async () => {
    await initTf('wasm');
    dataDir = await mkdtemp(path.join(tmpdir(), 'mlpl-db-fault-'));
    cacheDir = await mkdtemp(path.join(tmpdir(), 'mlpl-db-fault-cache-'));
    server = await startMariaDb({ dir: dataDir });
    [db, storage, stub] = await Promise.all([createTestDatabase(server), createTestStorage(), startAppbuilderStub()]);
    const full = await registerSlice(db.pool, storage.storage, 300, 100);
    feedbackIds = await addFeedback(db.pool, storage.storage, full.test, [2, 107, 212, 317, 422, 527, 632, 737, 842, 947]);
    incumbents = createIncumbentSource({ pool: db.pool, storage: storage.storage, pretrainedDir: PRETRAINED_DIR, logger: silent });
    deps = {
      pool: db.pool,
      storage: storage.storage,
      logger: silent,
      appbuilder: { url: stub.url, token: 'test-token', timeoutMs: 10_000 },
      cacheDir,
      incumbent: () => incumbents.current(),
      settings: { threshold: 10, tolerance: 0.05, seed: 3, mode: 'fine-tune', replaySize: 100, feedbackHeldOutShare: 0.2, baseSource: full.source, dropoutRate: 0 },
    };
  });

  after(async () => {
    incumbents?.dispose();
    await stub?.close();
    await db?.pool.end().catch(() => undefined);
    await server?.stop();
    await rm(dataDir, { recursive: true, force: true });
    await rm(cacheDir, { recursive: true, force: true });
  });

  test('during training, then the cycle fails without handing anything over, and after a restart the next cycle promotes with nothing lost', async () => {
    const stopDuringTraining = async (options: TrainOptions) => {
      await server.stop();
      return trainModel(options);
    };
    const failed = await runCycle({ ...deps, train: stopDuringTraining });
    assert.equal(failed.status, 'failed');
    assert.equal(stub.received.length, 0, 'no model reaches the appbuilder while its run cannot be recorded');

    server = await startMariaDb({ dir: dataDir, port: server.port });
    const [orphan] = await listRuns(db.pool, 1);
    assert.equal(orphan?.status, 'running', 'the run could not be closed while the database was gone');
    assert.deepEqual(await feedbackUsage(db.pool), new Array(feedbackIds.length).fill(null), 'nothing was marked');

    const promoted = await runCycle(deps);
    assert.equal(promoted.status, 'promoted', promoted.reason);
    assert.ok(promoted.status === 'promoted');
    assert.equal(stub.received.length, 1);
    assert.deepEqual(await feedbackUsage(db.pool), new Array(feedbackIds.length).fill(promoted.runId));
    const runs = await listRuns(db.pool);
    assert.equal(runs.find((run) => run.id === orphan.id)?.status, 'failed');
    assert.match(runs.find((run) => run.id === orphan.id)?.error ?? '', /interrupted/);
  });

  test('when it goes away while the appbuilder has the files, then the run is recorded in full, no image is marked, and after a restart the next cycle promotes', async () => {
    const more = await addFeedback(db.pool, storage.storage, loadPackagedBaseDataset().test, [12, 117, 222, 327, 432, 537, 642, 747, 852, 957]);
    const received = stub.received.length;
    stub.beforeAnswer = async () => {
      stub.beforeAnswer = undefined;
      await server.stop();
    };
    const failed = await runCycle(deps);
    assert.equal(failed.status, 'failed');
    assert.equal(stub.received.length, received + 1, 'the appbuilder got the files');

    server = await startMariaDb({ dir: dataDir, port: server.port });
    const [orphan] = await listRuns(db.pool, 1);
    assert.equal(orphan?.status, 'running');
    assert.ok(orphan.modelVersion !== null && Array.isArray(orphan.history) && orphan.evaluation !== null, 'recorded before the hand-over');
    assert.deepEqual((await feedbackUsage(db.pool)).slice(-more.length), new Array(more.length).fill(null), 'promotion and marks are one transaction');

    const promoted = await runCycle(deps);
    assert.equal(promoted.status, 'promoted', promoted.reason);
    assert.ok(promoted.status === 'promoted');
    assert.deepEqual((await feedbackUsage(db.pool)).slice(-more.length), new Array(more.length).fill(promoted.runId));
    assert.equal((await listRuns(db.pool)).find((run) => run.id === orphan.id)?.status, 'failed');
  });
});
