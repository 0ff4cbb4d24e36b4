import type { ContainerCreateOptions, ContainerInspectInfo, EndpointSettings, ImageInspectInfo } from 'dockerode';
import { errorMessage, freePort } from '@mlpl/shared';
import type { Logger } from '@mlpl/shared';
import { connectNetwork, containerLogs, createContainer, inspectContainer, inspectImage, listContainerNames, removeContainer, renameContainer, startContainer, stopContainer } from './docker.js';
import type { Docker } from './docker.js';
import { DeployError, passGate } from './health-gate.js';
import { LABELS } from './images.js';
import type { DeployReach, WebappRollout } from './settings.js';

export type DeployTarget = {
  docker: Docker;
  /** The webapp container replaced; the new one takes its name. */
  containerName: string;
  /** Port the webapp listens on inside its container (host networking: on the host). */
  webappPort: number;
  reach: DeployReach;
  healthTimeoutMs: number;
  /** A PNG of a digit: a new container must answer a prediction of it before it serves. */
  probeImage: Buffer;
  /** The webapps' PROBE_TOKEN, sent with that prediction so it is not recorded (health-gate.ts). */
  probeToken?: string | undefined;
  logger: Pick<Logger, 'info' | 'warn'>;
  /** 'side-by-side' (behind the proxy, see side-by-side.ts) or 'in-place' (this module); default in-place. */
  rollout?: WebappRollout;
  /** Side by side: the proxy, to see the new version answer through it before the old one is drained. */
  proxyUrl?: string;
  /** Side by side: how long a drained container may finish its requests, in ms (default 30 s). */
  drainGraceMs?: number;
  /** Side by side: how long the proxy may take to see an alias change or a new port listening, in ms (default SETTLE_MS). */
  settleMs?: number;
  /** Side by side under host networking: the two host ports the proxy sends to; a new container takes the one the serving one does not use. */
  webappPorts?: readonly [number, number];
  /**
   * Under 'network' reach, a container is checked by its name; 'address': by its address on its
   * first network (the tests, where the appbuilder runs on the host beside a bridge network).
   */
  locateBy?: 'name' | 'address';
};

export type DeployResult = {
  containerId: string;
  previousVersion: string | null;
  /** From stopping the old container to the new one answering on its place, in ms (0 side by side: there is no gap). */
  gapMs: number;
};

export { DeployError } from './health-gate.js';

const COMPOSE_LABEL = 'com.docker.compose.';
const COMPOSE_IMAGE_LABEL = 'com.docker.compose.image';

export function isHostNetwork(container: ContainerInspectInfo): boolean {
  return container.HostConfig.NetworkMode === 'host';
}

/** The PORT a host-networked webapp listens on: its PORT setting, else the default. */
export function listenPort(env: string[], fallback: number): number {
  const value = env.find((entry) => entry.startsWith('PORT='))?.slice('PORT='.length);
  return value === undefined || value === '' ? fallback : Number(value);
}

/** `port`: a host-networked candidate's own port; `publishOnLoopback`: a candidate the appbuilder reaches through a published port. */
export type Role = { name: string; final: boolean; port?: number; publishOnLoopback?: boolean; publish?: boolean };

/** What the container itself was given, as opposed to what its image set (PATH, NODE_VERSION…). */
export type Own = { env: string[]; labels: Record<string, string>; user: string | undefined };

export function ownSettings(old: ContainerInspectInfo, oldImage: ImageInspectInfo | undefined): Own {
  const imageEnv = new Set(oldImage?.Config.Env ?? []);
  const imageLabels = oldImage?.Config.Labels ?? {};
  const user = old.Config.User !== undefined && old.Config.User !== '' && old.Config.User !== oldImage?.Config.User ? old.Config.User : undefined;
  return {
    env: (old.Config.Env ?? []).filter((entry) => !imageEnv.has(entry)),
    labels: Object.fromEntries(Object.entries(old.Config.Labels ?? {}).filter(([key, value]) => imageLabels[key] !== value)),
    user,
  };
}

/**
 * Options for a container like `old` running `image`. Only what the container itself was given
 * is carried over (its image's environment and labels come from the new image). The final one
 * keeps everything else too: name, labels (compose's, so compose still owns it), restart
 * policy, mounts, port bindings, networks and aliases. A candidate, checked before anything
 * changes, gets no published ports (or one on loopback), no aliases, no compose labels and no
 * restart policy (it must not take traffic, pass for a replica, or restart-loop), and under
 * host networking a port of its own.
 */
export function optionsLike(old: ContainerInspectInfo, own: Own, image: { ref: string; id: string }, role: Role): ContainerCreateOptions {
  const env = own.env.filter((entry) => !(role.port !== undefined && entry.startsWith('PORT=')));
  if (role.port !== undefined) env.push(`PORT=${role.port}`);
  const labels = Object.fromEntries(Object.entries(own.labels).filter(([key]) => role.final || !key.startsWith(COMPOSE_LABEL)));
  // compose v2 compares this label with the image it would run; it names the new image now.
  if (labels[COMPOSE_IMAGE_LABEL] !== undefined) labels[COMPOSE_IMAGE_LABEL] = image.id;
  const containerPort = Object.keys(old.HostConfig.PortBindings ?? {})[0] ?? Object.keys(old.Config.ExposedPorts ?? {})[0];
  const candidatePorts = role.publishOnLoopback === true && containerPort !== undefined ? { [containerPort]: [{ HostIp: '127.0.0.1', HostPort: '' }] } : {};
  // Inspect lists the engine's default masked and read-only /proc and /sys paths; sent back, a
  // list replaces the default, so the Docker API proxy refuses any: the engine fills them in.
  const { MaskedPaths: _masked, ReadonlyPaths: _readonly, ...inherited } = old.HostConfig;
  const hostConfig = {
    ...inherited,
    ...(role.final ? {} : { PortBindings: candidatePorts, PublishAllPorts: false, RestartPolicy: { Name: 'no' } }),
    // Beside the old one, which holds its host ports.
    ...(role.publish === false ? { PortBindings: {}, PublishAllPorts: false } : {}),
  };
  return {
    name: role.name,
    Image: image.ref,
    Env: env,
    Labels: labels,
    ...(old.Config.ExposedPorts === undefined ? {} : { ExposedPorts: old.Config.ExposedPorts }),
    ...(own.user === undefined ? {} : { User: own.user }),
    HostConfig: hostConfig,
  };
}

/** The networks of `old` with the aliases it was given (not the short id Docker adds itself). */
export function networksOf(old: ContainerInspectInfo): { name: string; aliases: string[] }[] {
  if (isHostNetwork(old)) return [];
  return Object.entries(old.NetworkSettings.Networks ?? {}).map(([name, endpoint]) => ({
    name,
    aliases: ((endpoint.Aliases ?? []) as string[]).filter((alias) => !old.Id.startsWith(alias) && alias !== old.Name.replace(/^\//, '')),
  }));
}

/**
 * Creates a container on `old`'s networks: the first at create time, the others connected
 * before it starts (engines before API 1.44 take one network at create).
 */
export async function createOnNetworks(docker: Docker, options: ContainerCreateOptions, networks: { name: string; aliases: string[] }[], keepAliases: boolean): Promise<string> {
  const [first, ...rest] = networks;
  const id = await createContainer(docker, {
    ...options,
    ...(first === undefined ? {} : { NetworkingConfig: { EndpointsConfig: { [first.name]: { Aliases: keepAliases ? first.aliases : [] } as EndpointSettings } } }),
  });
  for (const network of rest) await connectNetwork(docker, network.name, id, keepAliases ? network.aliases : []);
  return id;
}

/**
 * Where the appbuilder finds a started container: by name on the shared network, on loopback
 * under host networking, or on loopback through the port Docker published for it.
 */
export async function locate(target: DeployTarget, id: string, name: string, port: number): Promise<string> {
  if (target.reach === 'network' && target.locateBy === 'address') {
    const address = Object.values((await inspectContainer(target.docker, id))?.NetworkSettings.Networks ?? {})[0]?.IPAddress;
    if (address === undefined || address === '') throw new DeployError(`${name} has no network address`);
    return `http://${address}:${port}`;
  }
  if (target.reach === 'network') return `http://${name}:${port}`;
  if (target.reach === 'host') return `http://127.0.0.1:${port}`;
  const bindings = (await inspectContainer(target.docker, id))?.NetworkSettings.Ports?.[`${port}/tcp`] ?? [];
  const published = bindings.find((binding) => binding.HostPort !== '');
  if (published === undefined) throw new DeployError(`${name} publishes no port for ${port}/tcp`);
  return `http://127.0.0.1:${published.HostPort}`;
}

/** Waits until the container answers the health gate; fails early if it stops. */
export async function probe(target: DeployTarget, id: string, url: string, version: string | null): Promise<void> {
  await passGate({
    url,
    probeImage: target.probeImage,
    probeToken: target.probeToken,
    version,
    timeoutMs: target.healthTimeoutMs,
    gone: async () => {
      const state = (await inspectContainer(target.docker, id))?.State;
      return state !== undefined && !state.Running ? `the container stopped (exit code ${state.ExitCode}) before it answered` : undefined;
    },
  });
}

type Spec = { options: ContainerCreateOptions; networks: { name: string; aliases: string[] }[]; keepAliases: boolean };

async function startAndProbe(target: DeployTarget, spec: Spec, port: number, version: string): Promise<string> {
  const id = await createOnNetworks(target.docker, spec.options, spec.networks, spec.keepAliases);
  const name = spec.options.name ?? id;
  try {
    await startContainer(target.docker, id);
    await probe(target, id, await locate(target, id, name, port), version);
    return id;
  } catch (error) {
    const logs = await containerLogs(target.docker, id);
    await removeContainer(target.docker, id);
    throw new DeployError(`${name}: ${errorMessage(error)}${logs === '' ? '' : `\n--- its last output ---\n${logs}`}`);
  }
}

/** The parked old container's name: found again by `recoverInterruptedDeploy`. */
const PARKED = '-previous-';
const CANDIDATE = '-candidate-';

/**
 * Replaces the running webapp container with one from `image`, health-gated twice:
 * 1. a candidate from the new image, with the old one's settings but no published port and
 *    no alias, must answer a prediction with `version` — the old container keeps serving
 *    throughout, and a failure ends here with nothing changed;
 * 2. the old container is renamed and stopped, and the final one (same name, ports, networks,
 *    aliases, settings) must answer too; if anything in this step fails, the new one is
 *    removed and the old one renamed back and started again.
 * The gap in service is the second step's startup. Clean-up after success (the candidate,
 * the old container) is best effort: a leftover is logged, and removed at the next start.
 */
export async function deployImage(target: DeployTarget, image: string, version: string): Promise<DeployResult> {
  const { docker, containerName, logger } = target;
  const old = await inspectContainer(docker, containerName);
  if (old === undefined) throw new DeployError(`no webapp container named ${containerName} to replace`);
  const newImage = await inspectImage(docker, image);
  if (newImage === undefined) throw new DeployError(`image ${image} not found`);
  const own = ownSettings(old, await inspectImage(docker, old.Image));
  const previousVersion = old.Config.Labels?.[LABELS.version] ?? null;
  const host = isHostNetwork(old);
  const port = host ? listenPort(old.Config.Env ?? [], target.webappPort) : target.webappPort;
  const networks = networksOf(old);
  const ref = { ref: image, id: newImage.Id };

  const candidateName = `${containerName}${CANDIDATE}${version}`.slice(0, 128);
  await removeContainer(docker, candidateName);
  const candidatePort = host ? await freePort() : port;
  const candidate = await startAndProbe(
    target,
    {
      options: optionsLike(old, own, ref, { name: candidateName, final: false, publishOnLoopback: target.reach === 'published', ...(host ? { port: candidatePort } : {}) }),
      networks,
      keepAliases: false,
    },
    candidatePort,
    version,
  );
  logger.info({ version, candidate: candidateName }, 'candidate container answered; swapping');

  const parkedName = `${containerName}${PARKED}${Date.now()}`;
  const swapStarted = performance.now();
  let id: string;
  try {
    try {
      await renameContainer(docker, old.Id, parkedName);
      await stopContainer(docker, old.Id);
      id = await startAndProbe(target, { options: optionsLike(old, own, ref, { name: containerName, final: true }), networks, keepAliases: true }, port, version);
    } catch (error) {
      logger.warn({ err: error, version }, 'the swap failed; restoring the old container');
      try {
        const holder = await inspectContainer(docker, containerName);
        if (holder !== undefined && holder.Id !== old.Id) await removeContainer(docker, holder.Id);
        if (holder?.Id !== old.Id) await renameContainer(docker, old.Id, containerName);
        await startContainer(docker, old.Id);
        // Back in service only once it answers again, as any container the appbuilder starts.
        await probe(target, old.Id, await locate(target, old.Id, containerName, port), previousVersion);
      } catch (restoreError) {
        throw new DeployError(`${(error as Error).message}; and restoring the old container failed too: ${(restoreError as Error).message}`);
      }
      throw error;
    }
  } finally {
    await removeContainer(docker, candidate).catch((error: unknown) => logger.warn({ err: error, candidate }, 'could not remove the candidate container'));
  }
  const gapMs = performance.now() - swapStarted;
  await removeContainer(docker, old.Id).catch((error: unknown) => logger.warn({ err: error, parkedName }, 'could not remove the old container; removed at the next start'));
  return { containerId: id, previousVersion, gapMs };
}

/**
 * Puts the webapp container right after an appbuilder that stopped in the middle of a swap:
 * candidates are removed; if no container has the webapp's name, the newest parked one gets
 * it back and is started; parked ones are removed once the name is taken. Returns what it did.
 */
export async function recoverInterruptedDeploy(docker: Docker, containerName: string): Promise<string[]> {
  const done: string[] = [];
  const names = await listContainerNames(docker, containerName);
  for (const name of names.filter((n) => n.startsWith(`${containerName}${CANDIDATE}`))) {
    await removeContainer(docker, name);
    done.push(`removed ${name}`);
  }
  const parked = names.filter((n) => n.startsWith(`${containerName}${PARKED}`)).sort();
  if (!names.includes(containerName) && parked.length > 0) {
    const newest = parked.pop() as string;
    await renameContainer(docker, newest, containerName);
    await startContainer(docker, containerName);
    done.push(`restored ${newest} as ${containerName}`);
  }
  for (const name of parked) {
    await removeContainer(docker, name);
    done.push(`removed ${name}`);
  }
  return done;
}
