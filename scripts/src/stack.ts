import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { freePort, startMariaDb, startS3rver } from '@mlpl/shared/testing';
import type { MariaDbServer, S3Server } from '@mlpl/shared/testing';
import { toDatabaseEnv, toStorageEnv } from '@mlpl/shared';
import type { DatabaseSettings, StorageSettings } from '@mlpl/shared';
import { createDocker, tagImage } from '@mlpl/appbuilder/docker';
import { buildWebappImage } from '@mlpl/appbuilder/docker-fixtures';
import { webappContainers } from '@mlpl/appbuilder/side-by-side';
import { REPO_ROOT, rssOf, ServiceProcess } from './service-process.js';
import { dockerApiPart, dockerApiProxyAvailable } from './stack-docker-api.js';
import type { DockerApiPart } from './stack-docker-api.js';
import { dockerWebapp, OWNER_LABEL, resolveDockerNames } from './stack-docker.js';
import type { DockerNames } from './stack-docker.js';
import { DEFAULT_PROXY_IMAGE, proxyPart } from './stack-proxy.js';

/**
 * The whole pipeline on this machine's loopback, without compose: MariaDB and s3rver on
 * folders under `stateDir` (a restart keeps the data), then webapp, appbuilder and training as
 * processes. `deploy: 'process'` (no Docker engine needed): the webapp is a process serving
 * `<stateDir>/models/current`, and the appbuilder deploys a version by writing its folder and
 * asking the webapp to swap. `deploy: 'docker'`: as under compose, an nginx proxy holds the
 * webapp's port and sends to webapp containers built from the Dockerfile (target webapp), which
 * the appbuilder rolls out side by side; here all with host networking, the containers taking
 * turns on two loopback ports behind the proxy (stack-proxy.ts). Their names come from the
 * state folder and a container another folder made is refused (stack-docker.ts). Either way
 * the stack is started once the webapp's /readyz says it can do its whole job. Where Debian's
 * haproxy is installed, the Docker target's appbuilder reaches the engine through compose's
 * Docker API proxy (stack-docker-api.ts), as under compose.
 */
export type StackOptions = {
  stateDir: string;
  deploy: 'process' | 'docker';
  /**
   * `webapp`: where the page and the API answer (the process webapp, or the Docker target's
   * proxy). `webappContainers`: the Docker target's two ports behind the proxy, default webapp
   * + 1 and + 2.
   */
  ports: { webapp: number; training: number; appbuilder: number; database: number; storage: number; webappContainers?: readonly [number, number] };
  /** TRAINING_INTERVAL, default 10s. */
  trainingInterval?: string;
  /** TRAINING_THRESHOLD, default 10. */
  threshold?: number;
  /** More settings for every service (LOG_LEVEL, TRAINING_TEST_LIMIT, …). */
  env?: Record<string, string>;
  /** Settings for the webapp alone (its process or container), after all others: a test's fault. */
  webappEnv?: Record<string, string>;
  /**
   * The docker deploy's image repository and webapp container name (a rollout's containers are
   * `<container>-<version>`, the proxy `<container>-proxy`). Default: derived from the state
   * folder (stack-docker.ts), or the previous version's fixed names where this folder's
   * containers carry them. Tests name their own.
   */
  docker?: DockerNames;
  /** The previous version's fixed names (default mlpl-stack-webapp, mlpl-stack/mywebapp): a test names others. */
  legacyDocker?: DockerNames;
  /** How long the webapp may take to answer /readyz once started; default 60 s. */
  readyTimeoutMs?: number;
  /**
   * Aborted (a Ctrl-C while starting): startStack stops what it has started so far, the part
   * still starting included, and rejects with StartAborted.
   */
  signal?: AbortSignal;
  /** The docker deploy's proxy image: default nginx:1.30.4-alpine, compose's. */
  proxyImage?: string;
};

/** One part that can be stopped and started again, as the fault tests need. */
export type Part = {
  readonly name: string;
  readonly running: boolean;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** SIGKILL (services only); a server or container is stopped instead. */
  kill(): Promise<void>;
  rss(): Promise<number | undefined>;
};

export type Stack = {
  urls: { webapp: string; training: string; appbuilder: string };
  tokens: { training: string; appbuilder: string; modelSwap: string; admin: string; probe: string };
  database: Part & { connection(): Promise<mysql.Connection> };
  storage: Part;
  webapp: Part;
  training: Part;
  appbuilder: Part;
  /** The Docker target's Docker API proxy, the appbuilder's way to the engine; undefined without Debian's haproxy, or on the process target. */
  dockerApi: DockerApiPart | undefined;
  /** Everything, in the order it starts. */
  parts: Part[];
  /** The services' shared environment (database, storage), for a test that reads what they wrote. */
  env: Record<string, string>;
  /** The database and storage the services use, for a test that reads them itself. */
  settings: { database: DatabaseSettings; storage: StorageSettings };
  stop(): Promise<void>;
};

type Secrets = { databasePassword: string; storageAccessKey: string; storageSecretKey: string; training: string; appbuilder: string; modelSwap: string; admin: string; probe: string };

/** Passwords and tokens are made on the first start and kept in the state folder. */
async function secrets(stateDir: string): Promise<Secrets> {
  const file = path.join(stateDir, 'secrets.json');
  const kept = existsSync(file) ? (JSON.parse(await readFile(file, 'utf8')) as Partial<Secrets>) : {};
  const token = () => randomBytes(24).toString('hex');
  // A state folder from before a secret existed gets that one added; the others stay.
  const made: Secrets = {
    databasePassword: token(),
    storageAccessKey: `mlpl-${randomBytes(6).toString('hex')}`,
    storageSecretKey: token(),
    training: token(),
    appbuilder: token(),
    modelSwap: token(),
    admin: token(),
    probe: token(),
    ...kept,
  };
  await writeFile(file, JSON.stringify(made, null, 2), { mode: 0o600 });
  return made;
}

const DATABASE = 'mlpl';
const DATABASE_USER = 'mlpl';

function serverPart<T extends MariaDbServer | S3Server>(name: string, startServer: () => Promise<T>, ready?: (server: T) => Promise<void>): Part & { server(): T | undefined } {
  let server: T | undefined;
  return {
    name,
    get running() {
      return server !== undefined && server.process.exitCode === null && server.process.signalCode === null;
    },
    server: () => server,
    async start() {
      if (this.running) return;
      server = await startServer();
      await ready?.(server);
    },
    async stop() {
      await server?.stop();
      server = undefined;
    },
    async kill() {
      await this.stop();
    },
    async rss() {
      const pid = this.running ? server?.process.pid : undefined;
      return pid === undefined ? undefined : rssOf(pid);
    },
  };
}

/** The model folder the process webapp serves: `current` → the pretrained model, the first time. */
async function seedModels(modelsRoot: string): Promise<void> {
  if (existsSync(path.join(modelsRoot, 'current'))) return;
  await mkdir(modelsRoot, { recursive: true });
  const pretrained = path.join(REPO_ROOT, 'pretrained');
  const version = (JSON.parse(await readFile(path.join(pretrained, 'metadata.json'), 'utf8')) as { version: string }).version;
  if (!existsSync(path.join(modelsRoot, version))) {
    await cp(pretrained, path.join(modelsRoot, version), { recursive: true, filter: (source) => !source.endsWith('.md') });
  }
  await symlink(version, path.join(modelsRoot, 'current'));
}

/** Why a /readyz answer is not ready: the checks that are not ok, else the body. */
function notReady(status: number, body: string): string {
  try {
    const checks = (JSON.parse(body) as { checks?: Record<string, string> }).checks ?? {};
    const failed = Object.entries(checks).filter(([, value]) => value !== 'ok');
    if (failed.length > 0) return `${status}, ${failed.map(([name, value]) => `${name}: ${value}`).join('; ')}`;
  } catch {
    // Not the webapp's JSON (the proxy's error page, say): the body as it came.
  }
  return `${status} ${body.slice(0, 500)}`;
}

/**
 * Waits until the webapp says it can do its whole job (/readyz: model, database, storage,
 * start-up work), not only that it answers: one that reaches the wrong database answers
 * /healthz. Throws with what /readyz said last and where to look.
 */
async function webappReady(url: string, timeoutMs: number, where: () => Promise<string>, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    // Given up on (a Ctrl-C): the caller stops everything; no point asking again.
    if (signal?.aborted === true) return;
    try {
      const response = await fetch(`${url}/readyz`, { signal: signal === undefined ? AbortSignal.timeout(5000) : AbortSignal.any([signal, AbortSignal.timeout(5000)]) });
      if (response.ok) return;
      last = notReady(response.status, await response.text());
    } catch (error) {
      // fetch says only "fetch failed"; the reason (ECONNREFUSED, …) is its cause.
      const cause = (error as Error & { cause?: unknown }).cause;
      last = `no answer (${cause instanceof Error ? cause.message : (error as Error).message})`;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`the webapp did not become ready within ${Math.round(timeoutMs / 1000)} s: ${url}/readyz answered ${last}; ${await where()}`);
}

export async function startStack(options: StackOptions, say: (line: string) => void = () => undefined): Promise<Stack> {
  const { stateDir, ports } = options;
  const logDir = path.join(stateDir, 'logs');
  await mkdir(logDir, { recursive: true });
  const secret = await secrets(stateDir);
  const host = '127.0.0.1';

  const database = serverPart('database', () => startMariaDb({ dir: path.join(stateDir, 'database'), port: ports.database, user: DATABASE_USER, password: secret.databasePassword }), async (server) => {
    const connection = await mysql.createConnection({ host: server.host, port: server.port, user: server.user, password: server.password });
    try {
      await connection.query(`CREATE DATABASE IF NOT EXISTS \`${DATABASE}\``);
    } finally {
      await connection.end();
    }
  });
  const storage = serverPart('storage', async () => {
    await mkdir(path.join(stateDir, 'storage'), { recursive: true });
    return startS3rver({ dir: path.join(stateDir, 'storage'), port: ports.storage, credentials: { accessKey: secret.storageAccessKey, secretKey: secret.storageSecretKey } });
  });

  const settings = {
    database: { host, port: ports.database, database: DATABASE, user: DATABASE_USER, password: secret.databasePassword } satisfies DatabaseSettings,
    storage: { host, port: ports.storage, useSSL: false, accessKey: secret.storageAccessKey, secretKey: secret.storageSecretKey, region: 'us-east-1', imagesBucket: 'images', modelsBucket: 'models' } satisfies StorageSettings,
  };
  const shared: Record<string, string> = {
    LOG_LEVEL: 'info',
    TZ: process.env.TZ ?? 'UTC',
    ...toDatabaseEnv(settings.database),
    ...toStorageEnv(settings.storage),
    ...options.env,
  };
  const urls = {
    webapp: `http://${host}:${ports.webapp}`,
    training: `http://${host}:${ports.training}`,
    appbuilder: `http://${host}:${ports.appbuilder}`,
  };
  const modelsRoot = path.join(stateDir, 'models');
  const service = (name: string, port: number, env: Record<string, string>, graceMs?: number) =>
    new ServiceProcess(name, {
      script: `services/${name}/dist/main.js`,
      env: { ...shared, ...env },
      logFile: path.join(logDir, `${name}.log`),
      readyUrl: `http://${host}:${port}/healthz`,
      ...(graceMs === undefined ? {} : { graceMs }),
    });

  // The registry's rollback: the webapp checks the admin token and relays it to the appbuilder.
  // The webapp reports progress towards training's threshold after each feedback: the same value.
  // The appbuilder's health-gate probes carry PROBE_TOKEN and are not recorded; the containers a
  // rollout starts keep the first one's settings, this token included (deploy.ts, optionsLike).
  const registryEnv = { ADMIN_TOKEN: secret.admin, PROBE_TOKEN: secret.probe, APPBUILDER_URL: urls.appbuilder, TRAINING_THRESHOLD: String(options.threshold ?? 10) };
  let webapp: Part;
  let proxy: Part | undefined;
  let dockerApi: DockerApiPart | undefined;
  // Where the webapp's state is told when it does not become ready.
  let whereWebapp: () => Promise<string> = async () => `its log: ${path.join(logDir, 'webapp.log')}`;
  let deployEnv: Record<string, string>;
  if (options.deploy === 'process') {
    await seedModels(modelsRoot);
    webapp = service('webapp', ports.webapp, { ...registryEnv, PORT: String(ports.webapp), HOST: host, MODEL_DIR: path.join(modelsRoot, 'current'), MODELS_ROOT: modelsRoot, MODEL_SWAP_TOKEN: secret.modelSwap, ...options.webappEnv });
    deployEnv = { DEPLOY_TARGET: 'process', MODELS_ROOT: modelsRoot, WEBAPP_URL: urls.webapp, MODEL_SWAP_TOKEN: secret.modelSwap };
  } else {
    const docker = createDocker('/var/run/docker.sock');
    const owner = { stateDir: path.resolve(stateDir), databasePassword: secret.databasePassword };
    const proxyConfig = path.join(owner.stateDir, 'proxy', 'nginx.conf');
    const { names, notes } = await untilAborted(options.signal, () => resolveDockerNames(docker, {
      owner,
      proxyConfig,
      ...(options.docker === undefined ? {} : { explicit: options.docker }),
      ...(options.legacyDocker === undefined ? {} : { legacy: options.legacyDocker }),
    }));
    for (const note of notes) say(note);
    const { repo, container } = names;
    say(`Docker: webapp containers ${container}[-<version>], proxy ${container}-proxy, images ${repo}, labelled ${OWNER_LABEL}=${owner.stateDir}`);
    const backends = ports.webappContainers ?? [ports.webapp + 1, ports.webapp + 2];
    if ((await webappContainers(docker, container)).length === 0) {
      say('building the webapp image (scripts/make-base-image.sh, then the root Dockerfile, target webapp; cached after the first time)');
      // A build cannot be stopped half-way; a Ctrl-C during it is acted on when it ends.
      await tagImage(docker, await untilAborted(options.signal, () => buildWebappImage()), repo, 'latest');
      if (options.signal?.aborted === true) throw new StartAborted();
    }
    const containers = dockerWebapp(docker, {
      image: `${repo}:latest`,
      prefix: container,
      ports: backends,
      owner,
      logFile: path.join(logDir, 'webapp.log'),
      ...settings,
      // Behind the stack's proxy, which appends the client's address to X-Forwarded-For.
      env: { LOG_LEVEL: shared.LOG_LEVEL ?? 'info', TZ: shared.TZ ?? 'UTC', ...registryEnv, TRUST_PROXY: '1', ...options.webappEnv },
    });
    webapp = containers;
    whereWebapp = () => containers.describe();
    // Named after the webapp's containers, which it is not one of: it has no model version label.
    proxy = proxyPart(docker, {
      image: options.proxyImage ?? DEFAULT_PROXY_IMAGE,
      container: `${container}-proxy`,
      configFile: proxyConfig,
      listen: ports.webapp,
      backends,
      labels: { [OWNER_LABEL]: owner.stateDir },
    });
    // The appbuilder reaches the engine through compose's allow-list where Debian's haproxy is
    // installed. It is no barrier here (the appbuilder runs as this user, who can open the socket
    // itself), but every request of a rollout passes the same rules as under compose.
    let dockerHost = 'unix:///var/run/docker.sock';
    if (dockerApiProxyAvailable()) {
      const part = dockerApiPart({ port: await freePort(), logFile: path.join(logDir, 'docker-proxy.log') });
      dockerApi = part;
      dockerHost = part.address;
      say(`Docker: the appbuilder goes through the Docker API proxy (deploy/docker-proxy/haproxy.cfg) on ${part.address}; what it refuses is in ${path.join(logDir, 'docker-proxy.log')}`);
    } else {
      say('Docker: the appbuilder uses the Docker socket directly: /usr/sbin/haproxy is not installed (apt-get install haproxy puts the Docker API proxy of compose in front of it)');
    }
    deployEnv = {
      DEPLOY_TARGET: 'docker',
      DOCKER_HOST: dockerHost,
      WEBAPP_IMAGE: repo,
      WEBAPP_CONTAINER: container,
      WEBAPP_PORT: String(backends[0]),
      DEPLOY_REACH: 'host',
      WEBAPP_ROLLOUT: 'side-by-side',
      WEBAPP_PORTS: backends.join(','),
      PROXY_URL: urls.webapp,
      APPBUILDER_USER: 'root',
    };
  }
  // A swap or a build may be under way: give it time, as compose's stop_grace_period does.
  const appbuilder = service('appbuilder', ports.appbuilder, { APPBUILDER_PORT: String(ports.appbuilder), APPBUILDER_HOST: host, APPBUILDER_TOKEN: secret.appbuilder, ADMIN_TOKEN: secret.admin, PROBE_TOKEN: secret.probe, ...deployEnv }, 60_000);
  const training = service('training', ports.training, {
    TRAINING_PORT: String(ports.training),
    TRAINING_HOST: host,
    TRAINING_TOKEN: secret.training,
    TRAINING_INTERVAL: options.trainingInterval ?? '10s',
    TRAINING_THRESHOLD: String(options.threshold ?? 10),
    APPBUILDER_URL: `${urls.appbuilder}/`,
    APPBUILDER_TOKEN: secret.appbuilder,
    DATA_DIR: path.join(stateDir, 'training'),
  });

  // The proxy after the webapp: a stack from before the proxy frees the port for it there.
  const parts: Part[] = [database, storage, webapp, ...(proxy === undefined ? [] : [proxy]), ...(dockerApi === undefined ? [] : [dockerApi]), appbuilder, training];
  const stack: Stack = {
    urls,
    tokens: { training: secret.training, appbuilder: secret.appbuilder, modelSwap: secret.modelSwap, admin: secret.admin, probe: secret.probe },
    database: Object.assign(database, {
      async connection() {
        const server = database.server();
        if (server === undefined) throw new Error('the database is stopped');
        return mysql.createConnection({ host: server.host, port: server.port, user: server.user, password: server.password, database: DATABASE });
      },
    }),
    storage,
    webapp,
    training,
    appbuilder,
    dockerApi,
    parts,
    env: shared,
    settings,
    async stop() {
      for (const part of [...parts].reverse()) {
        await part.stop().catch((error: unknown) => say(`${part.name} did not stop cleanly: ${(error as Error).message}`));
      }
    },
  };
  // The part that answers on the webapp's URL: from then on /readyz tells whether it can do its job.
  const front = proxy ?? webapp;
  const { signal } = options;
  try {
    for (const part of parts) {
      if (signal?.aborted === true) throw new StartAborted();
      say(`starting ${part.name}`);
      await unlessAborted(part.start(), signal, () => stack.stop());
      if (part === front) {
        say(`waiting for ${urls.webapp}/readyz`);
        await unlessAborted(webappReady(urls.webapp, options.readyTimeoutMs ?? 60_000, whereWebapp, signal), signal, async () => undefined);
      }
    }
  } catch (error) {
    await stack.stop();
    throw error;
  }
  return stack;
}

/** A start given up on by its caller (`StackOptions.signal`): what had started is stopped. */
export class StartAborted extends Error {
  constructor() {
    super('stopped while starting');
  }
}

/** Runs `step` unless the start was given up on already (nothing is started before the loop then). */
async function untilAborted<T>(signal: AbortSignal | undefined, step: () => Promise<T>): Promise<T> {
  if (signal?.aborted === true) throw new StartAborted();
  return step();
}

/**
 * Waits for `step` unless `signal` aborts first. Then `stopNow` stops what can be stopped at
 * once (a child process already spawned), the step is let finish (a server whose start was
 * under way is then known, so the caller's stop reaches it), and StartAborted is thrown.
 */
async function unlessAborted<T>(step: Promise<T>, signal: AbortSignal | undefined, stopNow: () => Promise<void>): Promise<T> {
  if (signal === undefined) return step;
  if (signal.aborted) {
    await step.catch(() => undefined);
    throw new StartAborted();
  }
  let onAbort = () => undefined as void;
  const aborted = new Promise<'aborted'>((resolve) => {
    onAbort = () => resolve('aborted');
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    const first = await Promise.race([step.then((value) => ({ value })), aborted]);
    if (first !== 'aborted') return first.value;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  await stopNow();
  await step.catch(() => undefined);
  throw new StartAborted();
}
