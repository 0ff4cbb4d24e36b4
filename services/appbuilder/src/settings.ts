import path from 'node:path';
import { EnvReader, readDatabaseSettings, readLogLevel, TF_BACKEND_PREFERENCES } from '@mlpl/shared';
import type { DatabaseSettings, Env, LogLevel, TfBackendPreference } from '@mlpl/shared';

/** How the appbuilder reaches a webapp container to check it before it takes traffic. */
export const DEPLOY_REACHES = ['network', 'host', 'published'] as const;
export type DeployReach = (typeof DEPLOY_REACHES)[number];

/**
 * How a new webapp container replaces the old one on the Docker target. 'side-by-side': started
 * beside it, gated, given the alias the proxy routes to (network reach) or on the other of the
 * two host ports the proxy sends to (host reach, WEBAPP_PORTS), then the old one drained; no
 * request fails. 'in-place': the old one stopped and the new one started with its name and port
 * (no proxy: a gap).
 */
export const WEBAPP_ROLLOUTS = ['side-by-side', 'in-place'] as const;
export type WebappRollout = (typeof WEBAPP_ROLLOUTS)[number];

export const DEPLOY_TARGETS = ['docker', 'process'] as const;
export type DeployTargetKind = (typeof DEPLOY_TARGETS)[number];

export type AppbuilderSettings = {
  host: string;
  port: number;
  token: string;
  /** Accepted for POST /deployments (rollback) besides APPBUILDER_TOKEN; undefined: none. */
  adminToken: string | undefined;
  /**
   * The webapps' PROBE_TOKEN, sent with the health gate's probe (`x-mlpl-probe: <token>`) so
   * the webapp does not record it. Undefined: the probe is sent without it and is recorded as
   * any prediction.
   */
  probeToken: string | undefined;
  /** Repository of the webapp images, without the registry: tags are `<version>` and `latest`. */
  webappImage: string;
  /** The image model images are built FROM; default: the base recorded on `<webappImage>:latest`. */
  webappBaseImage: string | undefined;
  /** The running webapp container that a deployment replaces (name kept). */
  webappContainer: string;
  /** Port the webapp listens on inside its container. */
  webappPort: number;
  /**
   * 'network': the appbuilder shares a Docker network with the webapp (compose) and checks a new
   * container by its name. 'host': the appbuilder runs on the host and containers use host
   * networking; they are checked on 127.0.0.1. 'published': the appbuilder runs on the host and
   * containers on a bridge network; they are checked through ports published on 127.0.0.1.
   */
  reach: DeployReach;
  healthTimeoutMs: number;
  /** Default 'side-by-side' under 'network' reach, else 'in-place'; side by side needs 'network' or 'host' reach. */
  rollout: WebappRollout;
  /**
   * Side by side under host networking: the two host ports the proxy sends requests to; the
   * serving container listens on one, a new one starts on the other. Undefined otherwise.
   */
  webappPorts: readonly [number, number] | undefined;
  /** The proxy in front of the webapps (`http://proxy:5050`): a side-by-side rollout checks the new version answers through it. */
  proxyUrl: string | undefined;
  /** How long a drained webapp may take to finish its requests before it is killed, in ms. */
  drainGraceMs: number;
  /** Model images kept besides the serving one and `latest`: the newest N versions (rollback targets). */
  imageRetention: number;
  /**
   * 'docker': versions are images and the webapp a container (compose). 'process': versions are
   * model folders and the webapp a process on this machine that swaps models (the local stack
   * without a Docker engine, see process-target.ts).
   */
  target: DeployTargetKind;
  /** The process target's settings; undefined for 'docker'. */
  process: { modelsRoot: string; webappUrl: string; swapToken: string } | undefined;
  /** The user a root-started appbuilder becomes (in the socket's group when DOCKER_HOST is a socket); 'root' stays root. */
  runAs: string;
  /** Registry host[:port] images are pushed to; blank for none. */
  registry: string | undefined;
  /**
   * Where the Docker engine's API answers: `tcp://host:port` (plain HTTP; compose: the Docker API
   * proxy, deploy/docker-proxy/haproxy.cfg, which alone holds the socket) or `unix:///path` (the
   * engine's socket itself).
   */
  dockerHost: string;
  limits: { modelJsonBytes: number; weightsBytes: number; metadataBytes: number };
  /** How an uploaded bundle is loaded to validate it: in a child process with this address space (MiB) and deadline (validate.ts). */
  validation: { memoryMb: number; timeoutMs: number };
  /** The validating process's tfjs backend; 'auto' is wasm there. */
  tfjsBackend: TfBackendPreference;
  logLevel: LogLevel;
  database: DatabaseSettings;
};

const REPOSITORY = /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/;
const REGISTRY = /^[A-Za-z0-9.-]+(?::\d{1,5})?$/;
const DOCKER_HOST = /^(tcp:\/\/([A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\]):\d{1,5}|unix:\/\/\/.+)$/;

/** compose's Docker API proxy (the `docker-proxy` service). */
export const DEFAULT_DOCKER_HOST = 'tcp://docker-proxy:2375';

export function loadAppbuilderSettings(env: Env): AppbuilderSettings {
  const reader = new EnvReader(env);
  const settings: AppbuilderSettings = {
    host: reader.string('APPBUILDER_HOST', '0.0.0.0'),
    port: reader.port('APPBUILDER_PORT', 5000),
    token: reader.secret('APPBUILDER_TOKEN'),
    adminToken: reader.optionalSecret('ADMIN_TOKEN'),
    probeToken: reader.optionalSecret('PROBE_TOKEN'),
    webappImage: reader.string('WEBAPP_IMAGE', 'mywebapp'),
    webappBaseImage: reader.optionalString('WEBAPP_BASE_IMAGE'),
    webappContainer: reader.string('WEBAPP_CONTAINER', 'mlpl-webapp'),
    webappPort: reader.port('WEBAPP_PORT', 5050),
    reach: reader.oneOf('DEPLOY_REACH', DEPLOY_REACHES, 'network'),
    healthTimeoutMs: reader.int('HEALTH_TIMEOUT_MS', { default: 60_000, min: 1000, max: 600_000 }),
    rollout: 'in-place',
    webappPorts: undefined,
    proxyUrl: reader.optionalString('PROXY_URL')?.replace(/\/+$/, ''),
    drainGraceMs: reader.int('DRAIN_GRACE_MS', { default: 30_000, min: 0, max: 600_000 }),
    imageRetention: reader.int('IMAGE_RETENTION', { default: 10, min: 0, max: 1000 }),
    target: reader.oneOf('DEPLOY_TARGET', DEPLOY_TARGETS, 'docker'),
    process: undefined,
    runAs: reader.string('APPBUILDER_USER', 'node'),
    // compose writes it before image names, so it may end in '/' (`localhost:5000/`).
    registry: reader.optionalString('LOCAL_REGISTRY')?.replace(/\/+$/, ''),
    dockerHost: reader.string('DOCKER_HOST', DEFAULT_DOCKER_HOST),
    limits: {
      modelJsonBytes: reader.int('MAX_MODEL_JSON_BYTES', { default: 1024 * 1024, min: 1024, max: 64 * 1024 * 1024 }),
      weightsBytes: reader.int('MAX_WEIGHTS_BYTES', { default: 32 * 1024 * 1024, min: 1024, max: 1024 * 1024 * 1024 }),
      metadataBytes: reader.int('MAX_METADATA_BYTES', { default: 1024 * 1024, min: 1024, max: 64 * 1024 * 1024 }),
    },
    // Node and tfjs take about 1.1 GiB of address space before any bundle; 32 MiB of weights 1.3 GiB.
    validation: {
      memoryMb: reader.int('VALIDATION_MEMORY_MB', { default: 2048, min: 1280, max: 65_536 }),
      timeoutMs: reader.int('VALIDATION_TIMEOUT_MS', { default: 30_000, min: 1000, max: 600_000 }),
    },
    tfjsBackend: reader.oneOf('TFJS_BACKEND', TF_BACKEND_PREFERENCES, 'auto'),
    logLevel: readLogLevel(reader),
    database: readDatabaseSettings(reader),
  };
  if (!REPOSITORY.test(settings.webappImage)) reader.problem(`WEBAPP_IMAGE must be an image repository name, got "${settings.webappImage}"`);
  if (settings.registry !== undefined && !REGISTRY.test(settings.registry)) reader.problem(`LOCAL_REGISTRY must be host[:port], got "${settings.registry}"`);
  settings.rollout = reader.oneOf('WEBAPP_ROLLOUT', WEBAPP_ROLLOUTS, settings.reach === 'network' ? 'side-by-side' : 'in-place');
  if (settings.target === 'docker' && settings.rollout === 'side-by-side') {
    // Two containers cannot both listen on one published port, or on one port of the host's network.
    if (settings.reach === 'published') reader.problem('WEBAPP_ROLLOUT=side-by-side needs DEPLOY_REACH=network or host, got "published"');
    if (settings.reach === 'host') settings.webappPorts = readPortPair(reader, 'WEBAPP_PORTS', 'WEBAPP_ROLLOUT=side-by-side with DEPLOY_REACH=host');
  }
  if (!DOCKER_HOST.test(settings.dockerHost)) reader.problem(`DOCKER_HOST must be tcp://host:port or unix:///path, got "${settings.dockerHost}"`);
  if (reader.optionalString('DOCKER_SOCKET') !== undefined) reader.problem('DOCKER_SOCKET is no longer read: set DOCKER_HOST (tcp://docker-proxy:2375 under compose, or unix:///var/run/docker.sock)');
  if (settings.proxyUrl !== undefined && !/^https?:\/\/[^/]+$/.test(settings.proxyUrl)) reader.problem(`PROXY_URL must be http(s)://host[:port], got "${settings.proxyUrl}"`);
  if (settings.target === 'process') {
    const webappUrl = reader.string('WEBAPP_URL', 'http://127.0.0.1:5050').replace(/\/+$/, '');
    if (!/^https?:\/\/[^/]+$/.test(webappUrl)) reader.problem(`WEBAPP_URL must be http(s)://host[:port], got "${webappUrl}"`);
    settings.process = { modelsRoot: path.resolve(reader.string('MODELS_ROOT')), webappUrl, swapToken: reader.secret('MODEL_SWAP_TOKEN') };
  }
  reader.done();
  return settings;
}

/** `A,B`: two different ports; `why` says what needs them when they are missing. */
function readPortPair(reader: EnvReader, name: string, why: string): readonly [number, number] | undefined {
  const raw = reader.optionalString(name);
  if (raw === undefined) {
    reader.problem(`${why} needs ${name} (two host ports, "A,B")`);
    return undefined;
  }
  const ports = raw.split(',').map((part) => part.trim());
  const valid = (part: string) => /^\d{1,5}$/.test(part) && Number(part) >= 1 && Number(part) <= 65535;
  const [a, b] = ports;
  if (ports.length !== 2 || a === undefined || b === undefined || !valid(a) || !valid(b) || a === b) {
    reader.problem(`${name} must be two different ports "A,B", got "${raw}"`);
    return undefined;
  }
  return [Number(a), Number(b)];
}

/** `<registry>/<repository>` when a registry is set. */
export function repositoryOf(settings: Pick<AppbuilderSettings, 'registry' | 'webappImage'>): string {
  return settings.registry === undefined ? settings.webappImage : `${settings.registry}/${settings.webappImage}`;
}
