import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import type { ContainerInspectInfo } from 'dockerode';
import { NODE_BASE_IMAGE, REPO_ROOT, requireDocker, startDockerApiProxy, startRegistry } from './docker-fixtures.js';
import type { DockerApiProxy } from './docker-fixtures.js';
import {
  buildImage,
  connectNetwork,
  containerLogs,
  createContainer,
  createDocker,
  disconnectNetwork,
  inspectContainer,
  inspectImage,
  listContainerNames,
  listRepoTags,
  pingDocker,
  pushImage,
  removeContainer,
  removeImage,
  renameContainer,
  startContainer,
  stopContainer,
  tagImage,
  updateContainer,
} from './docker.js';
import type { Docker } from './docker.js';
import { createOnNetworks, networksOf, optionsLike, ownSettings } from './deploy.js';

/** One raw HTTP request, so a test controls what dockerode would never send (chunked bodies, odd paths). */
function send(url: string, method: string, target: string, options: { body?: string | Buffer; headers?: Record<string, string>; chunked?: boolean } = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const { hostname, port } = new URL(url);
    const body = options.body === undefined ? undefined : Buffer.from(options.body);
    const headers: Record<string, string> = { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...options.headers };
    if (body !== undefined && options.chunked !== true) headers['content-length'] = String(body.length);
    const request = http.request({ hostname, port, method, path: target, headers }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
    });
    request.on('error', reject);
    request.setTimeout(30_000, () => request.destroy(new Error(`${method} ${target}: no answer within 30 s`)));
    if (body !== undefined && options.chunked === true) {
      // Two chunks: Transfer-Encoding chunked, no length announced.
      request.write(body.subarray(0, 10));
      request.end(body.subarray(10));
    } else {
      request.end(body);
    }
  });
}

/**
 * The Docker API proxy of compose (deploy/docker-proxy/haproxy.cfg, unchanged), run by Debian's
 * haproxy, in front of this machine's engine: what the appbuilder does passes, what would reach
 * the host is refused with 403 and the reason.
 */
describe('the Docker API proxy in front of a real Docker engine', () => {
  const suffix = randomBytes(3).toString('hex');
  const prefix = `mlpl-test-dproxy-${suffix}`;
  const network = `${prefix}-net`;
  const volume = `${prefix}-secrets`;
  const repo = `${prefix}/img`;
  let engine: Docker;
  let proxy: DockerApiProxy;
  let stackProxy: DockerApiProxy;
  let docker: Docker;
  let old: ContainerInspectInfo;
  let context: string;

  before(async () => {
    await requireDocker();
    await promisify(execFile)('bash', [path.join(REPO_ROOT, 'scripts/make-base-image.sh'), NODE_BASE_IMAGE], { cwd: REPO_ROOT, timeout: 300_000, maxBuffer: 64 * 1024 * 1024 });
    engine = createDocker('/var/run/docker.sock');
    proxy = await startDockerApiProxy();
    stackProxy = await startDockerApiProxy({ allowHostNetwork: true });
    docker = createDocker(proxy.address);
    context = await mkdtemp(path.join(tmpdir(), 'mlpl-dproxy-'));
    // A webapp container as compose makes one: a named volume in Binds, a network with an alias,
    // a restart policy, compose's labels. The test sets it up directly, on the engine.
    await engine.createNetwork({ Name: network, Labels: { 'mlpl.test': suffix } });
    const id = await createContainer(engine, {
      name: prefix,
      Image: NODE_BASE_IMAGE,
      Cmd: ['sh', '-c', 'echo started; exec sleep 600'],
      Env: ['MYSQL_PASSWORD_FILE=/run/secrets/mysql_password'],
      Labels: { 'mlpl.test': suffix, 'com.docker.compose.service': 'webapp', 'mlpl.model-version': 'v0' },
      HostConfig: { Binds: [`${volume}:/run/secrets:ro`], NetworkMode: network, RestartPolicy: { Name: 'unless-stopped' } },
      NetworkingConfig: { EndpointsConfig: { [network]: { Aliases: ['webapp'] } } },
    });
    await startContainer(engine, id);
    old = (await inspectContainer(engine, id)) as ContainerInspectInfo;
  });

  after(async () => {
    await proxy?.stop();
    await stackProxy?.stop();
    if (engine === undefined) return;
    for (const container of await engine.listContainers({ all: true, filters: { name: [prefix] } })) await removeContainer(engine, container.Id);
    for (const { tag } of await listRepoTags(engine, repo).catch(() => [])) await removeImage(engine, `${repo}:${tag}`).catch(() => undefined);
    await engine.getNetwork(network).remove().catch(() => undefined);
    await engine.getVolume(volume).remove().catch(() => undefined);
    if (context !== undefined) await rm(context, { recursive: true, force: true });
  });

  test("when the appbuilder builds, tags, pushes and rolls out a compose webapp's container through it, then every call passes", async () => {
    await pingDocker(docker);
    await writeFile(path.join(context, 'Dockerfile'), `FROM ${NODE_BASE_IMAGE}\nCOPY model.json /app/model/\n`);
    await writeFile(path.join(context, 'model.json'), '{}');
    const imageId = await buildImage(docker, { context, src: ['Dockerfile', 'model.json'], tag: `${repo}:v1`, buildargs: { UNUSED: 'x' }, labels: { 'mlpl.model-version': 'v1' } });
    assert.equal((await inspectImage(docker, `${repo}:v1`))?.Id, imageId);
    await tagImage(docker, `${repo}:v1`, repo, 'latest');
    assert.deepEqual((await listRepoTags(docker, repo)).map((t) => t.tag).sort(), ['latest', 'v1']);

    const registry = await startRegistry();
    try {
      const pushed = `${registry.address}/${repo}`;
      await tagImage(docker, `${repo}:v1`, pushed, 'v1');
      assert.match((await pushImage(docker, pushed, 'v1')) ?? '', /^sha256:/);
      await removeImage(docker, `${pushed}:v1`);
    } finally {
      await registry.stop();
    }

    // As side-by-side.ts does it: like the old one, on its networks without the alias, then the alias.
    const own = ownSettings(old, await inspectImage(docker, old.Image));
    const name = `${prefix}-v1`;
    const options = optionsLike(old, own, { ref: `${repo}:v1`, id: imageId }, { name, final: true, publish: false });
    const id = await createOnNetworks(docker, { ...options, Cmd: ['sh', '-c', 'echo new; exec sleep 600'], HostConfig: { ...options.HostConfig, RestartPolicy: { Name: 'no' } } }, networksOf(old), false);
    await startContainer(docker, id);
    await updateContainer(docker, id, { RestartPolicy: { Name: 'unless-stopped' } });
    await disconnectNetwork(docker, network, id);
    await connectNetwork(docker, network, id, ['webapp']);
    const made = await inspectContainer(docker, id);
    assert.deepEqual(made?.HostConfig.Binds, [`${volume}:/run/secrets:ro`]);
    assert.equal(made?.HostConfig.RestartPolicy?.Name, 'unless-stopped');
    assert.ok(made?.NetworkSettings.Networks?.[network]?.Aliases?.includes('webapp'));
    assert.ok((made?.HostConfig.MaskedPaths ?? []).includes('/proc/kcore'), "the engine's masked paths, filled in by the engine");
    assert.deepEqual((await listContainerNames(docker, prefix)).sort(), [prefix, name].sort());
    assert.match(await containerLogs(docker, id), /new/);
    await stopContainer(docker, id, 1);
    await renameContainer(docker, id, `${prefix}-previous`);
    await removeContainer(docker, id);
    await removeImage(docker, `${repo}:latest`);
    await removeImage(docker, `${repo}:v1`);
    assert.doesNotMatch(proxy.output(), / 403 /, `nothing refused:\n${proxy.output()}`);
  });

  test('when a create asks for the host (a bind mount of /, privileged, host PID, SYS_ADMIN, …), in any JSON spelling, then it is refused with 403 and nothing is made', async () => {
    const image = NODE_BASE_IMAGE;
    const padding = 'x'.repeat(30 * 1024);
    const cases: [string, string, string][] = [
      ['bind mount of /', `{"Image":"${image}","HostConfig":{"Binds":["/:/host"]}}`, 'a host path'],
      ['privileged', `{"Image":"${image}","HostConfig":{"Privileged":true}}`, 'a privileged container'],
      ['host PID', `{"Image":"${image}","HostConfig":{"PidMode":"host"}}`, 'namespaces'],
      ['SYS_ADMIN', `{"Image":"${image}","HostConfig":{"CapAdd":["SYS_ADMIN"]}}`, 'added capabilities'],
      ['lower-case key, whitespace', `{"Image":"${image}","hostconfig":{"privileged" :\n\t true}}`, 'a privileged container'],
      ['host config at the top level (older API form)', `{"Image":"${image}","Privileged":true}`, 'a privileged container'],
      ['a later duplicate key wins', `{"Image":"${image}","HostConfig":{"Privileged":false,"Privileged":true}}`, 'a privileged container'],
      ['a key spelled with a \\u escape', `{"Image":"${image}","HostConfig":{"Privil\\u0065ged":true}}`, 'unicode escape'],
      ['a key spelled with the long s (folds to s)', `{"Image":"${image}","HostConfig":{"Bind\u017f":["/:/host"]}}`, 'non-ASCII'],
      ['a host path after a named volume', `{"Image":"${image}","HostConfig":{"Binds":["vol:/data]","/etc:/host"]}}`, 'a host path'],
      ['an escaped slash', `{"Image":"${image}","HostConfig":{"Binds":["\\/:/host"]}}`, 'a host path'],
      ['a bind mount', `{"Image":"${image}","HostConfig":{"Mounts":[{"Target":"/host","Source":"/","Type":"bind"}]}}`, 'a host path'],
      ['a volume the local driver binds to /', `{"Image":"${image}","HostConfig":{"Mounts":[{"Type":"volume","Source":"${prefix}-v","Target":"/host","VolumeOptions":{"DriverConfig":{"Name":"local","Options":{"type":"none","o":"bind","device":"/"}}}}]}}`, 'a host path'],
      ["another service's secrets", `{"Image":"${image}","HostConfig":{"Binds":["mlpl-secrets-all:/s:ro"]}}`, "another service's secrets"],
      ['the database volume, mounted', `{"Image":"${image}","HostConfig":{"Mounts":[{"Type":"volume","Source":"mlpl-database-volume","Target":"/d"}]}}`, "another service's secrets or data"],
      ['a device', `{"Image":"${image}","HostConfig":{"Devices":[{"PathOnHost":"/dev/sda","PathInContainer":"/dev/sda","CgroupPermissions":"rwm"}]}}`, 'host devices'],
      ['device cgroup rules', `{"Image":"${image}","HostConfig":{"DeviceCgroupRules":["b *:* rwm"]}}`, 'host devices'],
      ['apparmor unconfined', `{"Image":"${image}","HostConfig":{"SecurityOpt":["apparmor=unconfined"]}}`, 'security options'],
      ['host network', `{"Image":"${image}","HostConfig":{"NetworkMode":"host"}}`, "the host's network"],
      ['host network as an endpoint', `{"Image":"${image}","NetworkingConfig":{"EndpointsConfig":{"host":{}}}}`, "the host's network"],
      ["the proxy's network namespace", `{"Image":"${image}","HostConfig":{"NetworkMode":"container:docker-proxy"}}`, "the host's network"],
      ['host IPC', `{"Image":"${image}","HostConfig":{"IpcMode":"host"}}`, 'namespaces'],
      ['host user namespace', `{"Image":"${image}","HostConfig":{"UsernsMode":"host"}}`, 'namespaces'],
      ["another container's volumes", `{"Image":"${image}","HostConfig":{"VolumesFrom":["docker-proxy"]}}`, "another container's volumes"],
      ['unmasked /proc', `{"Image":"${image}","HostConfig":{"MaskedPaths":[]}}`, 'unmasked'],
      ['a cgroup parent', `{"Image":"${image}","HostConfig":{"CgroupParent":"/"}}`, 'cgroups'],
      ['sysctls', `{"Image":"${image}","HostConfig":{"Sysctls":{"kernel.shm_rmid_forced":"1"}}}`, 'sysctls'],
      ['another runtime', `{"Image":"${image}","HostConfig":{"Runtime":"io.containerd.runc.v2"}}`, 'another runtime'],
      ['privileged after 30 KiB', `{"Image":"${image}","Labels":{"pad":"${padding}"},"HostConfig":{"Privileged":true}}`, 'a privileged container'],
      ['over 32 KiB', `{"Image":"${image}","Labels":{"pad":"${padding}${padding}"}}`, 'over 32 KiB'],
      ['a NUL byte before the privileged part', `{"Image":"${image}","Labels":{"a":"b"}}\u0000{"HostConfig":{"Privileged":true}}`, 'control characters'],
    ];
    for (const [index, [what, body, reason]] of cases.entries()) {
      const answer = await send(proxy.url, 'POST', `/containers/create?name=${prefix}-bad-${index}`, { body });
      assert.equal(answer.status, 403, `${what}: ${answer.status} ${answer.body}`);
      assert.ok(answer.body.startsWith('{"message":"refused by the Docker API proxy') && answer.body.includes(reason), `${what}: ${answer.body} names ${reason}`);
    }
    const chunked = await send(proxy.url, 'POST', `/containers/create?name=${prefix}-bad-chunked`, { body: `{"Image":"${image}"}`, chunked: true });
    assert.equal(chunked.status, 403, `a chunked body: ${chunked.body}`);
    // Through dockerode, as the appbuilder would see it: the status and the reason.
    await assert.rejects(createContainer(docker, { name: `${prefix}-bad-dockerode`, Image: image, HostConfig: { Privileged: true } }), (error: Error & { statusCode?: number }) => {
      assert.equal(error.statusCode, 403);
      assert.match(error.message, /a privileged container/);
      return true;
    });
    assert.deepEqual(await listContainerNames(engine, `${prefix}-bad`), [], 'no container was made');
  });

  test('when an endpoint the appbuilder does not use is asked for, then it is refused with 403', async () => {
    const id = old.Id;
    const cases: [string, string, { body?: string; headers?: Record<string, string> }?][] = [
      ['POST', `/containers/${id}/exec`, { body: '{"Cmd":["id"]}' }],
      ['POST', `/containers/${id}/attach?stream=1&stdout=1`],
      ['GET', `/containers/${id}/archive?path=/`],
      ['GET', `/containers/${id}/export`],
      ['POST', `/containers/${id}/kill`],
      ['GET', '/volumes'],
      ['POST', '/volumes/create', { body: '{"Name":"x"}' }],
      ['GET', '/swarm'],
      ['GET', '/plugins'],
      ['GET', '/secrets'],
      ['GET', '/info'],
      ['GET', '/events'],
      ['GET', '/system/df'],
      ['POST', '/images/create?fromImage=busybox'],
      ['POST', '/session', { headers: { connection: 'Upgrade', upgrade: 'h2c' } }],
      ['GET', '/containers/json?all=1&size=1'],
      ['POST', '/build?t=x&networkmode=host'],
      ['POST', '/build?t=x;networkmode=host'],
      ['POST', '/build', { body: 'networkmode=host&remote=https://example.invalid/c.tar', headers: { 'content-type': 'application/x-www-form-urlencoded' } }],
      ['POST', '/v1.23/containers/x/start', { body: '{"Binds":["/:/host"],"Privileged":true}' }],
      ['POST', `/containers/${id}/start`, { body: '{"Binds":["/:/host"]}' }],
      ['POST', '/%63ontainers/create', { body: '{"Image":"x"}' }],
      ['GET', '/images/x/../../containers/json'],
      ['POST', '/networks/host/connect', { body: `{"Container":"${id}"}` }],
      ['POST', `/networks/${network}/connect`, { body: `{"Container":"${id}","EndpointConfig":{"Aliases":["a"]},"Privileged":true}` }],
      ['POST', `/containers/${id}/update`, { body: '{"RestartPolicy":{"Name":"always"},"Devices":[{"PathOnHost":"/dev/sda"}]}' }],
      ['DELETE', `/containers/${id}?v=1&link=1`],
    ];
    for (const [method, target, options] of cases) {
      const answer = await send(proxy.url, method, target, options);
      assert.equal(answer.status, 403, `${method} ${target}: ${answer.status} ${answer.body}`);
    }
    assert.equal((await inspectContainer(engine, id))?.State.Running, true, 'the container is untouched');
  });

  test("when a container asks for the host's network, then compose's rules refuse it and the stack's (DOCKER_PROXY_ALLOW_HOST_NETWORK) pass it", async () => {
    const options = { Image: NODE_BASE_IMAGE, Cmd: ['true'], HostConfig: { NetworkMode: 'host' } };
    await assert.rejects(createContainer(docker, { name: `${prefix}-hostnet-compose`, ...options }), /the host's network/);
    const id = await createContainer(createDocker(stackProxy.address), { name: `${prefix}-hostnet-stack`, ...options });
    assert.equal((await inspectContainer(engine, id))?.HostConfig.NetworkMode, 'host');
    await assert.rejects(createContainer(createDocker(stackProxy.address), { name: `${prefix}-hostnet-pid`, ...options, HostConfig: { NetworkMode: 'host', PidMode: 'host' } }), /namespaces/);
    await removeContainer(engine, id);
  });
});
