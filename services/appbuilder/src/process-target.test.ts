import assert from 'node:assert/strict';
import { once } from 'node:events';
import { copyFile, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { BUNDLE_FILES, bundleHashes, createLogger, initTf, listBuilds, listDeployments, PREPROCESSING_VERSION, readBundleDir, recordBundleHashes } from '@mlpl/shared';
import type { ModelBundleFiles } from '@mlpl/shared';
import { createTestDatabase, createTestStorage, freePort } from '@mlpl/shared/testing';
import type { TestDatabase, TestStorage } from '@mlpl/shared/testing';
import { createApp } from '@mlpl/webapp/dist/app.js';
import { loadClassifier, ModelSlot } from '@mlpl/webapp/dist/classifier.js';
import { createAppbuilderApp } from './app.js';
import { DeployError } from './health-gate.js';
import { createPipeline, PipelineError } from './pipeline.js';
import type { Pipeline } from './pipeline.js';
import { readProbeImage } from './probe-image.js';
import { CURRENT_LINK, processTarget } from './process-target.js';
import type { ReleaseTarget } from './release-target.js';

const TOKEN = 'appbuilder-test-token-0123';
const SWAP_TOKEN = 'model-swap-test-token-0123';
const ADMIN_TOKEN = 'admin-test-token-0123456789';
const PROBE_TOKEN = 'probe-test-token-0123456789';
const PRETRAINED_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../pretrained');
const BUNDLE_NAMES = Object.values(BUNDLE_FILES).sort();
const logger = createLogger({ name: 'process-target-test', level: 'silent' });

/** The pretrained model under another version: real artifacts, told apart by their version. */
async function bundleAs(version: string, change: (files: ModelBundleFiles) => ModelBundleFiles = (f) => f): Promise<ModelBundleFiles> {
  const files = await readBundleDir(PRETRAINED_DIR);
  const metadata = { ...JSON.parse(files.metadataJson.toString()), version, parent: 'pretrained-1' };
  return change({ ...files, metadataJson: Buffer.from(JSON.stringify(metadata)) });
}

function form(files: ModelBundleFiles): FormData {
  const body = new FormData();
  body.append(BUNDLE_FILES.modelJson, new Blob([Uint8Array.from(files.modelJson)]), BUNDLE_FILES.modelJson);
  body.append(BUNDLE_FILES.weightsBin, new Blob([Uint8Array.from(files.weightsBin)]), BUNDLE_FILES.weightsBin);
  body.append(BUNDLE_FILES.metadataJson, new Blob([Uint8Array.from(files.metadataJson)]), BUNDLE_FILES.metadataJson);
  return body;
}

async function writeFolder(dir: string, files: ModelBundleFiles): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, BUNDLE_FILES.modelJson), files.modelJson);
  await writeFile(path.join(dir, BUNDLE_FILES.weightsBin), files.weightsBin);
  await writeFile(path.join(dir, BUNDLE_FILES.metadataJson), files.metadataJson);
}

async function listen(app: { listen(port: number, host: string): Server }): Promise<{ server: Server; url: string }> {
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe('process target against a real webapp process', () => {
  let db: TestDatabase;
  let storage: TestStorage;
  let root: string;
  let slot: ModelSlot;
  let webapp: Server;
  let webappUrl: string;
  let appbuilder: Server;
  let url: string;
  let probeImage: Buffer;
  let seven: Buffer;
  let target: ReleaseTarget;
  let pipeline: Pipeline;
  const v1 = 'process-v1';
  const v2 = 'process-v2';

  const post = (route: string, body: FormData | string, token: string | null = TOKEN) =>
    fetch(`${url}${route}`, {
      method: 'POST',
      headers: { ...(token === null ? {} : { authorization: `Bearer ${token}` }), ...(typeof body === 'string' ? { 'content-type': 'application/json' } : {}) },
      body,
    });
  const redeploy = (version: string) => post('/deployments', JSON.stringify({ version }));
  /** `bundleAs(version)` with its hashes recorded, as training records them when a run promotes it. */
  const promoted = async (version: string, change?: (files: ModelBundleFiles) => ModelBundleFiles) => {
    const bundle = await bundleAs(version, change);
    await recordBundleHashes(db.pool, version, bundleHashes(bundle), null);
    return bundle;
  };
  const servedVersion = async () => ((await (await fetch(`${webappUrl}/api/model`)).json()) as { version: string }).version;
  const predictSeven = async () => {
    const body = new FormData();
    body.append('image', new Blob([Uint8Array.from(seven)], { type: 'image/png' }), 'seven.png');
    return (await (await fetch(`${webappUrl}/api/predict`, { method: 'POST', body })).json()) as { digit: number; modelVersion: string };
  };
  const currentLink = () => readlink(path.join(root, CURRENT_LINK));
  const leftovers = async () => (await readdir(root)).filter((name) => name.startsWith('.building-'));

  before(async () => {
    const backend = await initTf('wasm');
    [db, storage] = await Promise.all([createTestDatabase(), createTestStorage()]);
    // The appbuilder's own probe, a 7: deployments are gated on it, and the tests ask for it.
    seven = await readProbeImage();
    probeImage = seven;

    // The models folder as the local stack seeds it: the pretrained model, and `current` naming it.
    root = await mkdtemp(path.join(tmpdir(), 'mlpl-models-'));
    await mkdir(path.join(root, 'pretrained-1'));
    for (const name of BUNDLE_NAMES) await copyFile(path.join(PRETRAINED_DIR, name), path.join(root, 'pretrained-1', name));
    await symlink('pretrained-1', path.join(root, CURRENT_LINK));

    // The webapp as main.ts starts it with MODEL_DIR=<root>/current and MODEL_SWAP_TOKEN set.
    slot = new ModelSlot(await loadClassifier(path.join(root, CURRENT_LINK), PREPROCESSING_VERSION));
    ({ server: webapp, url: webappUrl } = await listen(
      createApp({
        logger,
        classifier: slot,
        pool: db.pool,
        storage: storage.storage,
        limits: { maxBytes: 5 * 1024 * 1024, maxPixels: 25_000_000 },
        backend,
        modelSwap: { slot, modelsRoot: root, token: SWAP_TOKEN, preprocessingVersion: PREPROCESSING_VERSION },
        probeToken: PROBE_TOKEN,
      }),
    ));

    target = processTarget({ modelsRoot: root, webappUrl, swapToken: SWAP_TOKEN, probeImage, probeToken: PROBE_TOKEN, healthTimeoutMs: 30_000, logger });
    pipeline = createPipeline({ pool: db.pool, logger, target });
    ({ server: appbuilder, url } = await listen(
      createAppbuilderApp({
        pipeline,
        pool: db.pool,
        logger,
        token: TOKEN,
        adminToken: ADMIN_TOKEN,
        limits: { modelJsonBytes: 1024 * 1024, weightsBytes: 8 * 1024 * 1024, metadataBytes: 64 * 1024 },
        readiness: async () => ({ webapp: 'ok' }),
      }),
    ));
    assert.equal(await servedVersion(), 'pretrained-1');
  });

  after(async () => {
    for (const server of [appbuilder, webapp]) {
      if (server === undefined) continue;
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
    slot?.dispose();
    await db?.drop();
    if (root !== undefined) await rm(root, { recursive: true, force: true });
  });

  test('when the seeded folder is adopted, then pretrained-1 is recorded as a build once', async () => {
    assert.equal(await pipeline.adoptBase(), 'pretrained-1');
    assert.equal(await pipeline.adoptBase(), undefined, 'a second start adopts nothing');
    const builds = await listBuilds(db.pool);
    assert.deepEqual(
      builds.map((build) => [build.modelVersion, build.status, build.image]),
      [['pretrained-1', 'built', path.join(root, 'pretrained-1')]],
    );
    assert.equal(await target.latestVersion(), 'pretrained-1');
    assert.equal(await target.serving(), 'pretrained-1');
    for (const [name, probe] of Object.entries(target.checks)) await assert.doesNotReject(probe(), name);
  });

  test('when a valid bundle is posted with the token, then its folder is written, the webapp serves it, current names it, and it is recorded', async () => {
    const bundle = await promoted(v1);
    assert.equal((await post('/', form(bundle), null)).status, 401, 'no token, no build');
    assert.equal((await post('/', form(bundle), 'not-the-token-at-all')).status, 401);

    const response = await post('/', form(bundle));
    const body = (await response.json()) as { version: string; image: string; digest: string; addedBytes: number; previousVersion: string; gapMs: number };
    assert.equal(response.status, 201, JSON.stringify(body));
    assert.equal(body.version, v1);
    assert.equal(body.image, path.join(root, v1));
    assert.equal(body.previousVersion, 'pretrained-1');
    assert.match(body.digest, /^sha256:[0-9a-f]{64}$/);
    assert.equal(body.addedBytes, bundle.modelJson.length + bundle.weightsBin.length + bundle.metadataJson.length);
    assert.equal(body.gapMs, 0, 'the old model answers until the new one is swapped in');

    assert.deepEqual((await readdir(path.join(root, v1))).sort(), BUNDLE_NAMES);
    assert.deepEqual(await readBundleDir(path.join(root, v1)), bundle, 'the folder holds the bytes uploaded');
    assert.equal(await currentLink(), v1);
    assert.equal(await target.latestVersion(), v1);
    assert.equal(await servedVersion(), v1);
    const answer = await predictSeven();
    assert.deepEqual([answer.digit, answer.modelVersion], [7, v1]);

    const { builds } = (await (await fetch(`${url}/builds`)).json()) as { builds: { modelVersion: string; status: string; image: string }[] };
    assert.deepEqual(builds.map((b) => [b.modelVersion, b.status, b.image]), [
      [v1, 'built', path.join(root, v1)],
      ['pretrained-1', 'built', path.join(root, 'pretrained-1')],
    ]);
    const { deployments } = (await (await fetch(`${url}/deployments`)).json()) as { deployments: { kind: string; modelVersion: string; status: string; previousVersion: string | null }[] };
    assert.deepEqual(deployments.map((d) => [d.kind, d.modelVersion, d.status, d.previousVersion]), [['deploy', v1, 'deployed', 'pretrained-1']]);
    assert.deepEqual(await leftovers(), []);
  });

  test('when the gate probes with the webapp\'s probe token, then its predictions are not recorded; without the token, they are', async () => {
    const predictions = async () => Number(((await db.pool.query('SELECT COUNT(*) AS n FROM predictions'))[0] as unknown as { n: number }[])[0]?.n);
    const before = await predictions();
    await target.deploy(path.join(root, v1), v1);
    assert.equal(await predictions(), before, 'the probe with the token is not recorded');
    const tokenless = processTarget({ modelsRoot: root, webappUrl, swapToken: SWAP_TOKEN, probeImage, healthTimeoutMs: 30_000, logger });
    await tokenless.deploy(path.join(root, v1), v1);
    assert.ok((await predictions()) > before, 'a probe without the token is recorded as any prediction');
    assert.equal(await servedVersion(), v1);
  });

  test('when the same version is posted again, then it is a 409 and nothing is built', async () => {
    const response = await post('/', form(await bundleAs(v1)));
    assert.equal(response.status, 409);
    assert.equal(((await response.json()) as { error: { code: string } }).error.code, 'version_exists');
    assert.equal((await listBuilds(db.pool)).length, 2);
    assert.equal(await servedVersion(), v1);
    assert.equal(await currentLink(), v1);
  });

  test('when a bundle training did not record, or not with these files, is posted, then it is a 422, recorded as a failed build with why, and nothing is written or deployed', async () => {
    const version = 'process-unrecorded';
    const buildsBefore = (await listBuilds(db.pool)).length;
    const unrecorded = await post('/', form(await bundleAs(version)));
    const unrecordedBody = (await unrecorded.json()) as { error: { code: string; message: string } };
    assert.equal(unrecorded.status, 422);
    assert.equal(unrecordedBody.error.code, 'bundle_unrecorded');
    assert.match(unrecordedBody.error.message, /no SHA-256 is recorded for version process-unrecorded/);

    // Recorded, then one weight changed on the way: a bundle that validates and would serve.
    await promoted(version);
    const changed = await bundleAs(version, (files) => {
      const weights = Buffer.from(files.weightsBin);
      weights.writeFloatLE(weights.readFloatLE(0) + 1, 0);
      return { ...files, weightsBin: weights };
    });
    const mismatched = await post('/', form(changed));
    const mismatchedBody = (await mismatched.json()) as { error: { code: string; message: string } };
    assert.equal(mismatched.status, 422);
    assert.equal(mismatchedBody.error.code, 'bundle_mismatch');
    assert.match(mismatchedBody.error.message, /weights\.bin \(sha256 [0-9a-f]{12}…, recorded [0-9a-f]{12}…\) of version process-unrecorded is not the file training recorded/);

    const builds = await listBuilds(db.pool);
    assert.equal(builds.length, buildsBefore + 2);
    assert.deepEqual(builds.slice(0, 2).map((build) => [build.modelVersion, build.status, build.image]), [[version, 'failed', null], [version, 'failed', null]]);
    assert.match(builds[0]?.error ?? '', /^refused: weights\.bin .* not the file training recorded/);
    assert.match(builds[1]?.error ?? '', /^refused: no SHA-256 is recorded/);
    assert.deepEqual((await readdir(root)).filter((name) => name.includes(version)), [], 'no folder written');
    assert.equal((await listDeployments(db.pool)).some((deployment) => deployment.modelVersion === version), false);
    assert.equal(await servedVersion(), v1);

    // The bundle training recorded is built all the same after refusals of others.
    assert.equal((await post('/', form(await bundleAs(version)))).status, 201);
    assert.equal(await servedVersion(), version);
    assert.equal((await redeploy(v1)).status, 201);
    assert.equal(await servedVersion(), v1);
  });

  test('when a bundle names a reserved version (latest, current), then it is a 422 before anything is built or recorded, even with hashes recorded for it', async () => {
    const buildsBefore = await listBuilds(db.pool);
    for (const version of ['latest', 'current']) {
      const response = await post('/', form(await promoted(version)));
      const body = (await response.json()) as { error: { code: string; message: string } };
      assert.equal(response.status, 422, version);
      assert.equal(body.error.code, 'invalid_metadata');
      assert.match(body.error.message, new RegExp(`"${version}" is reserved`));
    }
    // Straight to the pipeline, as a caller that skipped validation: refused all the same.
    await assert.rejects(pipeline.release(await bundleAs('latest'), 'latest'), (error: unknown) => error instanceof PipelineError && error.status === 400 && error.code === 'invalid_version');
    assert.deepEqual(await listBuilds(db.pool), buildsBefore);
    assert.ok((await lstat(path.join(root, CURRENT_LINK))).isSymbolicLink(), 'current is still the link');
    assert.equal(await currentLink(), v1);
    assert.equal(await servedVersion(), v1);
  });

  test('when the webapp refuses the model (a built folder corrupted since), then the deployment is a 502, recorded failed, and the previous version keeps serving', async () => {
    assert.equal((await post('/', form(await promoted(v2)))).status, 201);
    assert.equal(await servedVersion(), v2);
    await writeFile(path.join(root, v1, BUNDLE_FILES.modelJson), '{"modelTopology": "this does not load"}');

    const response = await redeploy(v1);
    const body = (await response.json()) as { error: { code: string; message: string } };
    assert.equal(response.status, 502);
    assert.equal(body.error.code, 'deploy_failed');
    assert.match(body.error.message, new RegExp(`the webapp refused to load ${v1}: 422`));
    assert.equal(await servedVersion(), v2);
    assert.equal(await currentLink(), v2, 'a failed deployment is not marked latest');
    const [failed] = await listDeployments(db.pool, 1);
    assert.deepEqual([failed?.kind, failed?.modelVersion, failed?.status, failed?.previousVersion], ['rollback', v1, 'failed', v2]);
    assert.match(failed?.error ?? '', /refused to load/);
  });

  test('when target.deploy is given a folder the webapp cannot load or that holds another version, then it rejects with a DeployError and nothing changes', async () => {
    const tensors = tf.memory().numTensors;
    await writeFolder(path.join(root, 'garbage'), await bundleAs('garbage', (files) => ({ ...files, modelJson: Buffer.from('not json at all') })));
    await assert.rejects(target.deploy(path.join(root, 'garbage'), 'garbage'), (error: unknown) => {
      assert.ok(error instanceof DeployError);
      assert.match(error.message, /the webapp refused to load garbage: 422/);
      return true;
    });
    await writeFolder(path.join(root, 'mislabelled'), await bundleAs(v1));
    await assert.rejects(target.deploy(path.join(root, 'mislabelled'), 'mislabelled'), (error: unknown) => {
      assert.ok(error instanceof DeployError);
      assert.match(error.message, new RegExp(`409 the folder mislabelled holds model version ${v1}`));
      return true;
    });
    await assert.rejects(target.deploy(path.join(root, 'never-written'), 'never-written'), /refused to load never-written: 404/);
    await assert.rejects(target.deploy(path.join(root, v2), 'pretrained-1'), /is not the folder of version pretrained-1/);
    assert.equal(await servedVersion(), v2);
    assert.equal(await currentLink(), v2);
    assert.equal(tf.memory().numTensors, tensors, 'the models the webapp refused were freed');
  });

  test('when a model loads but fails the prediction gate, then the previous version is swapped back and the failure recorded', async () => {
    // conv1's kernel scaled to near float32's limit: a blank input (the webapp's load check)
    // still gives finite answers, a real digit overflows to NaN, which the gate refuses.
    const overflowing = await promoted('overflowing', (files) => {
      const weights = Buffer.from(files.weightsBin);
      const kernel = new Float32Array(weights.buffer, weights.byteOffset, 5 * 5 * 1 * 16);
      for (let i = 0; i < kernel.length; i++) kernel[i] = (kernel[i] ?? 0) * 1e38;
      return { ...files, weightsBin: weights };
    });
    const impatient = processTarget({ modelsRoot: root, webappUrl, swapToken: SWAP_TOKEN, probeImage, healthTimeoutMs: 3000, logger });
    const tensors = tf.memory().numTensors;
    await assert.rejects(createPipeline({ pool: db.pool, logger, target: impatient }).release(overflowing, 'overflowing'), (error: unknown) => {
      assert.ok(error instanceof PipelineError);
      assert.equal(error.status, 502);
      assert.match(error.message, /no healthy answer within 3000 ms/);
      assert.doesNotMatch(error.message, /restoring/);
      return true;
    });
    assert.equal(await servedVersion(), v2, 'the previous version was swapped back');
    const answer = await predictSeven();
    assert.deepEqual([answer.digit, answer.modelVersion], [7, v2]);
    assert.equal(await currentLink(), v2);
    const [failed] = await listDeployments(db.pool, 1);
    assert.deepEqual([failed?.modelVersion, failed?.status], ['overflowing', 'failed']);
    assert.equal(tf.memory().numTensors, tensors, 'the refused model was freed, the restored one replaces the same');
  });

  test('when an earlier version is redeployed, then it answers again and current names it', async () => {
    assert.equal((await redeploy('never-built')).status, 404);
    assert.equal((await post('/deployments', JSON.stringify({ version: 'pretrained-1' }), null)).status, 401);
    const response = await redeploy('pretrained-1');
    const body = (await response.json()) as { version: string; image: string; previousVersion: string };
    assert.equal(response.status, 201, JSON.stringify(body));
    assert.deepEqual([body.version, body.image, body.previousVersion], ['pretrained-1', path.join(root, 'pretrained-1'), v2]);
    assert.equal(await servedVersion(), 'pretrained-1');
    const answer = await predictSeven();
    assert.deepEqual([answer.digit, answer.modelVersion], [7, 'pretrained-1']);
    assert.equal(await currentLink(), 'pretrained-1');
    const [rollback] = await listDeployments(db.pool, 1);
    assert.deepEqual([rollback?.kind, rollback?.modelVersion, rollback?.status, rollback?.previousVersion], ['rollback', 'pretrained-1', 'deployed', v2]);
  });

  test('when the admin token is sent, then it deploys (the registry relays it) but never builds', async () => {
    assert.equal((await post('/', form(await bundleAs('admin-build')), ADMIN_TOKEN)).status, 401, 'builds need APPBUILDER_TOKEN');
    const response = await post('/deployments', JSON.stringify({ version: v2 }), ADMIN_TOKEN);
    assert.equal(response.status, 201, await response.text());
    assert.equal(await servedVersion(), v2);
    assert.equal((await post('/deployments', JSON.stringify({ version: 'pretrained-1' }), ADMIN_TOKEN)).status, 201);
    assert.equal(await servedVersion(), 'pretrained-1');
  });

  test('when the folder of a built version is gone, then a rollback to it is a 410', async () => {
    await rm(path.join(root, v1), { recursive: true });
    const response = await redeploy(v1);
    assert.equal(response.status, 410);
    assert.equal(((await response.json()) as { error: { code: string } }).error.code, 'image_gone');
    assert.equal(await servedVersion(), 'pretrained-1');
  });

  test('when a build was interrupted, then recover removes what it left; and "current" is no version', async () => {
    await mkdir(path.join(root, '.building-x'));
    await writeFile(path.join(root, '.building-x', BUNDLE_FILES.modelJson), '{');
    assert.deepEqual(await target.recover(), ['removed .building-x']);
    assert.deepEqual(await leftovers(), []);
    assert.deepEqual(await target.recover(), []);

    await assert.rejects(target.build(await bundleAs('current'), 'current'), /"current" names the link to the version in service/);
    assert.ok((await lstat(path.join(root, CURRENT_LINK))).isSymbolicLink(), 'current is still the link');
    assert.equal(await currentLink(), 'pretrained-1');
    assert.deepEqual(await leftovers(), []);
  });

  test('when the webapp cannot be reached, then the deployment fails naming it and nothing is marked latest', async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    const away = processTarget({ modelsRoot: root, webappUrl: closed, swapToken: SWAP_TOKEN, probeImage, healthTimeoutMs: 3000, logger });
    assert.equal(await away.serving(), undefined);
    await assert.rejects(away.checks['webapp']?.() ?? Promise.resolve(), /fetch failed/);
    await assert.rejects(createPipeline({ pool: db.pool, logger, target: away }).release(await promoted('unreachable'), 'unreachable'), (error: unknown) => {
      assert.ok(error instanceof PipelineError);
      assert.equal(error.status, 502);
      assert.match(error.message, new RegExp(`the webapp at ${closed} could not be asked to load unreachable`));
      return true;
    });
    assert.equal(await currentLink(), 'pretrained-1');
    assert.equal(await away.latestVersion(), 'pretrained-1');
    const [failed] = await listDeployments(db.pool, 1);
    assert.deepEqual([failed?.modelVersion, failed?.status, failed?.previousVersion], ['unreachable', 'failed', 'pretrained-1']);
    assert.equal(await servedVersion(), 'pretrained-1', 'the webapp that is running was not touched');
    assert.deepEqual(await leftovers(), []);
  });

  test('when the seeded folder says its version is a reserved name, then it is not adopted and adoptBase says why', async () => {
    const seededRoot = await mkdtemp(path.join(tmpdir(), 'mlpl-models-reserved-'));
    try {
      await writeFolder(path.join(seededRoot, 'latest'), await bundleAs('latest'));
      await symlink('latest', path.join(seededRoot, CURRENT_LINK));
      const seeded = processTarget({ modelsRoot: seededRoot, webappUrl, swapToken: SWAP_TOKEN, probeImage, healthTimeoutMs: 1000, logger });
      const recorded: string[] = [];
      await assert.rejects(
        seeded.adoptBase(async (build) => void recorded.push(build.version), async () => false),
        /says its version is "latest", which is no version \("latest" is reserved/,
      );
      assert.deepEqual(recorded, []);
    } finally {
      await rm(seededRoot, { recursive: true, force: true });
    }
  });
});
