import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  BUNDLE_FILES,
  bundleHashes,
  createLogger,
  initTf,
  listBuilds,
  listDeployments,
  readBundleDir,
  recordBundleHashes,
} from '@mlpl/shared';
import type { ModelBundleFiles } from '@mlpl/shared';
import { createTestDatabase, createTestStorage, freePort } from '@mlpl/shared/testing';
import type { TestDatabase, TestStorage } from '@mlpl/shared/testing';
import { createAppbuilderApp } from './app.js';
import { buildWebappImage, imageTags, REPO_ROOT, startRegistry, startWebappContainer } from './docker-fixtures.js';
import { buildImage, createContainer, createDocker, DockerStreamError, inspectContainer, inspectImage, removeContainer, removeImage, renameContainer, startContainer, stopContainer, tagImage } from './docker.js';
import type { Docker } from './docker.js';
import { deployImage, DeployError, recoverInterruptedDeploy } from './deploy.js';
import type { DeployTarget } from './deploy.js';
import { buildModelImage, LABELS, tagLatest } from './images.js';
import { dockerTarget } from './docker-target.js';
import { createPipeline, PipelineError } from './pipeline.js';
import type { Pipeline } from './pipeline.js';
import { readProbeImage } from './probe-image.js';

const TOKEN = 'appbuilder-test-token-0123';
const logger = createLogger({ name: 'appbuilder-test', level: 'silent' });

/** The pretrained model under another version: real artifacts, told apart by their version. */
async function bundleAs(version: string, change: (files: ModelBundleFiles) => ModelBundleFiles = (f) => f): Promise<ModelBundleFiles> {
  const files = await readBundleDir(path.join(REPO_ROOT, 'pretrained'));
  const metadata = { ...JSON.parse(files.metadataJson.toString()), version, parent: 'pretrained-1' };
  return change({ ...files, metadataJson: Buffer.from(JSON.stringify(metadata)) });
}

function form(files: Partial<Record<string, Buffer>>, names: Record<string, string> = {}, extra: [string, string][] = []): FormData {
  const body = new FormData();
  for (const [field, bytes] of Object.entries(files)) {
    if (bytes !== undefined) body.append(field, new Blob([Uint8Array.from(bytes)]), names[field] ?? field);
  }
  for (const [field, value] of extra) body.append(field, value);
  return body;
}

const asFields = (files: ModelBundleFiles) => ({
  [BUNDLE_FILES.modelJson]: files.modelJson,
  [BUNDLE_FILES.weightsBin]: files.weightsBin,
  [BUNDLE_FILES.metadataJson]: files.metadataJson,
});

describe('appbuilder against a real Docker engine', () => {
  const suffix = randomBytes(3).toString('hex');
  const repo = `mlpl-test-${suffix}/mywebapp`;
  const containerName = `mlpl-test-webapp-${suffix}`;
  let docker: Docker;
  let db: TestDatabase;
  let storage: TestStorage;
  let server: Server;
  let url: string;
  let webappUrl: string;
  let target: DeployTarget;
  let probeImage: Buffer;
  let seven: Buffer;
  let pipeline: Pipeline;
  const v1 = `v1-${suffix}`;

  const post = (body: FormData | string, token: string | null = TOKEN, route = '/', type?: string) =>
    fetch(`${url}${route}`, {
      method: 'POST',
      headers: { ...(token === null ? {} : { authorization: `Bearer ${token}` }), ...(type === undefined ? {} : { 'content-type': type }) },
      body,
    });
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

  before(async () => {
    await initTf('wasm');
    const baseImage = await buildWebappImage();
    docker = createDocker('/var/run/docker.sock');
    [db, storage] = await Promise.all([createTestDatabase(), createTestStorage()]);
    // The first webapp image, as compose would have it: `<repo>:latest`.
    await tagImage(docker, baseImage, repo, 'latest');

    // The appbuilder's own probe, a 7: deployments are gated on it, and the tests ask for it.
    seven = await readProbeImage();
    probeImage = seven;

    // The running webapp, as the deployment will find it.
    ({ url: webappUrl } = await startWebappContainer(docker, {
      image: `${repo}:latest`,
      name: containerName,
      label: { 'mlpl.test': suffix },
      database: db.settings,
      storage: storage.settings,
    }));

    target = { docker, containerName, webappPort: 5050, reach: 'host', healthTimeoutMs: 90_000, probeImage, logger };
    pipeline = createPipeline({ pool: db.pool, logger, target: dockerTarget({ deploy: target, repo, push: false }) });
    const adopted = await pipeline.adoptBase();
    assert.equal(adopted, 'pretrained-1', "the Dockerfile's label names the pretrained model's version");
    const app = createAppbuilderApp({
      pipeline,
      pool: db.pool,
      logger,
      token: TOKEN,
      limits: { modelJsonBytes: 1024 * 1024, weightsBytes: 8 * 1024 * 1024, metadataBytes: 64 * 1024 },
      readiness: async () => ({ docker: 'ok' }),
    });
    server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    assert.equal(await servedVersion(), 'pretrained-1');
  });

  after(async () => {
    await new Promise((resolve) => server?.close(resolve));
    if (docker !== undefined) {
      const containers = await docker.listContainers({ all: true, filters: { label: [`mlpl.test=${suffix}`] } });
      for (const container of containers) await removeContainer(docker, container.Id);
      for (const tag of await imageTags(repo).catch(() => [])) await removeImage(docker, tag).catch(() => undefined);
      for (const network of await docker.listNetworks({ filters: { label: [`mlpl.test=${suffix}`] } })) await docker.getNetwork(network.Id).remove().catch(() => undefined);
    }
    await db?.drop();
  });

  test('when uploads are bad, then each is refused with a 4xx before anything is built', async () => {
    const good = await bundleAs(`bad-${suffix}`);
    const fields = asFields(good);
    const tagsBefore = await imageTags(repo);
    const evil = await bundleAs('../evil');
    const cases: [string, () => Promise<Response>, number][] = [
      ['no token', () => post(form(fields), null), 401],
      ['wrong token', () => post(form(fields), 'not-the-token-at-all'), 401],
      ['not multipart', () => post(JSON.stringify({ model: 1 }), TOKEN, '/', 'application/json'), 415],
      ['a missing file', () => post(form({ ...fields, [BUNDLE_FILES.weightsBin]: undefined })), 400],
      ['an extra file', () => post(form({ ...fields, 'imageClassifier.py': Buffer.from('import os') })), 400],
      ['an extra text field', () => post(form(fields, {}, [['version', 'x']])), 400],
      ['a path in a name', () => post(form(fields, { [BUNDLE_FILES.modelJson]: '../../etc/model.json' })), 400],
      ['a hidden name', () => post(form(fields, { [BUNDLE_FILES.weightsBin]: '.weights.bin' })), 400],
      ['weights of the wrong size', () => post(form({ ...fields, [BUNDLE_FILES.weightsBin]: good.weightsBin.subarray(4) })), 422],
      ['model.json not JSON', () => post(form({ ...fields, [BUNDLE_FILES.modelJson]: Buffer.from('{not json') })), 422],
      ['a topology that is not a model', () => post(form({ ...fields, [BUNDLE_FILES.modelJson]: Buffer.from('{"modelTopology":{},"weightsManifest":[]}') })), 422],
      ['metadata incomplete', () => post(form({ ...fields, [BUNDLE_FILES.metadataJson]: Buffer.from('{"version":"x"}') })), 422],
      ['a version that is no tag', () => post(form(asFields(evil))), 422],
      ['weights over the limit', () => post(form({ ...fields, [BUNDLE_FILES.weightsBin]: Buffer.alloc(9 * 1024 * 1024) })), 413],
    ];
    for (const [what, send, status] of cases) {
      const answer = await send();
      assert.equal(answer.status, status, what);
      const body = (await answer.json()) as { error?: { code?: string; message?: string } };
      assert.equal(typeof body.error?.code, 'string', what);
    }
    // A model whose output is not 10 classes: the last layer made 9 wide.
    const nine = await bundleAs(`nine-${suffix}`, (files) => ({
      ...files,
      modelJson: Buffer.from(files.modelJson.toString().replace('"units":10', '"units":9')),
    }));
    assert.equal((await post(form(asFields(nine)))).status, 422, 'a model with 9 outputs');
    assert.deepEqual(await imageTags(repo), tagsBefore, 'no image was built');
    assert.deepEqual((await listBuilds(db.pool)).map((build) => build.modelVersion), ['pretrained-1'], 'no build was recorded');
    assert.equal(await servedVersion(), 'pretrained-1');
  });

  test('when a valid bundle arrives, then one small layer is built, the new container replaces the old one in place, and it predicts correctly', async () => {
    const oldContainer = await inspectContainer(docker, containerName);
    const response = await post(form(asFields(await promoted(v1))));
    const body = (await response.json()) as { version: string; image: string; addedBytes: number; previousVersion: string; gapMs: number };
    assert.equal(response.status, 201, JSON.stringify(body));
    assert.equal(body.version, v1);
    assert.equal(body.image, `${repo}:${v1}`);
    assert.equal(body.previousVersion, 'pretrained-1', "the first image's label names the pretrained model");
    assert.ok(body.addedBytes > 400_000 && body.addedBytes < 2 * 1024 * 1024, `model layer ${body.addedBytes} B`);
    assert.equal(await servedVersion(), v1);
    const answer = await predictSeven();
    assert.deepEqual([answer.digit, answer.modelVersion], [7, v1]);

    const replaced = await inspectContainer(docker, containerName);
    assert.notEqual(replaced?.Id, oldContainer?.Id);
    assert.equal(replaced?.Config.Image, `${repo}:${v1}`);
    assert.deepEqual(replaced?.Config.Env?.filter((e) => !e.startsWith('PATH=')).sort(), oldContainer?.Config.Env?.filter((e) => !e.startsWith('PATH=')).sort(), 'settings kept');
    assert.equal(replaced?.HostConfig.RestartPolicy?.Name, 'unless-stopped');
    assert.equal(replaced?.Config.Labels?.['mlpl.test'], suffix);
    assert.equal(replaced?.Config.Labels?.[LABELS.version], v1);
    assert.equal((await inspectImage(docker, `${repo}:latest`))?.Id, (await inspectImage(docker, `${repo}:${v1}`))?.Id, 'latest follows the serving version');
    const leftovers = await docker.listContainers({ all: true, filters: { label: [`mlpl.test=${suffix}`] } });
    assert.equal(leftovers.length, 1, 'no candidate or parked container is left behind');
    const [build] = await listBuilds(db.pool);
    assert.deepEqual([build?.modelVersion, build?.status, build?.image], [v1, 'built', `${repo}:${v1}`]);
    console.log(`# build ${build?.durationMs} ms, model layer ${body.addedBytes} B, gap ${body.gapMs} ms`);
  });

  test('when the same version is posted again or a second upload arrives during a build, then it is refused with 409', async () => {
    assert.equal((await post(form(asFields(await bundleAs(v1))))).status, 409);
    const [first, second] = await Promise.all([post(form(asFields(await promoted(`v2-${suffix}`)))), post(form(asFields(await promoted(`v3-${suffix}`))))]);
    assert.deepEqual([first.status, second.status].sort(), [201, 409]);
  });

  test('when a broken model is released, then its candidate fails the gate, the old container keeps answering, and the failure is recorded', async () => {
    const before = await servedVersion();
    const brokenVersion = `broken-${suffix}`;
    // Not through POST / (validation would refuse it): straight to the pipeline, as a model that
    // loads in the appbuilder but not in the webapp would arrive.
    const broken = await promoted(brokenVersion, (files) => ({ ...files, modelJson: Buffer.from('{"modelTopology": "this does not load"}') }));
    await assert.rejects(pipeline.release(broken, brokenVersion), (error: unknown) => {
      assert.ok(error instanceof PipelineError);
      assert.equal(error.status, 502);
      assert.match(error.message, /stopped|no healthy answer/);
      return true;
    });
    assert.equal(await servedVersion(), before);
    const [failed] = await listDeployments(db.pool, 1);
    assert.deepEqual([failed?.modelVersion, failed?.status], [brokenVersion, 'failed']);
    assert.match(failed?.error ?? '', /candidate/);
    const leftovers = await docker.listContainers({ all: true, filters: { label: [`mlpl.test=${suffix}`] } });
    assert.equal(leftovers.length, 1);
  });

  test('when the new container fails only in place of the old one, then the old one is restored under its name and answers', async () => {
    const before = await servedVersion();
    const oldId = (await inspectContainer(docker, containerName))?.Id;
    const port = new URL(webappUrl).port;
    // Passes as a candidate (host networking gives it another port), dies on the old one's port.
    const trap = `trap-${suffix}`;
    const dir = await mkdtemp(path.join(tmpdir(), 'mlpl-trap-'));
    try {
      await writeFile(path.join(dir, 'Dockerfile'), `FROM ${repo}:${v1}\nCMD ["sh", "-c", "[ \\"$PORT\\" = \\"${port}\\" ] && exit 3; exec node dist/main.js"]\n`);
      await buildImage(docker, { context: dir, src: ['Dockerfile'], tag: `${repo}:${trap}` });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    await assert.rejects(deployImage(target, `${repo}:${trap}`, v1), DeployError);
    const restored = await inspectContainer(docker, containerName);
    assert.equal(restored?.Id, oldId, 'the same container, back under its name');
    assert.equal(restored?.State.Running, true);
    assert.equal(await servedVersion(), before);
    const leftovers = await docker.listContainers({ all: true, filters: { label: [`mlpl.test=${suffix}`] } });
    assert.equal(leftovers.length, 1);
  });

  test('when a build step fails, then Docker\'s error from inside the stream rejects the build', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'mlpl-failing-build-'));
    try {
      await writeFile(path.join(dir, 'Dockerfile'), `FROM ${repo}:pretrained-1\nRUN exit 3\n`);
      await assert.rejects(buildImage(docker, { context: dir, src: ['Dockerfile'], tag: `${repo}:failing-${suffix}` }), (error: unknown) => {
        assert.ok(error instanceof DockerStreamError);
        assert.match(error.message, /returned a non-zero code: 3/);
        return true;
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('when a multipart body is malformed, then it is a 400', async () => {
    const response = await post('--xyz\r\nContent-Disposition: form-data; name="model.json"; filename="model.json"\r\n\r\n{', TOKEN, '/', 'multipart/form-data; boundary=xyz');
    assert.equal(response.status, 400);
    assert.equal(((await response.json()) as { error: { code: string } }).error.code, 'bad_multipart');
  });

  test('when the appbuilder stopped in the middle of a swap, then the next start puts the old container back and removes leftovers', async () => {
    const before = await servedVersion();
    const old = await inspectContainer(docker, containerName);
    await renameContainer(docker, old?.Id ?? '', `${containerName}-previous-1`);
    await stopContainer(docker, old?.Id ?? '');
    await createContainer(docker, { name: `${containerName}-candidate-x`, Image: `${repo}:pretrained-1`, Labels: { 'mlpl.test': suffix } });
    const done = await recoverInterruptedDeploy(docker, containerName);
    assert.deepEqual(done, [`removed ${containerName}-candidate-x`, `restored ${containerName}-previous-1 as ${containerName}`]);
    assert.equal((await inspectContainer(docker, containerName))?.Id, old?.Id);
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline && (await servedVersion().catch(() => undefined)) === undefined) await new Promise((r) => setTimeout(r, 250));
    assert.equal(await servedVersion(), before);
  });

  test('when an earlier version is redeployed, then it answers again and becomes latest; the records list every build and deployment', async () => {
    const unknown = await post(JSON.stringify({ version: 'never-built' }), TOKEN, '/deployments', 'application/json');
    assert.equal(unknown.status, 404);
    assert.equal((await post(JSON.stringify({ version: 'pretrained-1', extra: 1 }), TOKEN, '/deployments', 'application/json')).status, 400);
    assert.equal((await post(JSON.stringify({ version: 'pretrained-1' }), null, '/deployments', 'application/json')).status, 401);

    const response = await post(JSON.stringify({ version: 'pretrained-1' }), TOKEN, '/deployments', 'application/json');
    assert.equal(response.status, 201, await response.clone().text());
    assert.equal(await servedVersion(), 'pretrained-1');
    assert.equal((await predictSeven()).digit, 7);
    assert.equal((await inspectImage(docker, `${repo}:latest`))?.Id, (await inspectImage(docker, `${repo}:pretrained-1`))?.Id);

    const deployments = await listDeployments(db.pool);
    assert.equal(deployments[0]?.kind, 'rollback');
    assert.equal(deployments[0]?.status, 'deployed');
    assert.ok(deployments.every((d) => d.durationMs !== null && (d.status === 'deployed' || d.error !== null)));
    const listed = (await (await fetch(`${url}/deployments`)).json()) as { deployments: { modelVersion: string }[] };
    assert.equal(listed.deployments[0]?.modelVersion, 'pretrained-1');
    const builds = (await (await fetch(`${url}/builds`)).json()) as { builds: { modelVersion: string; status: string }[] };
    assert.ok(builds.builds.some((b) => b.modelVersion === v1 && b.status === 'built'));
  });

  test('when the webapp runs on a bridge network with an alias and a published port, then the new container keeps its network, alias and port', async () => {
    const networkName = `mlpl-test-net-${suffix}`;
    await docker.createNetwork({ Name: networkName, Labels: { 'mlpl.test': suffix } });
    const name = `mlpl-test-bridge-${suffix}`;
    const hostPort = await freePort();
    // Its database and storage are unreachable from the bridge (127.0.0.1:1 inside it): the
    // webapp serves predictions all the same, which is all the gate asks of it.
    const unreachable = ['DATABASE_HOST=127.0.0.1', 'DATABASE_PORT=1', 'MYSQL_USER=u', 'MYSQL_PASSWORD=database-password-0123', 'STORAGE_HOST=127.0.0.1', 'STORAGE_PORT=1', 'STORAGE_ACCESS_KEY=a', 'STORAGE_SECRET_KEY=storage-secret-key-0123'];
    const id = await createContainer(docker, {
      name,
      Image: `${repo}:pretrained-1`,
      Env: ['TFJS_BACKEND=wasm', 'LOG_LEVEL=warn', ...unreachable],
      Labels: { 'mlpl.test': suffix },
      ExposedPorts: { '5050/tcp': {} },
      HostConfig: { NetworkMode: networkName, PortBindings: { '5050/tcp': [{ HostIp: '127.0.0.1', HostPort: String(hostPort) }] } },
      NetworkingConfig: { EndpointsConfig: { [networkName]: { Aliases: ['webapp'] } } },
    });
    await startContainer(docker, id);
    const bridgeUrl = `http://127.0.0.1:${hostPort}`;
    const version = async () => ((await (await fetch(`${bridgeUrl}/api/model`)).json()) as { version: string }).version;
    const deadline = Date.now() + 90_000;
    while (Date.now() < deadline && (await version().catch(() => undefined)) === undefined) await new Promise((r) => setTimeout(r, 250));
    assert.equal(await version(), 'pretrained-1');

    const result = await deployImage({ ...target, containerName: name, reach: 'published' }, `${repo}:${v1}`, v1);
    assert.notEqual(result.containerId, id);
    assert.equal(await version(), v1, 'the new version answers on the same published port');
    const replaced = await inspectContainer(docker, name);
    assert.equal(replaced?.Name, `/${name}`);
    assert.ok(replaced?.NetworkSettings.Networks?.[networkName]?.Aliases?.includes('webapp'), 'alias kept');
    assert.deepEqual(replaced?.HostConfig.PortBindings, { '5050/tcp': [{ HostIp: '127.0.0.1', HostPort: String(hostPort) }] });
    await removeContainer(docker, result.containerId);
    await docker.getNetwork(networkName).remove();
  });

  test('when a registry is set, then the version and latest are pushed there and the digest is the registry\'s', async () => {
    const registry = await startRegistry();
    try {
      const pushedRepo = `${registry.address}/mlpl-test-${suffix}/mywebapp`;
      const version = `pushed-${suffix}`;
      const baseImage = (await inspectImage(docker, `${repo}:pretrained-1`))?.Id ?? '';
      const built = await buildModelImage(docker, { files: await bundleAs(version), version, repo: pushedRepo, baseImage, push: true });
      await tagLatest(docker, built.image, pushedRepo, true);
      const manifest = (tag: string) =>
        fetch(`http://${registry.address}/v2/mlpl-test-${suffix}/mywebapp/manifests/${tag}`, {
          method: 'HEAD',
          headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' },
        });
      const pushed = await manifest(version);
      assert.equal(pushed.status, 200);
      assert.match(built.digest, /^sha256:[0-9a-f]{64}$/);
      assert.equal(pushed.headers.get('docker-content-digest'), built.digest);
      assert.equal((await manifest('latest')).headers.get('docker-content-digest'), built.digest);
      for (const tag of await imageTags(pushedRepo)) await removeImage(docker, tag).catch(() => undefined);
    } finally {
      await registry.stop();
    }
  });
});
