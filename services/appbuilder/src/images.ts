import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BUNDLE_FILES, checkVersionName } from '@mlpl/shared';
import type { ModelBundleFiles } from '@mlpl/shared';
import { buildImage, inspectImage, listRepoTags, pushImage, removeImage, tagImage } from './docker.js';
import type { Docker } from './docker.js';

/** Labels every model image carries. */
export const LABELS = { version: 'mlpl.model-version', base: 'mlpl.base-image' } as const;

/** Where the webapp image keeps its model (its Dockerfile's MODEL_DIR). */
export const MODEL_DIR_IN_IMAGE = '/app/model';

/**
 * The whole Dockerfile of a model image: the webapp's code is fixed in the base image; a
 * build adds only the three model files, one small layer. The files are data, never code.
 */
export const MODEL_DOCKERFILE = `ARG BASE_IMAGE
FROM \${BASE_IMAGE}
COPY ${BUNDLE_FILES.modelJson} ${BUNDLE_FILES.weightsBin} ${BUNDLE_FILES.metadataJson} ${MODEL_DIR_IN_IMAGE}/
`;

export type BuiltImage = {
  /** `<repo>:<version>`. */
  image: string;
  imageId: string;
  /** The registry's digest when pushed, else the image id. */
  digest: string;
  baseImage: string;
  /** Bytes the image adds to its base: the model layer. */
  addedBytes: number;
};

/**
 * The image model images are built FROM: an explicit one, or the base recorded on
 * `<repo>:latest` (a model image) or `<repo>:latest` itself (the first image, built by compose).
 * Building every version on the same base keeps each one a single layer above it.
 */
export async function resolveBaseImage(docker: Docker, repo: string, explicit?: string): Promise<string> {
  const ref = explicit ?? `${repo}:latest`;
  const image = await inspectImage(docker, ref);
  if (image === undefined) throw new Error(`base image ${ref} not found: build the webapp image first (docker compose build webapp)`);
  return explicit === undefined ? (image.Config.Labels?.[LABELS.base] ?? image.Id) : image.Id;
}

/**
 * Builds `<repo>:<version>` from the bundle on `baseImage`, labelled with the version and the
 * base, and (when `push`) pushes it. Tags `latest` only when asked: the deployment does that
 * once the new container is serving. The temporary build folder is removed on every path.
 */
export async function buildModelImage(
  docker: Docker,
  options: { files: ModelBundleFiles; version: string; repo: string; baseImage: string; push: boolean },
): Promise<BuiltImage> {
  const dir = await mkdtemp(path.join(tmpdir(), 'mlpl-model-image-'));
  try {
    await writeFile(path.join(dir, 'Dockerfile'), MODEL_DOCKERFILE);
    await writeFile(path.join(dir, BUNDLE_FILES.modelJson), options.files.modelJson);
    await writeFile(path.join(dir, BUNDLE_FILES.weightsBin), options.files.weightsBin);
    await writeFile(path.join(dir, BUNDLE_FILES.metadataJson), options.files.metadataJson);
    const image = `${options.repo}:${options.version}`;
    const imageId = await buildImage(docker, {
      context: dir,
      src: ['Dockerfile', ...Object.values(BUNDLE_FILES)],
      tag: image,
      buildargs: { BASE_IMAGE: options.baseImage },
      labels: { [LABELS.version]: options.version, [LABELS.base]: options.baseImage },
    });
    const [built, base] = await Promise.all([inspectImage(docker, imageId), inspectImage(docker, options.baseImage)]);
    const addedBytes = (built?.Size ?? 0) - (base?.Size ?? 0);
    let digest = imageId;
    if (options.push) {
      try {
        digest = (await pushImage(docker, options.repo, options.version)) ?? imageId;
      } catch (error) {
        // No tag may outlive a failed build: the version could never be built again.
        await removeImage(docker, image).catch(() => undefined);
        throw error;
      }
    }
    return { image, imageId, digest, baseImage: options.baseImage, addedBytes };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Points `<repo>:latest` at `image`, so a `docker compose up` starts the model in service. */
export async function tagLatest(docker: Docker, image: string, repo: string, push: boolean): Promise<void> {
  await tagImage(docker, image, repo, 'latest');
  if (push) await pushImage(docker, repo, 'latest');
}

/**
 * Makes the image compose built (the pretrained model) a version like any other: tagged
 * `<repo>:<its version>` and recorded as a build, so a rollback can return to it. Its version
 * is the `mlpl.model-version` label the webapp Dockerfile sets, checked as any version is: a
 * label that is no version (a reserved name such as `latest`, a path) would become a tag, so the
 * image is not adopted and this rejects saying why. Returns the version adopted, or undefined
 * when there is nothing to adopt.
 */
export async function adoptBaseImage(
  docker: Docker,
  repo: string,
  record: (build: { version: string; image: string; imageId: string }) => Promise<void>,
  known: (version: string) => Promise<boolean>,
): Promise<string | undefined> {
  const latest = await inspectImage(docker, `${repo}:latest`);
  const version = latest?.Config.Labels?.[LABELS.version];
  if (latest === undefined || version === undefined || latest.Config.Labels?.[LABELS.base] !== undefined) return undefined;
  const problem = checkVersionName(version);
  if (problem !== null) throw new Error(`${repo}:latest is labelled ${LABELS.version}=${JSON.stringify(version)}, which is no version (${problem}); not adopted`);
  if (await known(version)) return undefined;
  await tagImage(docker, latest.Id, repo, version);
  await record({ version, image: `${repo}:${version}`, imageId: latest.Id });
  return version;
}

type RepoTag = { tag: string; id: string; created: number; labels: Record<string, string> };

/** What pruning keeps whatever its age: the serving version and the one that served before it. */
export type PruneOptions = { keep: number; serving: string | undefined; previous?: string | null | undefined };

/**
 * The tags of old versions beyond the newest `keep` (by build time, the serving one counted),
 * newest first. Never among them: `latest`, the serving version, the version that served just
 * before it (the first rollback a bad release needs, however old it is: it may itself have been
 * rolled back to), an image any of them is (the same id), and the base images the model images
 * are built on (the pretrained one).
 */
export function toPrune(tags: RepoTag[], options: PruneOptions): string[] {
  const kept = new Set(['latest', options.serving, options.previous ?? undefined].filter((tag) => tag !== undefined));
  const protectedIds = new Set(tags.filter((t) => kept.has(t.tag)).map((t) => t.id));
  const bases = new Set(tags.map((t) => t.labels[LABELS.base]).filter((base) => base !== undefined));
  return tags
    .filter((t) => t.tag !== 'latest')
    .sort((a, b) => b.created - a.created || b.tag.localeCompare(a.tag))
    .filter((t, index) => index >= options.keep && !kept.has(t.tag) && !protectedIds.has(t.id) && !bases.has(t.id))
    .map((t) => t.tag);
}

/**
 * Removes the images of old versions beyond the retention (see toPrune), so the images kept for
 * rollback do not fill the disk. A tag Docker will not remove (a container still uses it) is
 * skipped until the next deployment. Only the local engine's tags: a registry keeps what was
 * pushed. Returns the references removed.
 */
export async function pruneVersionImages(docker: Docker, repo: string, options: PruneOptions): Promise<string[]> {
  const removed: string[] = [];
  for (const tag of toPrune(await listRepoTags(docker, repo), options)) {
    try {
      await removeImage(docker, `${repo}:${tag}`);
      removed.push(`${repo}:${tag}`);
    } catch {
      // In use by a container; kept for now.
    }
  }
  return removed;
}
