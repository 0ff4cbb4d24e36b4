import net from 'node:net';
import type { ContainerCreateOptions, ContainerInspectInfo, EndpointSettings } from 'dockerode';
import type { Logger } from '@mlpl/shared';
import { containerLogs, createContainer, inspectContainer, removeContainer, renameContainer, startContainer, stopContainer } from './docker.js';
import type { Docker } from './docker.js';
import { LABELS } from './images.js';
import type { DeployReach } from './settings.js';

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
  logger: Pick<Logger, 'info' | 'warn'>;
};

export type DeployResult = {
  containerId: string;
  previousVersion: string | null;
  /** From stopping the old container to the new one answering on its place, in ms. */
  gapMs: number;
};

export class DeployError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DeployError';
  }
}

const COMPOSE_LABEL = 'com.docker.compose.';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function isHostNetwork(container: ContainerInspectInfo): boolean {
  return container.HostConfig.NetworkMode === 'host';
}

/** The PORT a host-networked webapp listens on: its PORT setting, else the default. */
function listenPort(env: string[], fallback: number): number {
  const value = env.find((entry) => entry.startsWith('PORT='))?.slice('PORT='.length);
  return value === undefined || value === '' ? fallback : Number(value);
}

/** `port`: a host-networked candidate's own port; `publishOnLoopback`: a candidate the appbuilder reaches through a published port. */
type Role = { name: string; final: boolean; port?: number; publishOnLoopback?: boolean };

/**
 * Options for a container like `old` running `image`. The final one keeps everything: name,
 * settings, labels (compose's too, so compose still knows it), restart policy, mounts, port
 * bindings, networks and aliases. A candidate, checked before anything changes, gets no
 * published ports, no aliases and no compose labels (it must not take traffic or be mistaken
 * for a replica), and under host networking a port of its own.
 */
function optionsLike(old: ContainerInspectInfo, image: string, role: Role): ContainerCreateOptions {
  const env = (old.Config.Env ?? []).filter((entry) => !(role.port !== undefined && entry.startsWith('PORT=')));
  if (role.port !== undefined) env.push(`PORT=${role.port}`);
  const labels = Object.fromEntries(Object.entries(old.Config.Labels ?? {}).filter(([key]) => role.final || !key.startsWith(COMPOSE_LABEL)));
  // The image's own labels (model version, base) come from the new image, not the old container.
  delete labels[LABELS.version];
  delete labels[LABELS.base];
  const containerPort = Object.keys(old.HostConfig.PortBindings ?? {})[0] ?? Object.keys(old.Config.ExposedPorts ?? {})[0];
  const candidatePorts = role.publishOnLoopback === true && containerPort !== undefined ? { [containerPort]: [{ HostIp: '127.0.0.1', HostPort: '' }] } : {};
  const hostConfig = { ...old.HostConfig, ...(role.final ? {} : { PortBindings: candidatePorts, PublishAllPorts: false }) };
  const networks: Record<string, EndpointSettings> = {};
  if (!isHostNetwork(old)) {
    for (const [network, endpoint] of Object.entries(old.NetworkSettings.Networks ?? {})) {
      // Docker adds the container's short id as an alias of its own: not one to carry over.
      const aliases = ((endpoint.Aliases ?? []) as string[]).filter((alias) => !old.Id.startsWith(alias));
      networks[network] = { Aliases: role.final ? aliases : [] } as EndpointSettings;
    }
  }
  return {
    name: role.name,
    Image: image,
    Env: env,
    Labels: labels,
    ...(old.Config.ExposedPorts === undefined ? {} : { ExposedPorts: old.Config.ExposedPorts }),
    ...(old.Config.User === undefined || old.Config.User === '' ? {} : { User: old.Config.User }),
    HostConfig: hostConfig,
    ...(Object.keys(networks).length === 0 ? {} : { NetworkingConfig: { EndpointsConfig: networks } }),
  };
}

/**
 * Where the appbuilder finds a started container: by name on the shared network, on loopback
 * under host networking, or on loopback through the port Docker published for it.
 */
async function locate(target: DeployTarget, id: string, name: string, port: number): Promise<string> {
  if (target.reach === 'network') return `http://${name}:${port}`;
  if (target.reach === 'host') return `http://127.0.0.1:${port}`;
  const bindings = (await inspectContainer(target.docker, id))?.NetworkSettings.Ports?.[`${port}/tcp`] ?? [];
  const published = bindings.find((binding) => binding.HostPort !== '');
  if (published === undefined) throw new DeployError(`${name} publishes no port for ${port}/tcp`);
  return `http://127.0.0.1:${published.HostPort}`;
}

type ProbeAnswer = { modelVersion?: unknown; probabilities?: unknown; digit?: unknown };

/**
 * Waits for `/healthz`, then asks for a prediction: the container must answer it with the
 * expected version and ten finite probabilities. Fails early if the container stops.
 */
async function probe(target: DeployTarget, id: string, url: string, version: string): Promise<void> {
  const deadline = Date.now() + target.healthTimeoutMs;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    const state = (await inspectContainer(target.docker, id))?.State;
    if (state !== undefined && !state.Running) throw new DeployError(`the container stopped (exit code ${state.ExitCode}) before it answered`);
    try {
      const health = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) });
      if (health.ok) {
        const form = new FormData();
        form.append('image', new Blob([Uint8Array.from(target.probeImage)], { type: 'image/png' }), 'probe.png');
        const response = await fetch(`${url}/api/predict`, { method: 'POST', body: form, signal: AbortSignal.timeout(10_000) });
        const answer = (await response.json().catch(() => ({}))) as ProbeAnswer;
        const probabilities = Array.isArray(answer.probabilities) ? (answer.probabilities as unknown[]) : [];
        if (response.ok && answer.modelVersion === version && probabilities.length === 10 && probabilities.every((p) => typeof p === 'number' && Number.isFinite(p))) {
          return;
        }
        last = `prediction answered ${response.status} with ${JSON.stringify(answer).slice(0, 200)}`;
      } else {
        last = `/healthz answered ${health.status}`;
      }
    } catch (error) {
      last = (error as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new DeployError(`no healthy answer within ${target.healthTimeoutMs} ms (last: ${last})`);
}

async function startAndProbe(target: DeployTarget, options: ContainerCreateOptions, port: number, version: string): Promise<string> {
  const id = await createContainer(target.docker, options);
  try {
    await startContainer(target.docker, id);
    await probe(target, id, await locate(target, id, options.name ?? id, port), version);
    return id;
  } catch (error) {
    const logs = await containerLogs(target.docker, id);
    await removeContainer(target.docker, id);
    const message = error instanceof Error ? error.message : String(error);
    throw new DeployError(`${options.name}: ${message}${logs === '' ? '' : `\n--- its last output ---\n${logs}`}`);
  }
}

/**
 * Replaces the running webapp container with one from `image`, health-gated twice:
 * 1. a candidate from the new image, with the old one's settings but no published port and
 *    no alias, must answer a prediction with `version` — the old container keeps serving
 *    throughout, and a failure ends here with nothing changed;
 * 2. the old container is renamed and stopped, and the final one (same name, ports, networks,
 *    aliases, settings) must answer too; if it does not, it is removed and the old one is
 *    renamed back and started again.
 * The gap in service is the second step's startup.
 */
export async function deployImage(target: DeployTarget, image: string, version: string): Promise<DeployResult> {
  const { docker, containerName } = target;
  const old = await inspectContainer(docker, containerName);
  if (old === undefined) throw new DeployError(`no webapp container named ${containerName} to replace`);
  const previousVersion = old.Config.Labels?.[LABELS.version] ?? null;
  const host = isHostNetwork(old);
  const port = host ? listenPort(old.Config.Env ?? [], target.webappPort) : target.webappPort;

  const candidateName = `${containerName}-candidate-${version}`.slice(0, 128);
  await removeContainer(docker, candidateName);
  const candidatePort = host ? await freePort() : port;
  const candidate = await startAndProbe(
    target,
    optionsLike(old, image, { name: candidateName, final: false, publishOnLoopback: target.reach === 'published', ...(host ? { port: candidatePort } : {}) }),
    candidatePort,
    version,
  );
  target.logger.info({ version, candidate: candidateName }, 'candidate container answered; swapping');

  const parkedName = `${containerName}-previous-${Date.now()}`;
  const swapStarted = performance.now();
  try {
    await renameContainer(docker, old.Id, parkedName);
    await stopContainer(docker, old.Id);
    let id: string;
    try {
      id = await startAndProbe(target, optionsLike(old, image, { name: containerName, final: true }), port, version);
    } catch (error) {
      target.logger.warn({ err: error, version }, 'the new container failed in place of the old one; restoring the old one');
      await renameContainer(docker, old.Id, containerName);
      await startContainer(docker, old.Id);
      throw error;
    }
    const gapMs = performance.now() - swapStarted;
    await removeContainer(docker, old.Id);
    return { containerId: id, previousVersion, gapMs };
  } finally {
    await removeContainer(docker, candidate);
  }
}
