import type { ContainerInspectInfo } from 'dockerode';
import { errorMessage } from '@mlpl/shared';
import { connectNetwork, containerLogs, disconnectNetwork, inspectContainer, inspectImage, listContainerNames, removeContainer, startContainer, stopContainer, updateContainer } from './docker.js';
import type { Docker } from './docker.js';
import { createOnNetworks, DeployError, isHostNetwork, listenPort, locate, networksOf, optionsLike, ownSettings, probe, recoverInterruptedDeploy } from './deploy.js';
import type { DeployResult, DeployTarget } from './deploy.js';
import { LABELS } from './images.js';

/**
 * The proxy (deploy/proxy/nginx.conf) caches the alias's addresses for `valid=1s`, and nginx's
 * clock ticks in whole seconds: an alias change is seen by every worker within 2 s. Under host
 * networking (the stack's proxy, scripts/src/stack-proxy.ts) a port that refused a connection
 * before the new container listened is skipped for `fail_timeout=1s`, then tried by one request
 * at a time until one succeeds; the check through PROXY_URL is that success for every worker
 * (its `zone`). Were it still skipped when the old port refuses, nginx would answer 503. The
 * old container is drained only after this much longer.
 */
export const SETTLE_MS = 3000;
/** How long the new version may take to answer through the proxy. */
const PROXY_CHECK_MS = 30_000;
const DEFAULT_DRAIN_MS = 30_000;

/**
 * The webapp containers: named `prefix` (compose's) or `prefix-…` (a rollout's), from a model
 * image (labelled with its version). Running or not, newest first.
 */
export async function webappContainers(docker: Docker, prefix: string): Promise<ContainerInspectInfo[]> {
  const found: ContainerInspectInfo[] = [];
  for (const name of await listContainerNames(docker, prefix)) {
    if (name !== prefix && !name.startsWith(`${prefix}-`)) continue;
    const container = await inspectContainer(docker, name);
    if (container?.Config.Labels?.[LABELS.version] !== undefined) found.push(container);
  }
  // By time, not by text: Docker's RFC 3339 timestamps drop trailing zeros of the fraction.
  return found.sort((a, b) => Date.parse(b.Created) - Date.parse(a.Created));
}

const nameOf = (container: ContainerInspectInfo) => container.Name.replace(/^\//, '');
const versionOf = (container: ContainerInspectInfo) => container.Config.Labels?.[LABELS.version];

/**
 * The proxy sends it requests: running and holding an alias on some network, or running under
 * host networking (the proxy sends to both WEBAPP_PORTS; the container listens on one).
 */
function serves(container: ContainerInspectInfo): boolean {
  return container.State.Running && (isHostNetwork(container) || networksOf(container).some((network) => network.aliases.length > 0));
}

/** Under host networking: the one of the two ports that `old` does not listen on. */
function otherPort(ports: readonly [number, number] | undefined, old: ContainerInspectInfo, fallback: number): number {
  if (ports === undefined) throw new DeployError('a side-by-side rollout under host networking needs the two ports the proxy sends to (WEBAPP_PORTS)');
  return listenPort(old.Config.Env ?? [], fallback) === ports[0] ? ports[1] : ports[0];
}

/** The containers that serve now, newest first (two only in the middle of a rollout). */
export async function servingContainers(docker: Docker, prefix: string): Promise<ContainerInspectInfo[]> {
  return (await webappContainers(docker, prefix)).filter(serves);
}

/** `prefix-<version>`, unless that is taken by a serving container or too long for a DNS label. */
function newName(prefix: string, version: string, serving: ContainerInspectInfo[]): string {
  const plain = `${prefix}-${version}`;
  if (plain.length <= 63 && !serving.some((container) => nameOf(container) === plain)) return plain;
  const stamp = Date.now().toString(36);
  return `${prefix}-${version.slice(0, Math.max(1, 63 - prefix.length - stamp.length - 2))}-${stamp}`;
}

function addresses(container: ContainerInspectInfo | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(container?.NetworkSettings.Networks ?? {}).map(([network, endpoint]) => [network, endpoint.IPAddress]));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `GET /api/model` through the proxy until the new version has answered. */
async function answersThroughProxy(proxyUrl: string, version: string): Promise<void> {
  const deadline = Date.now() + PROXY_CHECK_MS;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    try {
      const response = await fetch(`${proxyUrl}/api/model`, { signal: AbortSignal.timeout(2000) });
      const served = ((await response.json()) as { version?: unknown }).version;
      if (served === version) return;
      last = `${response.status}, version ${String(served)}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await sleep(100);
  }
  throw new DeployError(`the proxy ${proxyUrl} did not send a request to ${version} within ${PROXY_CHECK_MS} ms (last: ${last})`);
}

/**
 * Stops a container that may be serving: Docker sends SIGTERM, the webapp closes its listener
 * (the proxy's next connection is refused and goes to another address), finishes what it
 * holds and exits; SIGKILL only after the grace period. Then it is removed.
 */
async function drain(docker: Docker, id: string, graceMs: number): Promise<void> {
  await stopContainer(docker, id, Math.ceil(graceMs / 1000));
  await removeContainer(docker, id);
}

/**
 * Rolls `image` out beside the serving webapp container, which serves until the new one does:
 * a. a container `<prefix>-<version>` like the old one (its own settings, labels incl.
 *    compose's, mounts, networks) but with no alias, no published port and no restart policy,
 *    started and gated by name (`/healthz` and a real prediction with `version`); once it
 *    passed, it gets the old one's restart policy;
 * b. reconnected to the old one's networks with its aliases: the proxy starts sending it
 *    requests (it took none before, so the reconnect cuts nothing); gated again;
 * c. the new version seen answering through the proxy (PROXY_URL), and at least SETTLE_MS
 *    waited, so every proxy worker knows the new address;
 * d. every other webapp container drained (SIGTERM, in-flight requests finished, refused
 *    connections retried by the proxy on the new one) and removed.
 * A failure in a–c removes the new container (drained if it had the alias); the old one is
 * never touched before d. A failure in d is logged: the next start drains what is left.
 * Under host networking (the stack) there is no alias: the new container listens on the other
 * of the two ports the proxy sends to (`webappPorts`) and is gated there. The proxy sends it
 * requests as soon as it listens, i.e. once its model loaded, while the gate runs; one that
 * fails the gate is drained before it is removed.
 */
export async function deploySideBySide(target: DeployTarget, image: string, version: string): Promise<DeployResult> {
  const { docker, containerName: prefix, logger } = target;
  const serving = await servingContainers(docker, prefix);
  const old = serving[0];
  if (old === undefined) throw new DeployError(`no running webapp container named ${prefix} or ${prefix}-<version> ${target.reach === 'host' ? 'under host networking' : 'with a network alias'} to roll out beside`);
  const newImage = await inspectImage(docker, image);
  if (newImage === undefined) throw new DeployError(`image ${image} not found`);
  const own = ownSettings(old, await inspectImage(docker, old.Image));
  const previousVersion = versionOf(old) ?? null;
  const networks = networksOf(old);
  const name = newName(prefix, version, serving);
  const host = target.reach === 'host';
  const port = host ? otherPort(target.webappPorts, old, target.webappPort) : target.webappPort;
  // A stopped leftover of an earlier rollout of this version.
  await removeContainer(docker, name);

  const options = optionsLike(old, own, { ref: image, id: newImage.Id }, { name, final: true, publish: false, ...(host ? { port } : {}) });
  // No restart until it passed the gate: a version that crashes must fail it, not loop.
  const restartPolicy = options.HostConfig?.RestartPolicy;
  const id = await createOnNetworks(docker, { ...options, HostConfig: { ...options.HostConfig, RestartPolicy: { Name: 'no' } } }, networks, false);
  // Under host networking the proxy sends it requests as soon as it listens.
  let takesTraffic = host;
  try {
    await startContainer(docker, id);
    const url = () => locate(target, id, name, port);
    await probe(target, id, await url(), version);
    logger.info({ version, container: name, ...(host ? { port } : {}) }, host ? 'new container answered' : 'new container answered; giving it the alias');
    if (restartPolicy !== undefined && restartPolicy.Name !== undefined && restartPolicy.Name !== 'no' && restartPolicy.Name !== '') {
      await updateContainer(docker, id, { RestartPolicy: { Name: restartPolicy.Name, ...(restartPolicy.MaximumRetryCount === undefined ? {} : { MaximumRetryCount: restartPolicy.MaximumRetryCount }) } });
    }

    const before = addresses(await inspectContainer(docker, id));
    for (const network of networks.filter((n) => n.aliases.length > 0)) {
      await disconnectNetwork(docker, network.name, id);
      takesTraffic = true;
      await connectNetwork(docker, network.name, id, network.aliases);
    }
    // From here every proxy worker is to learn the new route (the alias, or the port listening).
    const routedAt = Date.now();
    const after = addresses(await inspectContainer(docker, id));
    if (Object.entries(before).some(([network, address]) => after[network] !== address)) {
      // Connections it opened (database, storage) are bound to its old address and would hang;
      // a restart opens them again. It serves nothing meanwhile: the proxy retries elsewhere.
      logger.warn({ before, after }, 'the new container changed address when it took the alias; restarting it');
      await stopContainer(docker, id, Math.ceil((target.drainGraceMs ?? DEFAULT_DRAIN_MS) / 1000));
      await startContainer(docker, id);
    }
    await probe(target, id, await url(), version);
    if (target.proxyUrl !== undefined) await answersThroughProxy(target.proxyUrl, version);
    await sleep(Math.max(0, (target.settleMs ?? SETTLE_MS) - (Date.now() - routedAt)));
  } catch (error) {
    const logs = await containerLogs(docker, id);
    if (takesTraffic) await stopContainer(docker, id, Math.ceil((target.drainGraceMs ?? DEFAULT_DRAIN_MS) / 1000)).catch(() => undefined);
    await removeContainer(docker, id);
    throw new DeployError(`${name}: ${errorMessage(error)}${logs === '' ? '' : `\n--- its last output ---\n${logs}`}`);
  }

  logger.info({ version, container: name }, 'the proxy sends requests to the new container; draining the old one');
  for (const other of await webappContainers(docker, prefix)) {
    if (other.Id === id) continue;
    const started = performance.now();
    await drain(docker, other.Id, target.drainGraceMs ?? DEFAULT_DRAIN_MS).then(
      () => logger.info({ container: nameOf(other), ms: Math.round(performance.now() - started) }, 'drained and removed the old container'),
      (error: unknown) => logger.warn({ err: error, container: nameOf(other) }, 'could not drain the old container; drained at the next start'),
    );
  }
  return { containerId: id, previousVersion, gapMs: 0 };
}

/**
 * Puts the webapp containers right after an appbuilder stopped in the middle of a rollout:
 * of the serving ones (running with the alias), the one running `preferred` (the version the
 * deployment records say serves) or else the newest is kept and the others are drained;
 * containers with no alias (a new one not yet gated, a stopped leftover) are removed. With none
 * serving, only what an in-place swap leaves is put right (see recoverInterruptedDeploy).
 */
export async function recoverSideBySide(docker: Docker, prefix: string, preferred: string | undefined, drainGraceMs = DEFAULT_DRAIN_MS): Promise<string[]> {
  const all = await webappContainers(docker, prefix);
  const serving = all.filter(serves);
  const keep = serving.find((container) => versionOf(container) === preferred) ?? serving[0];
  if (keep === undefined) return recoverInterruptedDeploy(docker, prefix);
  const done: string[] = [];
  // The ones taking no traffic first: removing them cuts nothing.
  // Each one on its own: a container that cannot be removed now is reported and tried again at
  // the next start, as after a deployment, instead of stopping the appbuilder from starting.
  for (const container of all.filter((c) => !serves(c))) {
    await removeContainer(docker, container.Id).then(
      () => done.push(`removed ${nameOf(container)}`),
      (error: unknown) => done.push(`could not remove ${nameOf(container)}: ${(error as Error).message}`),
    );
  }
  for (const container of serving.filter((c) => c.Id !== keep.Id)) {
    await drain(docker, container.Id, drainGraceMs).then(
      () => done.push(`drained ${nameOf(container)}`),
      (error: unknown) => done.push(`could not drain ${nameOf(container)}: ${(error as Error).message}`),
    );
  }
  return done;
}
