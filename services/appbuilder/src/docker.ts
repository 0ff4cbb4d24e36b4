import Dockerode from 'dockerode';
import type { ContainerCreateOptions, ContainerInspectInfo, ImageInspectInfo } from 'dockerode';

/**
 * The one module that speaks to the Docker engine. Thin functions over dockerode; the
 * appbuilder's decisions (what to build, when to swap containers) live elsewhere.
 */
export type Docker = Dockerode;

/**
 * A client of the engine at `address`: `tcp://host:port` (plain HTTP, as the Docker API proxy
 * speaks it), `unix:///path` or a socket's path.
 */
export function createDocker(address: string): Docker {
  const tcp = /^tcp:\/\/(.+):(\d+)$/.exec(address);
  if (tcp !== null) return new Dockerode({ host: (tcp[1] as string).replace(/^\[(.*)\]$/, '$1'), port: Number(tcp[2]), protocol: 'http' });
  return new Dockerode({ socketPath: address.replace(/^unix:\/\//, '') });
}

/** The socket's path when `address` names one, else undefined (a TCP address). */
export function socketPathOf(address: string): string | undefined {
  return address.startsWith('tcp://') ? undefined : address.replace(/^unix:\/\//, '');
}

export async function pingDocker(docker: Docker): Promise<void> {
  await docker.ping();
}

/** Docker reports a failed build or push inside its progress stream, as an event with `error`. */
type ProgressEvent = { stream?: string; error?: string; errorDetail?: { message?: string }; aux?: { ID?: string; Digest?: string } };

export class DockerStreamError extends Error {
  constructor(
    message: string,
    readonly log: string,
  ) {
    super(message);
    this.name = 'DockerStreamError';
  }
}

/** Reads a build or push stream to its end; rejects on the first error event, with the log so far. */
function followProgress(docker: Docker, stream: NodeJS.ReadableStream): Promise<ProgressEvent[]> {
  return new Promise((resolve, reject) => {
    const events: ProgressEvent[] = [];
    let failed: string | undefined;
    docker.modem.followProgress(
      stream,
      (error: Error | null) => {
        const log = events.map((event) => event.stream ?? '').join('');
        if (error !== null) reject(new DockerStreamError(error.message, log));
        else if (failed !== undefined) reject(new DockerStreamError(failed, log));
        else resolve(events);
      },
      (event: ProgressEvent) => {
        events.push(event);
        if (failed === undefined && (event.error !== undefined || event.errorDetail !== undefined)) {
          failed = event.errorDetail?.message ?? event.error ?? 'unknown error';
        }
      },
    );
  });
}

/**
 * Builds an image from the files `src` of the folder `context` and resolves with its id; a
 * failure reported in the stream rejects, naming Docker's message.
 */
export async function buildImage(
  docker: Docker,
  build: { context: string; src: string[]; tag: string; buildargs?: Record<string, string>; labels?: Record<string, string> },
): Promise<string> {
  const stream = await docker.buildImage(
    { context: build.context, src: build.src },
    { t: build.tag, buildargs: build.buildargs ?? {}, labels: build.labels ?? {}, rm: true, forcerm: true },
  );
  const events = await followProgress(docker, stream);
  const id = events.map((event) => event.aux?.ID).find((value) => value !== undefined);
  if (id !== undefined) return id;
  // The legacy builder says "Successfully built <short id>" instead of an aux event.
  return (await docker.getImage(build.tag).inspect()).Id;
}

export async function inspectImage(docker: Docker, ref: string): Promise<ImageInspectInfo | undefined> {
  try {
    return await docker.getImage(ref).inspect();
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return undefined;
    throw error;
  }
}

export async function tagImage(docker: Docker, ref: string, repo: string, tag: string): Promise<void> {
  await docker.getImage(ref).tag({ repo, tag });
}

export async function removeImage(docker: Docker, ref: string): Promise<void> {
  await docker.getImage(ref).remove({ noprune: false });
}

/** Pushes `<repo>:<tag>` and resolves with the registry's digest of it. */
export async function pushImage(docker: Docker, repo: string, tag: string): Promise<string | undefined> {
  const stream = await docker.getImage(`${repo}:${tag}`).push({ tag });
  const events = await followProgress(docker, stream);
  return events.map((event) => event.aux?.Digest).find((value) => value !== undefined);
}

export async function inspectContainer(docker: Docker, nameOrId: string): Promise<ContainerInspectInfo | undefined> {
  try {
    return await docker.getContainer(nameOrId).inspect();
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return undefined;
    throw error;
  }
}

export async function createContainer(docker: Docker, options: ContainerCreateOptions): Promise<string> {
  return (await docker.createContainer(options)).id;
}

/** Starts a container; one already running is fine. */
export async function startContainer(docker: Docker, id: string): Promise<void> {
  try {
    await docker.getContainer(id).start();
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode !== 304) throw error;
  }
}

/** Stops (Docker sends SIGTERM, then SIGKILL after `seconds`); a stopped container is fine. */
export async function stopContainer(docker: Docker, id: string, seconds = 10): Promise<void> {
  try {
    await docker.getContainer(id).stop({ t: seconds });
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode !== 304) throw error;
  }
}

export async function removeContainer(docker: Docker, id: string): Promise<void> {
  try {
    await docker.getContainer(id).remove({ force: true });
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode !== 404) throw error;
  }
}

export async function renameContainer(docker: Docker, id: string, name: string): Promise<void> {
  await docker.getContainer(id).rename({ name });
}

/** The last `lines` of a container's output, for the record of a failed deployment. */
export async function containerLogs(docker: Docker, id: string, lines = 20): Promise<string> {
  try {
    const logs = (await docker.getContainer(id).logs({ stdout: true, stderr: true, tail: lines, follow: false })) as unknown as Buffer;
    // Non-TTY logs are multiplexed: an 8-byte header per frame; keep the text.
    return logs.toString('utf8').replace(/[\x00-\x08]/g, '').trim();
  } catch {
    return '';
  }
}

export async function connectNetwork(docker: Docker, network: string, container: string, aliases: string[]): Promise<void> {
  await docker.getNetwork(network).connect({ Container: container, EndpointConfig: { Aliases: aliases } });
}

/** Names (without the leading slash) of all containers whose name starts with `prefix`. */
export async function listContainerNames(docker: Docker, prefix: string): Promise<string[]> {
  const containers = await docker.listContainers({ all: true, filters: { name: [prefix] } });
  return containers.flatMap((container) => container.Names.map((name) => name.replace(/^\//, ''))).filter((name) => name.startsWith(prefix));
}

export async function disconnectNetwork(docker: Docker, network: string, container: string): Promise<void> {
  await docker.getNetwork(network).disconnect({ Container: container, Force: false });
}

/** Tags of `repo` present on the engine: `{tag, id, created (s since epoch), labels}` per tag. */
export async function listRepoTags(docker: Docker, repo: string): Promise<{ tag: string; id: string; created: number; labels: Record<string, string> }[]> {
  const images = await docker.listImages();
  return images.flatMap((image) =>
    (image.RepoTags ?? [])
      .filter((ref) => ref.startsWith(`${repo}:`))
      .map((ref) => ({ tag: ref.slice(repo.length + 1), id: image.Id, created: image.Created, labels: image.Labels ?? {} })),
  );
}

/** Changes a created container's resources or restart policy (`docker update`). */
export async function updateContainer(docker: Docker, id: string, update: { RestartPolicy?: { Name: string; MaximumRetryCount?: number } }): Promise<void> {
  await docker.getContainer(id).update(update);
}
