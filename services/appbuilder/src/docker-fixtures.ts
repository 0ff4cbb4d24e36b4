import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePort, toDatabaseEnv, toStorageEnv } from '@mlpl/shared';
import { stopChild } from '@mlpl/shared/testing';
import type { DatabaseSettings, StorageSettings } from '@mlpl/shared';
import { createContainer, startContainer } from './docker.js';
import type { Docker } from './docker.js';

const run = promisify(execFile);

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** The local Node 24 image `scripts/make-base-image.sh` makes: no registry can be reached here. */
export const NODE_BASE_IMAGE = 'mlpl/node:24';

/** The webapp image the tests build from the project's own Dockerfile (its webapp target). */
export const TEST_WEBAPP_IMAGE = 'mlpl-test/webapp:base';

/**
 * The tests need a Docker engine; `.ci/run` installs Debian's docker.io and starts dockerd.
 * Its absence is a failure that says how to fix it, never a silent skip.
 */
export async function requireDocker(): Promise<void> {
  try {
    await run('docker', ['info', '--format', '{{.ServerVersion}}'], { timeout: 20_000 });
  } catch (error) {
    throw new Error(
      `no Docker engine answers (${(error as Error).message.split('\n')[0]}): install Debian's docker.io and start dockerd ` +
        '(.ci/run does both: apt-get install docker.io; dockerd > /tmp/dockerd.log 2>&1 &)',
    );
  }
}

/**
 * The webapp image, built by the project's own Dockerfile on the local Node base image, exactly
 * as the README tells a user without registry access to do. Docker's layer cache makes a
 * second call cheap. Returns the tag.
 */
export async function buildWebappImage(): Promise<string> {
  await requireDocker();
  await run('bash', [path.join(REPO_ROOT, 'scripts/make-base-image.sh'), NODE_BASE_IMAGE], { cwd: REPO_ROOT, timeout: 300_000, maxBuffer: 64 * 1024 * 1024 });
  await run(
    'docker',
    ['build', '-q', '-f', 'Dockerfile', '--target', 'webapp', '--build-arg', `NODE_IMAGE=${NODE_BASE_IMAGE}`, '-t', TEST_WEBAPP_IMAGE, '.'],
    { cwd: REPO_ROOT, timeout: 900_000, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, DOCKER_BUILDKIT: '0' } },
  );
  return TEST_WEBAPP_IMAGE;
}

/** Names of images in `repo` (any tag), for checking that a refused upload built nothing. */
export async function imageTags(repo: string): Promise<string[]> {
  const { stdout } = await run('docker', ['images', repo, '--format', '{{.Repository}}:{{.Tag}}']);
  return stdout.split('\n').filter((line) => line !== '').sort();
}

/**
 * Starts a webapp container from `image` as the one a deployment replaces: host networking, so
 * it reaches the test MariaDB and s3rver on loopback, on `port` (default a free one), with
 * `env` added to its settings. Resolves once it answers `/api/model`, with its URL.
 */
export async function startWebappContainer(
  docker: Docker,
  options: { image: string; name: string; label: Record<string, string>; database: DatabaseSettings; storage: StorageSettings; port?: number; env?: Record<string, string> },
): Promise<{ url: string; port: number }> {
  const port = options.port ?? (await freePort());
  const env = {
    PORT: String(port),
    HOST: '127.0.0.1',
    TFJS_BACKEND: 'wasm',
    LOG_LEVEL: 'warn',
    ...toDatabaseEnv(options.database),
    ...toStorageEnv(options.storage),
    ...options.env,
  };
  const id = await createContainer(docker, {
    name: options.name,
    Image: options.image,
    Env: Object.entries(env).map(([key, value]) => `${key}=${value}`),
    Labels: options.label,
    HostConfig: { NetworkMode: 'host', RestartPolicy: { Name: 'unless-stopped' } },
  });
  await startContainer(docker, id);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    if (await fetch(`${url}/api/model`, { signal: AbortSignal.timeout(5000) }).then((r) => r.ok, () => false)) return { url, port };
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`webapp container ${options.name} did not answer within 90 s`);
}

/**
 * A local Docker registry from Debian's docker-registry on 127.0.0.1 (the engine pushes to
 * loopback registries without TLS): the nearest real thing to LOCAL_REGISTRY here, where none
 * can be pulled. `.ci/run` installs the package.
 */
export async function startRegistry(): Promise<{ address: string; stop(): Promise<void> }> {
  const binary = '/usr/bin/docker-registry';
  if (!existsSync(binary)) throw new Error(`${binary} is missing: install Debian's docker-registry (.ci/run does)`);
  const dir = await mkdtemp(path.join(tmpdir(), 'mlpl-registry-'));
  const port = await freePort();
  const config = path.join(dir, 'config.yml');
  await writeFile(config, `version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/data\nhttp:\n  addr: 127.0.0.1:${port}\n`);
  const child = spawn(binary, ['serve', config], { stdio: 'ignore' });
  const address = `127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline && !(await fetch(`http://${address}/v2/`, { signal: AbortSignal.timeout(5000) }).then((r) => r.ok, () => false))) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited with code ${child.exitCode}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    address,
    async stop() {
      child.kill('SIGTERM');
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Debian's haproxy (scripts/test.sh installs it): it runs the Docker API proxy's config as a process. */
export const HAPROXY_BINARY = '/usr/sbin/haproxy';

/** compose's Docker API proxy config, used unchanged by the stack and the tests. */
export const DOCKER_PROXY_CONFIG = path.join(REPO_ROOT, 'deploy/docker-proxy/haproxy.cfg');

export type DockerApiProxy = {
  /** `tcp://127.0.0.1:<port>`, for DOCKER_HOST and createDocker. */
  address: string;
  /** `http://127.0.0.1:<port>`, for raw requests. */
  url: string;
  port: number;
  process: ChildProcess;
  /** What it wrote (a line per request; a refusal with its reason), unless it writes to a log file. */
  output(): string;
  stop(): Promise<void>;
};

/**
 * The Docker API proxy (deploy/docker-proxy/haproxy.cfg, the file compose mounts) as a process
 * of Debian's haproxy, on 127.0.0.1:`port` (default a free one) in front of `engine` (default
 * the local socket). `allowHostNetwork`: as the stack runs it, whose webapp containers use the
 * host's network. Its output goes to `logFile` when given. Resolves once /_ping answers
 * through it from the engine.
 */
export async function startDockerApiProxy(
  options: { port?: number; engine?: string; allowHostNetwork?: boolean; logFile?: string } = {},
): Promise<DockerApiProxy> {
  if (!existsSync(HAPROXY_BINARY)) throw new Error(`${HAPROXY_BINARY} is missing: install Debian's haproxy (scripts/test.sh does: apt-get install haproxy)`);
  const port = options.port ?? (await freePort());
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    DOCKER_PROXY_LISTEN: `127.0.0.1:${port}`,
    DOCKER_PROXY_ENGINE: options.engine ?? '/var/run/docker.sock',
    ...(options.allowHostNetwork === true ? { DOCKER_PROXY_ALLOW_HOST_NETWORK: '1' } : {}),
  };
  const log = options.logFile === undefined ? undefined : openSync(options.logFile, 'a');
  // Its own process group, as the stack's other parts: a terminal's Ctrl-C reaches the runner only.
  const child = spawn(HAPROXY_BINARY, ['-db', '-f', DOCKER_PROXY_CONFIG], { env, stdio: ['ignore', log ?? 'pipe', log ?? 'pipe'], detached: true });
  if (log !== undefined) closeSync(log);
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-64 * 1024);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  while (!(await fetch(`${url}/_ping`, { signal: AbortSignal.timeout(2000) }).then((r) => r.ok, () => false))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stopChild(child, 1000);
      throw new Error(`the Docker API proxy (${HAPROXY_BINARY} -f ${DOCKER_PROXY_CONFIG}) did not answer ${url}/_ping: ${child.exitCode === null ? 'no answer within 20 s' : `it exited with code ${child.exitCode}`}; ${options.logFile === undefined ? `its output:\n${output}` : `its log: ${options.logFile}`}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { address: `tcp://127.0.0.1:${port}`, url, port, process: child, output: () => output, stop: () => stopChild(child, 5000) };
}
