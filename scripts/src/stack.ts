import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { startMariaDb, startS3rver } from '@mlpl/shared/testing';
import type { MariaDbServer, S3Server } from '@mlpl/shared/testing';
import type { DatabaseSettings, StorageSettings } from '@mlpl/shared';
import { createDocker, removeContainer, startContainer, stopContainer, tagImage } from '@mlpl/appbuilder/docker';
import type { Docker } from '@mlpl/appbuilder/docker';
import { listenPort } from '@mlpl/appbuilder/deploy';
import { buildWebappImage, startWebappContainer } from '@mlpl/appbuilder/docker-fixtures';
import { webappContainers } from '@mlpl/appbuilder/side-by-side';
import { REPO_ROOT, rssOf, ServiceProcess, waitUntil } from './service-process.js';
import { DEFAULT_PROXY_IMAGE, proxyPart } from './stack-proxy.js';

/**
 * The whole pipeline on this machine's loopback, without compose: MariaDB and s3rver on
 * folders under `stateDir` (a restart keeps the data), then webapp, appbuilder and training as
 * processes. `deploy: 'process'` (no Docker engine needed): the webapp is a process serving
 * `<stateDir>/models/current`, and the appbuilder deploys a version by writing its folder and
 * asking the webapp to swap. `deploy: 'docker'`: as under compose, an nginx proxy holds the
 * webapp's port and sends to webapp containers built from the Dockerfile (target webapp), which
 * the appbuilder rolls out side by side; here all with host networking, the containers taking
 * turns on two loopback ports behind the proxy (stack-proxy.ts).
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
  /**
   * The docker deploy's image repository and webapp container name (tests make them unique;
   * a rollout's containers are `<container>-<version>`, the proxy `<container>-proxy`).
   */
  docker?: { repo: string; container: string };
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
  tokens: { training: string; appbuilder: string; modelSwap: string; admin: string };
  database: Part & { connection(): Promise<mysql.Connection> };
  storage: Part;
  webapp: Part;
  training: Part;
  appbuilder: Part;
  /** Everything, in the order it starts. */
  parts: Part[];
  /** The services' shared environment (database, storage), for a test that reads what they wrote. */
  env: Record<string, string>;
  /** The database and storage the services use, for a test that reads them itself. */
  settings: { database: DatabaseSettings; storage: StorageSettings };
  stop(): Promise<void>;
};

type Secrets = { databasePassword: string; storageAccessKey: string; storageSecretKey: string; training: string; appbuilder: string; modelSwap: string; admin: string };

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

type WebappContainers = { image: string; prefix: string; ports: readonly [number, number]; database: DatabaseSettings; storage: StorageSettings; env: Record<string, string> };

/**
 * The webapp containers (host networking) behind the stack's proxy: `prefix` at first, then
 * `prefix-<version>` after each rollout, on one of `ports` (two only in the middle of one).
 */
function dockerWebapp(docker: Docker, options: WebappContainers): Part {
  let running = false;
  const all = () => webappContainers(docker, options.prefix);
  return {
    name: 'webapp',
    get running() {
      return running;
    },
    async start() {
      let image = options.image;
      for (const container of await all()) {
        const port = listenPort(container.Config.Env ?? [], 5050);
        if (options.ports.includes(port)) continue;
        // A stack from before the proxy ran its container (and candidates) elsewhere, on the
        // webapp's port, the proxy's now: the version that container ran starts on ports[0].
        if (container.Name === `/${options.prefix}`) image = container.Config.Image;
        await removeContainer(docker, container.Id);
      }
      const kept = await all();
      if (kept.length === 0) {
        await startWebappContainer(docker, { ...options, image, name: options.prefix, port: options.ports[0], label: { 'mlpl.stack': 'webapp' } });
      } else {
        // After a deployment the container running is the version in service: keep it. Were
        // two left (the stack stopped mid-rollout), the appbuilder keeps the recorded one.
        for (const container of kept) await startContainer(docker, container.Id);
        await waitUntil(`${kept.map((c) => c.Name.replace(/^\//, '')).join(' or ')} to answer`, 90_000, async () => {
          for (const port of options.ports) if (await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false)) return true;
          return false;
        });
      }
      running = true;
    },
    async stop() {
      for (const container of await all()) if (container.State.Running) await stopContainer(docker, container.Id);
      running = false;
    },
    async kill() {
      await this.stop();
    },
    async rss() {
      const pid = (await all()).find((container) => container.State.Running)?.State.Pid;
      return pid === undefined || pid === 0 ? undefined : rssOf(pid);
    },
  };
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
    DATABASE_HOST: host,
    DATABASE_PORT: String(ports.database),
    MYSQL_DATABASE: DATABASE,
    MYSQL_USER: DATABASE_USER,
    MYSQL_PASSWORD: secret.databasePassword,
    STORAGE_HOST: host,
    STORAGE_PORT: String(ports.storage),
    STORAGE_ACCESS_KEY: settings.storage.accessKey,
    STORAGE_SECRET_KEY: settings.storage.secretKey,
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
  const registryEnv = { ADMIN_TOKEN: secret.admin, APPBUILDER_URL: urls.appbuilder };
  let webapp: Part;
  let proxy: Part | undefined;
  let deployEnv: Record<string, string>;
  if (options.deploy === 'process') {
    await seedModels(modelsRoot);
    webapp = service('webapp', ports.webapp, { ...registryEnv, PORT: String(ports.webapp), HOST: host, MODEL_DIR: path.join(modelsRoot, 'current'), MODELS_ROOT: modelsRoot, MODEL_SWAP_TOKEN: secret.modelSwap });
    deployEnv = { DEPLOY_TARGET: 'process', MODELS_ROOT: modelsRoot, WEBAPP_URL: urls.webapp, MODEL_SWAP_TOKEN: secret.modelSwap };
  } else {
    const docker = createDocker('/var/run/docker.sock');
    const repo = options.docker?.repo ?? 'mlpl-stack/mywebapp';
    const container = options.docker?.container ?? 'mlpl-stack-webapp';
    const backends = ports.webappContainers ?? [ports.webapp + 1, ports.webapp + 2];
    if ((await webappContainers(docker, container)).length === 0) {
      say('building the webapp image (scripts/make-base-image.sh, then the root Dockerfile, target webapp; cached after the first time)');
      await tagImage(docker, await buildWebappImage(), repo, 'latest');
    }
    webapp = dockerWebapp(docker, {
      image: `${repo}:latest`,
      prefix: container,
      ports: backends,
      ...settings,
      env: { LOG_LEVEL: shared.LOG_LEVEL ?? 'info', TZ: shared.TZ ?? 'UTC', ...registryEnv },
    });
    // Named after the webapp's containers, which it is not one of: it has no model version label.
    proxy = proxyPart(docker, {
      image: options.proxyImage ?? DEFAULT_PROXY_IMAGE,
      container: `${container}-proxy`,
      configFile: path.join(stateDir, 'proxy', 'nginx.conf'),
      listen: ports.webapp,
      backends,
    });
    deployEnv = {
      DEPLOY_TARGET: 'docker',
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
  const appbuilder = service('appbuilder', ports.appbuilder, { APPBUILDER_PORT: String(ports.appbuilder), APPBUILDER_HOST: host, APPBUILDER_TOKEN: secret.appbuilder, ADMIN_TOKEN: secret.admin, ...deployEnv }, 60_000);
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
  const parts: Part[] = [database, storage, webapp, ...(proxy === undefined ? [] : [proxy]), appbuilder, training];
  const stack: Stack = {
    urls,
    tokens: { training: secret.training, appbuilder: secret.appbuilder, modelSwap: secret.modelSwap, admin: secret.admin },
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
    parts,
    env: shared,
    settings,
    async stop() {
      for (const part of [...parts].reverse()) {
        await part.stop().catch((error: unknown) => say(`${part.name} did not stop cleanly: ${(error as Error).message}`));
      }
    },
  };
  try {
    for (const part of parts) {
      say(`starting ${part.name}`);
      await part.start();
    }
  } catch (error) {
    await stack.stop();
    throw error;
  }
  return stack;
}
