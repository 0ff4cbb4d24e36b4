import { createHash } from 'node:crypto';
import { access, constants, mkdir, readdir, readFile, readlink, rename, rm, symlink } from 'node:fs/promises';
import path from 'node:path';
import { BUNDLE_FILES, checkVersionName, writeBundleDir } from '@mlpl/shared';
import type { Logger } from '@mlpl/shared';
import { DeployError, passGate } from './health-gate.js';
import type { ReleaseTarget } from './release-target.js';

export type ProcessTargetOptions = {
  /** Versioned model folders: `<modelsRoot>/<version>/` and the link `current`. */
  modelsRoot: string;
  /** The running webapp process, without a trailing slash. */
  webappUrl: string;
  /** The webapp's MODEL_SWAP_TOKEN. */
  swapToken: string;
  probeImage: Buffer;
  /** The webapp's PROBE_TOKEN, sent with the gate's probe so it is not recorded (health-gate.ts). */
  probeToken?: string | undefined;
  healthTimeoutMs: number;
  logger: Pick<Logger, 'info' | 'warn'>;
};

/** The link the webapp's MODEL_DIR names, so a restarted webapp serves the version in service. */
export const CURRENT_LINK = 'current';
/** Builds are written beside their final place and renamed into it: a folder is whole or absent. */
const BUILDING = '.building-';

async function exists(file: string): Promise<boolean> {
  return access(file).then(() => true, () => false);
}

/**
 * Versions as model folders, deployed into the running webapp process (the local stack where
 * no Docker engine runs). The webapp loads the folder, runs the model once, and swaps it in
 * with one assignment: the old model answers until then, so a rollout loses no request. Then
 * the same health gate as for a container must pass; if it does not, the previous version is
 * swapped back.
 */
export function processTarget(options: ProcessTargetOptions): ReleaseTarget {
  const modelsRoot = path.resolve(options.modelsRoot);
  const { webappUrl } = options;
  const folderOf = (version: string) => path.join(modelsRoot, version);

  async function swap(version: string): Promise<void> {
    let response: Response;
    try {
      response = await fetch(`${webappUrl}/internal/model`, {
        method: 'POST',
        headers: { authorization: `Bearer ${options.swapToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ version }),
        signal: AbortSignal.timeout(options.healthTimeoutMs),
      });
    } catch (error) {
      throw new DeployError(`the webapp at ${webappUrl} could not be asked to load ${version}: ${(error as Error).message}`);
    }
    const answer = (await response.json().catch(() => ({}))) as { error?: { message?: string } };
    if (!response.ok) throw new DeployError(`the webapp refused to load ${version}: ${response.status} ${answer.error?.message ?? ''}`.trim());
  }

  async function serving(): Promise<string | undefined> {
    const response = await fetch(`${webappUrl}/api/model`, { signal: AbortSignal.timeout(2000) }).catch(() => undefined);
    if (response?.ok !== true) return undefined;
    const version = ((await response.json()) as { version?: unknown }).version;
    return typeof version === 'string' ? version : undefined;
  }

  async function webappAnswers(): Promise<void> {
    const response = await fetch(`${webappUrl}/healthz`, { signal: AbortSignal.timeout(2000) });
    if (!response.ok) throw new Error(`${webappUrl}/healthz answered ${response.status}`);
  }

  const gate = (version: string | null) => passGate({ url: webappUrl, probeImage: options.probeImage, probeToken: options.probeToken, version, timeoutMs: options.healthTimeoutMs });

  return {
    kind: 'process',
    async build(files, version) {
      if (version === CURRENT_LINK) throw new Error(`"${CURRENT_LINK}" names the link to the version in service; it cannot be a version`);
      const started = `${BUILDING}${version}-${process.pid}-${Date.now()}`;
      const staging = path.join(modelsRoot, started);
      await mkdir(modelsRoot, { recursive: true });
      try {
        await writeBundleDir(staging, files);
        await rm(folderOf(version), { recursive: true, force: true });
        await rename(staging, folderOf(version));
      } finally {
        await rm(staging, { recursive: true, force: true });
      }
      const hash = createHash('sha256');
      for (const part of [files.modelJson, files.weightsBin, files.metadataJson]) hash.update(createHash('sha256').update(part).digest());
      const digest = `sha256:${hash.digest('hex')}`;
      return {
        image: folderOf(version),
        imageId: digest,
        digest,
        baseImage: `webapp process at ${webappUrl}`,
        addedBytes: files.modelJson.length + files.weightsBin.length + files.metadataJson.length,
      };
    },
    imageOf: folderOf,
    exists: (image) => exists(path.join(image, BUNDLE_FILES.metadataJson)),
    async deploy(image, version) {
      if (path.resolve(image) !== folderOf(version)) throw new DeployError(`${image} is not the folder of version ${version} under ${modelsRoot}`);
      // Asked before the swap: a swap whose answer is lost (a timeout) may still have happened.
      const previousVersion = (await serving()) ?? null;
      try {
        await swap(version);
        await gate(version);
      } catch (error) {
        const now = await serving();
        if (previousVersion !== null && now !== previousVersion) {
          options.logger.warn({ err: error, version, previousVersion, serving: now }, 'the new model failed; swapping the previous one back');
          try {
            await swap(previousVersion);
            await gate(previousVersion);
          } catch (restoreError) {
            throw new DeployError(`${(error as Error).message}; and restoring ${previousVersion} failed too: ${(restoreError as Error).message}`);
          }
        }
        throw error;
      }
      return { containerId: `process ${webappUrl}`, previousVersion, gapMs: 0 };
    },
    async latestVersion() {
      const target = await readlink(path.join(modelsRoot, CURRENT_LINK)).catch(() => undefined);
      return target === undefined ? null : path.basename(target);
    },
    async markLatest(_image, version) {
      // A new link renamed over the old one: `current` always names a whole folder.
      const temporary = path.join(modelsRoot, `${BUILDING}link-${process.pid}-${Date.now()}`);
      await symlink(version, temporary);
      await rename(temporary, path.join(modelsRoot, CURRENT_LINK));
    },
    async adoptBase(record, known) {
      const current = path.join(modelsRoot, CURRENT_LINK);
      const metadata = await readFile(path.join(current, BUNDLE_FILES.metadataJson), 'utf8').catch(() => undefined);
      if (metadata === undefined) return undefined;
      const version = (JSON.parse(metadata) as { version?: unknown }).version;
      if (typeof version !== 'string') return undefined;
      const problem = checkVersionName(version);
      if (problem !== null) throw new Error(`the model in ${current} says its version is ${JSON.stringify(version)}, which is no version (${problem}); not adopted`);
      if (await known(version)) return undefined;
      const image = folderOf(path.basename(await readlink(current)));
      await record({ version, image, imageId: `folder ${image}` });
      return version;
    },
    async recover() {
      const leftovers = (await readdir(modelsRoot).catch(() => [] as string[])).filter((name) => name.startsWith(BUILDING));
      for (const name of leftovers) await rm(path.join(modelsRoot, name), { recursive: true, force: true });
      return leftovers.map((name) => `removed ${name}`);
    },
    serving,
    reachable: webappAnswers,
    checks: {
      webapp: webappAnswers,
      modelsRoot: () => access(modelsRoot, constants.W_OK),
    },
  };
}
