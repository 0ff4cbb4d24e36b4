import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import path from 'node:path';
import type { ContainerInspectInfo } from 'dockerode';
import type { DatabaseSettings, StorageSettings } from '@mlpl/shared';
import { inspectContainer, removeContainer, startContainer, stopContainer } from '@mlpl/appbuilder/docker';
import type { Docker } from '@mlpl/appbuilder/docker';
import { listenPort } from '@mlpl/appbuilder/deploy';
import { startWebappContainer } from '@mlpl/appbuilder/docker-fixtures';
import { LABELS } from '@mlpl/appbuilder/images';
import { webappContainers } from '@mlpl/appbuilder/side-by-side';
import { rssOf, waitUntil } from './service-process.js';
import type { Part } from './stack.js';

/**
 * The Docker target's containers and images: their names, which stack owns them, the webapp
 * containers as a part of the stack, and their output in the state folder's logs.
 */

/** The webapp containers are `<container>` and `<container>-<version>`, the proxy `<container>-proxy`, the images `<repo>:<tag>`. */
export type DockerNames = { container: string; repo: string };

/** Every container the stack creates carries the resolved path of its state folder. */
export const OWNER_LABEL = 'mlpl.stack.state-dir';

/** What the stack used before the names were derived from the state folder: one set per engine. */
export const LEGACY_NAMES: DockerNames = { container: 'mlpl-stack-webapp', repo: 'mlpl-stack/mywebapp' };

/**
 * The names of a state folder's containers and images: a short hash of its resolved path, so
 * two checkouts (or two --state-dir) on one engine never meet. The hash has a fixed length and
 * is followed by `-webapp`: the appbuilder's `<container>` / `<container>-…` matching of one
 * stack can never take in another stack's containers.
 */
export function derivedNames(stateDir: string): DockerNames {
  const id = createHash('sha256').update(path.resolve(stateDir)).digest('hex').slice(0, 8);
  return { container: `mlpl-stack-${id}-webapp`, repo: `mlpl-stack-${id}/mywebapp` };
}

export type Owner = { stateDir: string; databasePassword: string };

const envValue = (container: ContainerInspectInfo, key: string) => (container.Config.Env ?? []).find((entry) => entry.startsWith(`${key}=`))?.slice(key.length + 1);

/**
 * Why a webapp container is not this state folder's, or undefined when it is: labelled with
 * this folder (or, made before the label, unlabelled) and reaching the database with this
 * folder's password. A folder deleted and made again has a new password: what was made for the
 * old one cannot reach the new database.
 */
export function notOurs(container: ContainerInspectInfo, owner: Owner): string | undefined {
  const labelled = container.Config.Labels?.[OWNER_LABEL];
  if (labelled !== undefined && labelled !== owner.stateDir) return `it belongs to the state folder ${labelled}`;
  if (envValue(container, 'MYSQL_PASSWORD') === owner.databasePassword) return undefined;
  const secrets = path.join(owner.stateDir, 'secrets.json');
  return labelled === undefined
    ? `it has no state folder label and its database password is not the one in ${secrets}: another checkout's or another state folder's stack made it`
    : `it was made for an earlier ${owner.stateDir} (its database password is not the one in ${secrets}: the folder was deleted and made again)`;
}

/** The proxy is this folder's when labelled so or, made before the label, serving this folder's proxy config. */
function proxyNotOurs(container: ContainerInspectInfo, owner: Owner, configFile: string): string | undefined {
  const labelled = container.Config.Labels?.[OWNER_LABEL];
  if (labelled !== undefined) return labelled === owner.stateDir ? undefined : `it belongs to the state folder ${labelled}`;
  return (container.HostConfig.Binds ?? []).some((bind) => bind.startsWith(`${configFile}:`)) ? undefined : `it has no state folder label and does not serve ${configFile}`;
}

const nameOf = (container: ContainerInspectInfo) => container.Name.replace(/^\//, '');

/** One line per container: its name, state and why it is not this stack's. */
function listing(found: { container: ContainerInspectInfo; why: string }[]): string {
  return found.map(({ container, why }) => `  ${nameOf(container)} (${container.State.Running ? 'running' : container.State.Status}): ${why}`).join('\n');
}

const removal = (found: { container: ContainerInspectInfo }[]) => `docker rm -f ${found.map(({ container }) => nameOf(container)).join(' ')}`;

/**
 * The names this start uses, checked against what the engine holds:
 * - `explicit` (tests) or else: the previous version's fixed names when containers under them
 *   belong to this folder (an existing .stack/ keeps its containers and images), otherwise the
 *   names derived from the folder; foreign containers under the old names are left alone, said
 *   in `notes`.
 * - Any container under the chosen names that is not this folder's is refused: the error names
 *   each, why, the state folder it belongs to and the command that removes it. Restarting it
 *   would serve another stack's model with another stack's database password.
 */
export async function resolveDockerNames(
  docker: Docker,
  options: { owner: Owner; proxyConfig: string; explicit?: DockerNames; legacy?: DockerNames },
): Promise<{ names: DockerNames; notes: string[] }> {
  const { owner } = options;
  const notes: string[] = [];
  let names = options.explicit;
  if (names === undefined) {
    const legacy = options.legacy ?? LEGACY_NAMES;
    const old = await webappContainers(docker, legacy.container);
    if (old.some((container) => notOurs(container, owner) === undefined)) {
      names = legacy;
      notes.push(`keeping this state folder's containers under the names from before (${legacy.container}…, images ${legacy.repo})`);
    } else {
      names = derivedNames(owner.stateDir);
      if (old.length > 0) {
        const found = old.map((container) => ({ container, why: notOurs(container, owner) ?? '' }));
        notes.push(
          `not using these containers, which are not this state folder's (this stack's are named ${names.container}…):\n${listing(found)}\n` +
            `left alone (a running one may hold the ports this stack needs); when no longer needed: ${removal(found)}`,
        );
      }
    }
  }

  const foreign: { container: ContainerInspectInfo; why: string }[] = [];
  const webapps = await webappContainers(docker, names.container);
  // One with the exact name but no model version label is not in that list, but takes the name.
  const exact = await inspectContainer(docker, names.container);
  if (exact !== undefined && !webapps.some((container) => container.Id === exact.Id)) webapps.push(exact);
  for (const container of webapps) {
    const why = notOurs(container, owner);
    if (why !== undefined) foreign.push({ container, why });
  }
  const proxy = await inspectContainer(docker, `${names.container}-proxy`);
  const proxyWhy = proxy === undefined ? undefined : proxyNotOurs(proxy, owner, options.proxyConfig);
  if (proxy !== undefined && proxyWhy !== undefined) foreign.push({ container: proxy, why: proxyWhy });
  if (foreign.length > 0) {
    throw new Error(
      `the stack of ${owner.stateDir} will not use these containers: they have its names but are not its own.\n${listing(foreign)}\n` +
        `Remove them (a container holds no data: the database, models and logs are in its state folder):\n  ${removal(foreign)}\nor start with another --state-dir.`,
    );
  }
  return { names, notes };
}

/**
 * Appends the output of the webapp containers named `prefix` or `prefix-…` to `file` from now
 * on, each after a line naming the container: the appbuilder replaces the container at each
 * rollout, so the running ones are looked for every `everyMs`.
 */
export function followWebappLogs(docker: Docker, prefix: string, file: string, everyMs = 1000): { stop(): Promise<void> } {
  const out = createWriteStream(file, { flags: 'a' });
  // A log that cannot be written is no reason to stop the stack: the output is lost, said once.
  out.on('error', (error) => console.error(`the webapp's output is not written to ${file}: ${error.message}`));
  // Docker's `since` is in whole seconds: a container followed again repeats at most a second.
  const startedAt = Math.floor(Date.now() / 1000);
  const following = new Map<string, NodeJS.ReadableStream & { destroy?: () => void }>();
  const endedAt = new Map<string, number>();
  let polling: Promise<void> = Promise.resolve();
  let stopped = false;
  const poll = async () => {
    const running = await docker.listContainers({ filters: { name: [prefix], status: ['running'] } });
    for (const listed of running) {
      const name = (listed.Names[0] ?? '').replace(/^\//, '');
      if (stopped || following.has(listed.Id) || (name !== prefix && !name.startsWith(`${prefix}-`)) || listed.Labels[LABELS.version] === undefined) continue;
      const stream = await docker.getContainer(listed.Id).logs({ follow: true, stdout: true, stderr: true, since: endedAt.get(listed.Id) ?? startedAt });
      if (stopped) {
        (stream as { destroy?: () => void }).destroy?.();
        continue;
      }
      out.write(`--- ${new Date().toISOString()} the output of container ${name} (model ${listed.Labels[LABELS.version]}) follows ---\n`);
      following.set(listed.Id, stream);
      docker.modem.demuxStream(stream, out, out);
      // Ended or cut (the container stopped, dockerd restarted): followed again while it runs.
      const ended = () => {
        following.delete(listed.Id);
        endedAt.set(listed.Id, Math.floor(Date.now() / 1000));
      };
      stream.on('end', ended);
      stream.on('error', ended);
    }
  };
  const timer = setInterval(() => {
    polling = polling.then(poll).catch(() => undefined);
  }, everyMs);
  timer.unref();
  polling = poll().catch(() => undefined);
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await polling;
      for (const stream of following.values()) stream.destroy?.();
      following.clear();
      await new Promise<void>((resolve) => out.end(resolve));
    },
  };
}

/** A container's state in words: `running`, `exited with code 1`, `restarting (exit code 1, 3 restarts)`. */
export function containerState(container: ContainerInspectInfo | undefined): string {
  if (container === undefined) return 'gone';
  const state = container.State;
  if (state.Restarting) return `restarting (exit code ${state.ExitCode}, ${container.RestartCount} restarts)`;
  if (state.Running) return 'running';
  return `${state.Status} with code ${state.ExitCode}${state.OOMKilled ? ' (out of memory)' : ''}${state.Error === '' ? '' : `: ${state.Error}`}`;
}

type WebappContainers = { image: string; prefix: string; ports: readonly [number, number]; owner: Owner; logFile: string; database: DatabaseSettings; storage: StorageSettings; env: Record<string, string> };

export type DockerWebapp = Part & {
  /** The webapp containers and their states, for a message saying why it is not ready. */
  describe(): Promise<string>;
};

/**
 * The webapp containers (host networking) behind the stack's proxy: `prefix` at first, then
 * `prefix-<version>` after each rollout, on one of `ports` (two only in the middle of one).
 * Their output is appended to `logFile` while the part runs.
 */
export function dockerWebapp(docker: Docker, options: WebappContainers): DockerWebapp {
  let running = false;
  let logs: { stop(): Promise<void> } | undefined;
  const all = () => webappContainers(docker, options.prefix);
  const describe = async () => {
    const containers = await all();
    const states = containers.map((container) => `${nameOf(container)} ${containerState(container)}`);
    return `${states.length === 0 ? `no container ${options.prefix}…` : `container ${states.join(', ')}`}; its log: ${options.logFile}`;
  };
  return {
    name: 'webapp',
    get running() {
      return running;
    },
    describe,
    async start() {
      logs ??= followWebappLogs(docker, options.prefix, options.logFile);
      try {
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
          const label = { 'mlpl.stack': 'webapp', [OWNER_LABEL]: options.owner.stateDir };
          await startWebappContainer(docker, { ...options, image, name: options.prefix, port: options.ports[0], label });
        } else {
          // After a deployment the container running is the version in service: keep it. Were
          // two left (the stack stopped mid-rollout), the appbuilder keeps the recorded one.
          for (const container of kept) await startContainer(docker, container.Id);
          await waitUntil(`${kept.map(nameOf).join(' or ')} to answer`, 90_000, async () => {
            for (const port of options.ports) if (await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(5000) }).then((r) => r.ok, () => false)) return true;
            return false;
          });
        }
      } catch (error) {
        throw new Error(`${(error as Error).message}; ${await describe().catch(() => `its log: ${options.logFile}`)}`);
      }
      running = true;
    },
    async stop() {
      try {
        for (const container of await all()) if (container.State.Running) await stopContainer(docker, container.Id);
      } finally {
        await logs?.stop();
        logs = undefined;
        running = false;
      }
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
