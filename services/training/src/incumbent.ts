import {
  BUNDLE_FILES,
  bundleMismatch,
  disposeModel,
  errorMessage,
  findBundleHashes,
  getObjectBytes,
  listPromotedVersions,
  loadModelBundle,
  PREPROCESSING_VERSION,
  readBundleDir,
  servingVersion,
} from '@mlpl/shared';
import type { Logger, ModelBundleFiles, Pool, Storage } from '@mlpl/shared';
import type { Incumbent } from './cycle.js';

export type IncumbentSource = {
  /** The model in service, loaded once per version; the source owns it (callers never dispose it). */
  current(): Promise<Incumbent>;
  /** Frees the model held. */
  dispose(): void;
};

export type IncumbentDeps = {
  pool: Pool;
  storage: Storage;
  pretrainedDir: string;
  logger: Pick<Logger, 'info' | 'warn' | 'error'>;
};

/** The run that made a version (`v<run>-<time>`), or null for another name (the pretrained model's). */
function runOf(version: string): number | null {
  const match = /^v(\d+)-/.exec(version);
  return match === null ? null : Number(match[1]);
}

/** Promoted versions tried, newest first, when the version in service does not load. */
const VERSIONS_TRIED = 5;
const PRETRAINED = 'pretrained';

export async function readStoredBundle(storage: Storage, version: string): Promise<ModelBundleFiles> {
  const bucket = storage.settings.modelsBucket;
  return {
    modelJson: await getObjectBytes(storage, bucket, `${version}/${BUNDLE_FILES.modelJson}`),
    weightsBin: await getObjectBytes(storage, bucket, `${version}/${BUNDLE_FILES.weightsBin}`),
    metadataJson: await getObjectBytes(storage, bucket, `${version}/${BUNDLE_FILES.metadataJson}`),
  };
}

/**
 * A version's bundle from the models bucket, each file checked against the SHA-256 training
 * recorded when it promoted the version: files changed since (or replaced by anyone who can
 * write to the bucket) are refused, never loaded. A version stored before hashes were recorded
 * has none to check against: it loads, with a warning, so an upgrade does not drop the model in
 * service; the first version promoted after it is checked.
 */
export async function readVerifiedBundle(deps: Pick<IncumbentDeps, 'pool' | 'storage' | 'logger'>, version: string): Promise<ModelBundleFiles> {
  const files = await readStoredBundle(deps.storage, version);
  const recorded = await findBundleHashes(deps.pool, version);
  if (recorded === undefined) {
    deps.logger.warn({ version }, 'no SHA-256 is recorded for this version (stored before training recorded them); loaded unverified');
    return files;
  }
  const mismatch = bundleMismatch(version, recorded, files);
  if (mismatch !== null) {
    deps.logger.error({ version, mismatch }, 'a stored bundle is not the one training recorded; refused');
    throw new Error(`refused: ${mismatch}`);
  }
  return files;
}

/**
 * The model in service, as the deployments record it (the newest version deployed, a rollback
 * included), or the pretrained model before any deployment (the first webapp serves it).
 * Asked before each cycle, it reloads only when that changes, and frees the old model. When
 * the version in service cannot be loaded (its files gone or broken, or the pretrained model
 * of another release), the newest promoted version that loads is used instead, then the
 * pretrained model, and the incumbent's `note` says so (and why each version passed over was):
 * the run records it. A stored bundle whose files are not the ones training recorded does not
 * load (see readVerifiedBundle).
 */
export function createIncumbentSource(deps: IncumbentDeps): IncumbentSource {
  /** What is held, and where it came from: a version in the models bucket, or the pretrained folder. */
  let held: { from: string; incumbent: Incumbent } | undefined;
  let pretrainedVersion: string | undefined;

  async function readPretrained(): Promise<ModelBundleFiles> {
    const files = await readBundleDir(deps.pretrainedDir);
    pretrainedVersion = (JSON.parse(files.metadataJson.toString()) as { version?: string }).version;
    return files;
  }

  async function load(from: string): Promise<Incumbent> {
    if (held?.from === from) return held.incumbent;
    const files = from === PRETRAINED ? await readPretrained() : await readVerifiedBundle(deps, from);
    return loadModelBundle(files, PREPROCESSING_VERSION);
  }

  /** Where a version's bundle is: the pretrained folder for the pretrained version, else the bucket. */
  async function locate(version: string): Promise<string> {
    if (pretrainedVersion === undefined) await readPretrained().catch(() => undefined);
    return version === pretrainedVersion ? PRETRAINED : version;
  }

  async function loadServing(): Promise<{ from: string; incumbent: Incumbent; serving: string | null; note: string | null }> {
    const serving = await servingVersion(deps.pool);
    if (serving === null) return { from: PRETRAINED, incumbent: await load(PRETRAINED), serving, note: null };
    let problem: string;
    try {
      const from = await locate(serving);
      const incumbent = await load(from);
      if (incumbent.metadata.version === serving) return { from, incumbent, serving, note: null };
      problem = `its bundle says it is ${incumbent.metadata.version}`;
      if (incumbent !== held?.incumbent) disposeModel(incumbent.model);
    } catch (error) {
      problem = errorMessage(error);
    }
    deps.logger.warn({ version: serving, problem }, 'the version in service could not be loaded; using the newest older one that loads');
    const passedOver: string[] = [];
    const noteFor = (used: string) =>
      `${serving}, in service, could not be loaded (${problem}); ${passedOver.length === 0 ? '' : `passed over ${passedOver.join('; ')}; `}started from and judged against ${used}`;
    // Only versions promoted before the one in service: a newer one is what a rollback took out
    // of service, and starting from it would undo the rollback. (The pretrained model, whose
    // name has no run number, comes before every promoted version.)
    const servingRun = runOf(serving);
    const older = (await listPromotedVersions(deps.pool, VERSIONS_TRIED + 50)).filter((version) => servingRun !== null && (runOf(version) ?? Infinity) < servingRun);
    for (const version of older.slice(0, VERSIONS_TRIED)) {
      try {
        return { from: version, incumbent: await load(version), serving, note: noteFor(version) };
      } catch (error) {
        deps.logger.warn({ err: error, version }, 'a promoted model could not be loaded from storage; trying an older one');
        passedOver.push(`${version} (${errorMessage(error)})`);
      }
    }
    const incumbent = await load(PRETRAINED);
    return { from: PRETRAINED, incumbent, serving, note: noteFor(`the pretrained ${incumbent.metadata.version}`) };
  }

  return {
    async current() {
      const next = await loadServing();
      if (next.incumbent !== held?.incumbent) {
        if (held !== undefined) disposeModel(held.incumbent.model);
        held = { from: next.from, incumbent: next.incumbent };
        deps.logger.info({ version: next.incumbent.metadata.version, from: next.from, serving: next.serving }, 'model in service loaded');
      }
      return { ...next.incumbent, serving: next.serving, note: next.note };
    },
    dispose() {
      if (held !== undefined) disposeModel(held.incumbent.model);
      held = undefined;
    },
  };
}
