import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { createLogger, readBundleDir } from '@mlpl/shared';
import type { ModelBundleFiles } from '@mlpl/shared';
import { loadPackagedMnist } from '@mlpl/shared/mnist-package';
import { freePort, renderDigitPng } from '@mlpl/shared/testing';
import { buildWebappImage, imageTags, REPO_ROOT, startDockerApiProxy } from './docker-fixtures.js';
import type { DockerApiProxy } from './docker-fixtures.js';
import { containerLogs, createContainer, createDocker, inspectContainer, inspectImage, listRepoTags, removeContainer, removeImage, startContainer, tagImage } from './docker.js';
import type { Docker } from './docker.js';
import { DeployError } from './deploy.js';
import type { DeployTarget } from './deploy.js';
import { dockerTarget } from './docker-target.js';
import { buildModelImage, LABELS, pruneVersionImages, toPrune } from './images.js';
import { recoverSideBySide, webappContainers } from './side-by-side.js';

/** The Debian-nginx stand-in for nginx:1.30.4-alpine (scripts/compose-test/proxy). */
const PROXY_IMAGE = 'mlpl-test/proxy';
const logger = createLogger({ name: 'rollout-test', level: process.env.ROLLOUT_LOG === '1' ? 'info' : 'silent' });

async function bundleAs(version: string, change: (files: ModelBundleFiles) => ModelBundleFiles = (f) => f): Promise<ModelBundleFiles> {
  const files = await readBundleDir(path.join(REPO_ROOT, 'pretrained'));
  const metadata = { ...JSON.parse(files.metadataJson.toString()), version, parent: 'pretrained-1' };
  return change({ ...files, metadataJson: Buffer.from(JSON.stringify(metadata)) });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type Load = { ok: number; failed: number; failures: string[]; versions: Set<string>; longestGapMs: number; slowestMs: number; gapEndedAt: number };

/**
 * A few clients POSTing /api/predict through the proxy back to back until `stop()` (bounded:
 * at most `maxRequests` in all, and 3 minutes). The gap is the longest time with no successful
 * answer to any client.
 */
function startLoad(url: string, png: Buffer, clients = 4, maxRequests = 20_000): { stop(): Promise<Load> } {
  const load: Load = { ok: 0, failed: 0, failures: [], versions: new Set(), longestGapMs: 0, slowestMs: 0, gapEndedAt: 0 };
  let stopped = false;
  let lastOk = performance.now();
  const deadline = Date.now() + 180_000;
  const client = async () => {
    while (!stopped && Date.now() < deadline && load.ok + load.failed < maxRequests) {
      const body = new FormData();
      body.append('image', new Blob([Uint8Array.from(png)], { type: 'image/png' }), 'digit.png');
      const started = performance.now();
      try {
        const response = await fetch(`${url}/api/predict`, { method: 'POST', body, signal: AbortSignal.timeout(30_000) });
        const answer = (await response.json()) as { modelVersion?: string };
        if (response.status !== 200 || answer.modelVersion === undefined) throw new Error(`${response.status} ${JSON.stringify(answer).slice(0, 200)}`);
        const now = performance.now();
        if (now - lastOk > load.longestGapMs) [load.longestGapMs, load.gapEndedAt] = [now - lastOk, now];
        load.slowestMs = Math.max(load.slowestMs, now - started);
        lastOk = now;
        load.ok += 1;
        load.versions.add(answer.modelVersion);
      } catch (error) {
        load.failed += 1;
        if (load.failures.length < 10) load.failures.push((error as Error).message);
        await sleep(50);
      }
    }
  };
  const running = Promise.all(Array.from({ length: clients }, client));
  return {
    async stop() {
      stopped = true;
      await running;
      return load;
    },
  };
}

describe('side-by-side rollout behind the nginx proxy, on a real Docker engine reached through the Docker API proxy', () => {
  const suffix = randomBytes(3).toString('hex');
  const repo = `mlpl-test-${suffix}/mywebapp`;
  const prefix = `mlpl-test-web-${suffix}`;
  const network = `mlpl-test-rollout-${suffix}`;
  const v1 = `v1-${suffix}`;
  const v2 = `v2-${suffix}`;
  const broken = `broken-${suffix}`;
  /** The test's own client of the engine, for what compose and the test set up. */
  let docker: Docker;
  /** The appbuilder's: through the Docker API proxy, as under compose (deploy/docker-proxy/haproxy.cfg). */
  let appbuilderDocker: Docker;
  let apiProxy: DockerApiProxy;
  let proxyUrl: string;
  let seven: Buffer;
  let target: DeployTarget;

  // Each request bounded: a hung answer fails the test with its reason instead of the file's timeout.
  const servedThroughProxy = async () => ((await (await fetch(`${proxyUrl}/api/model`, { signal: AbortSignal.timeout(10_000) })).json()) as { version: string }).version;
  const names = async () => (await webappContainers(docker, prefix)).map((c) => c.Name.replace(/^\//, '')).sort();

  /** A webapp container on the test network with the alias, as compose or a rollout left it. */
  async function startWebapp(name: string, image: string, aliases = ['webapp']): Promise<string> {
    // No database or storage on this network: the webapp serves predictions without them
    // (recorded when they are there), which is all the load and the gate ask of it.
    const unreachable = ['DATABASE_HOST=127.0.0.1', 'DATABASE_PORT=1', 'MYSQL_USER=u', 'MYSQL_PASSWORD=database-password-0123', 'STORAGE_HOST=127.0.0.1', 'STORAGE_PORT=1', 'STORAGE_ACCESS_KEY=storage-access-0123', 'STORAGE_SECRET_KEY=storage-secret-key-0123'];
    const id = await createContainer(docker, {
      name,
      Image: image,
      // The load comes through one proxy, one address: no per-client limit (rollouts keep it).
      Env: ['TFJS_BACKEND=wasm', 'LOG_LEVEL=warn', 'RATE_LIMIT_PREDICT_PER_MINUTE=0', ...unreachable],
      Labels: { 'mlpl.test': suffix, 'com.docker.compose.project': `mlpl-test-${suffix}`, 'com.docker.compose.service': 'webapp' },
      ExposedPorts: { '5050/tcp': {} },
      HostConfig: { NetworkMode: network, RestartPolicy: { Name: 'unless-stopped' } },
      NetworkingConfig: { EndpointsConfig: { [network]: { Aliases: aliases } } },
    });
    await startContainer(docker, id);
    return id;
  }

  // Between the Docker engine's answers this process may hold no open handle for a moment (the
  // load clients' sockets closed by a draining container, their timeouts unref'd); node:test
  // then ends the file with every promise pending. A timer keeps it alive until the suite ends.
  let keepAlive: NodeJS.Timeout | undefined;

  before(async () => {
    keepAlive = setInterval(() => undefined, 1000);
    const baseImage = await buildWebappImage();
    docker = createDocker('/var/run/docker.sock');
    apiProxy = await startDockerApiProxy();
    appbuilderDocker = createDocker(apiProxy.address);
    // The stand-in for the pinned nginx image (no registry here), made from Debian's nginx;
    // idempotent and cached, so a second call costs nothing.
    if ((await inspectImage(docker, PROXY_IMAGE)) === undefined) {
      await promisify(execFile)('bash', [path.join(REPO_ROOT, 'scripts/compose-test/build-standins.sh'), 'proxy'], { cwd: REPO_ROOT, timeout: 600_000, maxBuffer: 64 * 1024 * 1024 });
    }
    await tagImage(docker, baseImage, repo, 'latest');
    await tagImage(docker, baseImage, repo, 'pretrained-1');
    const base = (await inspectImage(docker, baseImage))?.Id ?? '';
    for (const version of [v1, v2]) await buildModelImage(appbuilderDocker, { files: await bundleAs(version), version, repo, baseImage: base, push: false });
    // Loads nowhere: the container exits at start-up and never passes the gate.
    await buildModelImage(appbuilderDocker, { files: await bundleAs(broken, (f) => ({ ...f, modelJson: Buffer.from('{"modelTopology": "this does not load"}') })), version: broken, repo, baseImage: base, push: false });

    const digits = loadPackagedMnist();
    const sevenAt = digits.labels.indexOf(7);
    seven = await renderDigitPng(digits.images.subarray(sevenAt * 784, (sevenAt + 1) * 784), { scale: 10, invert: true });
    const probeImage = await renderDigitPng(digits.images.subarray(0, 784), { scale: 10, invert: true });

    await docker.createNetwork({ Name: network, Labels: { 'mlpl.test': suffix } });
    await startWebapp(prefix, `${repo}:latest`);
    const port = await freePort();
    const proxy = await createContainer(docker, {
      name: `mlpl-test-proxy-${suffix}`,
      Image: PROXY_IMAGE,
      Labels: { 'mlpl.test': suffix },
      ExposedPorts: { '5050/tcp': {} },
      HostConfig: {
        NetworkMode: network,
        Binds: [`${path.join(REPO_ROOT, 'deploy/proxy/nginx.conf')}:/etc/nginx/nginx.conf:ro`],
        PortBindings: { '5050/tcp': [{ HostIp: '127.0.0.1', HostPort: String(port) }] },
      },
    });
    await startContainer(docker, proxy);
    proxyUrl = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 90_000;
    while (Date.now() < deadline && (await servedThroughProxy().catch(() => undefined)) !== 'pretrained-1') await sleep(250);
    assert.equal(await servedThroughProxy(), 'pretrained-1');
    assert.equal((await fetch(`${proxyUrl}/proxy-health`, { signal: AbortSignal.timeout(10_000) })).status, 200);

    target = {
      docker: appbuilderDocker,
      containerName: prefix,
      webappPort: 5050,
      reach: 'network',
      locateBy: 'address',
      healthTimeoutMs: 90_000,
      probeImage,
      logger,
      rollout: 'side-by-side',
      proxyUrl,
      drainGraceMs: 30_000,
    };
  });

  after(async () => {
    clearInterval(keepAlive);
    if (process.env.ROLLOUT_LOG === '1' && apiProxy !== undefined) console.log(apiProxy.output());
    await apiProxy?.stop();
    if (docker === undefined) return;
    if (process.env.ROLLOUT_LOG === '1') console.log(await containerLogs(docker, `mlpl-test-proxy-${suffix}`, 5000));
    for (const container of await docker.listContainers({ all: true, filters: { label: [`mlpl.test=${suffix}`] } })) await removeContainer(docker, container.Id);
    for (const tag of await imageTags(repo).catch(() => [])) await removeImage(docker, tag).catch(() => undefined);
    await docker.getNetwork(network).remove().catch(() => undefined);
  });

  test('when a new version is rolled out under load, then no request fails, it answers afterwards and the old container is gone', async () => {
    const release = dockerTarget({ deploy: target, repo, push: false });
    assert.equal(await release.serving(), 'pretrained-1');
    const old = await inspectContainer(docker, prefix);
    const load = startLoad(proxyUrl, seven);
    await sleep(1000);
    const started = performance.now();
    const result = await release.deploy(`${repo}:${v1}`, v1);
    const ended = performance.now();
    await sleep(1000);
    const seen = await load.stop();
    console.log(
      `# rollout ${v1}: ${seen.ok} ok, ${seen.failed} failed, longest gap ${Math.round(seen.longestGapMs)} ms (ended ${Math.round(seen.gapEndedAt - started)} ms ` +
        `into a ${Math.round(ended - started)} ms deployment), slowest ${Math.round(seen.slowestMs)} ms`,
    );
    assert.equal(seen.failed, 0, seen.failures.join('\n'));
    assert.ok(seen.ok > 20, `${seen.ok} requests answered`);
    assert.deepEqual([...seen.versions].sort(), ['pretrained-1', v1].sort());
    assert.equal(result.previousVersion, 'pretrained-1');
    assert.equal(await servedThroughProxy(), v1);
    assert.equal(await release.serving(), v1);
    await release.checks.webappContainer?.();
    assert.equal(await inspectContainer(docker, old?.Id ?? ''), undefined, 'the old container is removed');
    assert.deepEqual(await names(), [`${prefix}-${v1}`]);
    const replaced = await inspectContainer(docker, `${prefix}-${v1}`);
    assert.equal(replaced?.Id, result.containerId);
    assert.ok(replaced?.NetworkSettings.Networks?.[network]?.Aliases?.includes('webapp'), 'alias taken over');
    assert.equal(replaced?.HostConfig.RestartPolicy?.Name, 'unless-stopped');
    assert.equal(replaced?.Config.Labels?.['com.docker.compose.service'], 'webapp', "compose's labels kept, so `docker compose down` removes it");
    assert.equal(replaced?.Config.Labels?.[LABELS.version], v1);
  });

  test('when the new image fails its gate under load, then the old one keeps serving, no request fails and the new container is removed', async () => {
    const release = dockerTarget({ deploy: target, repo, push: false });
    const load = startLoad(proxyUrl, seven);
    await sleep(500);
    await assert.rejects(release.deploy(`${repo}:${broken}`, broken), (error: unknown) => {
      assert.ok(error instanceof DeployError);
      assert.match(error.message, /stopped|no healthy answer/);
      return true;
    });
    const seen = await load.stop();
    console.log(`# failed rollout: ${seen.ok} ok, ${seen.failed} failed, longest gap ${Math.round(seen.longestGapMs)} ms`);
    assert.equal(seen.failed, 0, seen.failures.join('\n'));
    assert.deepEqual([...seen.versions], [v1]);
    assert.equal(await servedThroughProxy(), v1);
    assert.deepEqual(await names(), [`${prefix}-${v1}`]);
  });

  test('when a rollback follows (the version the compose container ran), then it rolls out the same way, beside the serving one', async () => {
    const release = dockerTarget({ deploy: target, repo, push: false });
    const load = startLoad(proxyUrl, seven);
    await release.deploy(`${repo}:pretrained-1`, 'pretrained-1');
    const seen = await load.stop();
    console.log(`# rollback: ${seen.ok} ok, ${seen.failed} failed, longest gap ${Math.round(seen.longestGapMs)} ms`);
    assert.equal(seen.failed, 0, seen.failures.join('\n'));
    assert.equal(await servedThroughProxy(), 'pretrained-1');
    assert.deepEqual(await names(), [`${prefix}-pretrained-1`]);
  });

  test('when the appbuilder was killed mid-rollout with two containers serving and a leftover, then recovery keeps the recorded version and drains the other without a failed request', async () => {
    await startWebapp(`${prefix}-${v2}`, `${repo}:${v2}`);
    // A new container killed before it took the alias: no alias, takes no traffic.
    await startWebapp(`${prefix}-${v1}`, `${repo}:${v1}`, []);
    const deadline = Date.now() + 90_000;
    const versions = new Set<string>();
    while (Date.now() < deadline && versions.size < 2) {
      versions.add(await servedThroughProxy().catch(() => 'none'));
      versions.delete('none');
      await sleep(100);
    }
    assert.deepEqual([...versions].sort(), ['pretrained-1', v2].sort(), 'both serve through the proxy');
    const load = startLoad(proxyUrl, seven);
    await sleep(500);
    const done = await recoverSideBySide(appbuilderDocker, prefix, 'pretrained-1');
    await sleep(500);
    const seen = await load.stop();
    console.log(`# recovery: ${seen.ok} ok, ${seen.failed} failed, longest gap ${Math.round(seen.longestGapMs)} ms`);
    assert.deepEqual(done, [`removed ${prefix}-${v1}`, `drained ${prefix}-${v2}`]);
    assert.equal(seen.failed, 0, seen.failures.join('\n'));
    assert.deepEqual(await names(), [`${prefix}-pretrained-1`]);
    assert.equal(await servedThroughProxy(), 'pretrained-1');
  });

  test('when old versions exceed the retention, then the oldest are removed but never latest, the serving one or the base', async () => {
    // pretrained-1 serves (and is the base and latest); v1, v2, broken were built in that order.
    const before = (await listRepoTags(docker, repo)).map((t) => t.tag).sort();
    assert.deepEqual(before, ['broken-' + suffix, 'latest', 'pretrained-1', v1, v2].sort());
    const removed = await pruneVersionImages(appbuilderDocker, repo, { keep: 0, serving: 'pretrained-1' });
    assert.deepEqual(removed.sort(), [`${repo}:${broken}`, `${repo}:${v1}`, `${repo}:${v2}`].sort());
    assert.deepEqual((await listRepoTags(docker, repo)).map((t) => t.tag).sort(), ['latest', 'pretrained-1']);
    assert.doesNotMatch(apiProxy.output(), / 403 /, `the Docker API proxy refused none of the appbuilder's requests:\n${apiProxy.output()}`);
  });
});

describe('image retention', () => {
  const tag = (name: string, created: number, id = `id-${name}`, labels: Record<string, string> = { [LABELS.base]: 'id-base' }) => ({ tag: name, id, created, labels });
  const tags = [tag('pretrained-1', 1, 'id-base', {}), tag('v1', 2), tag('v2', 3), tag('v3', 4), tag('v4', 5), tag('latest', 5, 'id-v4')];

  test('when there are more versions than kept, then the newest N stay, with latest, the serving one and the base', () => {
    assert.deepEqual(toPrune(tags, { keep: 2, serving: 'v4' }), ['v2', 'v1']);
    assert.deepEqual(toPrune(tags, { keep: 1, serving: 'v1' }), ['v3', 'v2']);
    assert.deepEqual(toPrune(tags, { keep: 0, serving: undefined }), ['v3', 'v2', 'v1']);
    assert.deepEqual(toPrune(tags, { keep: 10, serving: 'v4' }), []);
  });

  test('when the version that served before is older than the retention, then it is kept for the rollback a bad release needs', () => {
    assert.deepEqual(toPrune(tags, { keep: 2, serving: 'v4', previous: 'v1' }), ['v2']);
    assert.deepEqual(toPrune(tags, { keep: 0, serving: 'v4', previous: null }), ['v3', 'v2', 'v1']);
  });
});
