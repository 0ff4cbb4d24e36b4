import { BUNDLE_FILES, disposeModel, getObjectBytes, listPromotedVersions, loadModelBundle, PREPROCESSING_VERSION, readBundleDir } from '@mlpl/shared';
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
  logger: Pick<Logger, 'info' | 'warn'>;
};

/** Promoted versions tried, newest first, before falling back to the pretrained model. */
const VERSIONS_TRIED = 5;

export async function readStoredBundle(storage: Storage, version: string): Promise<ModelBundleFiles> {
  const bucket = storage.settings.modelsBucket;
  return {
    modelJson: await getObjectBytes(storage, bucket, `${version}/${BUNDLE_FILES.modelJson}`),
    weightsBin: await getObjectBytes(storage, bucket, `${version}/${BUNDLE_FILES.weightsBin}`),
    metadataJson: await getObjectBytes(storage, bucket, `${version}/${BUNDLE_FILES.metadataJson}`),
  };
}

/**
 * The model in service is the newest promoted version (its bundle in the models bucket), or
 * the pretrained model before any promotion. Asked before each cycle, it reloads only when the
 * newest version changed (a promotion here or by another replica), and frees the old model.
 * A promoted version whose files are gone or broken is skipped with a warning, so one lost
 * object cannot stop training for good.
 */
export function createIncumbentSource(deps: IncumbentDeps): IncumbentSource {
  /** What is held, and where it came from: a promoted version, or the pretrained folder. */
  let held: { from: string; incumbent: Incumbent } | undefined;
  const PRETRAINED = 'pretrained';

  async function load(from: string): Promise<Incumbent> {
    if (held?.from === from) return held.incumbent;
    const files = from === PRETRAINED ? await readBundleDir(deps.pretrainedDir) : await readStoredBundle(deps.storage, from);
    return loadModelBundle(files, PREPROCESSING_VERSION);
  }

  async function loadNewest(): Promise<{ from: string; incumbent: Incumbent }> {
    for (const version of await listPromotedVersions(deps.pool, VERSIONS_TRIED)) {
      try {
        return { from: version, incumbent: await load(version) };
      } catch (error) {
        deps.logger.warn({ err: error, version }, 'a promoted model could not be loaded from storage; trying an older one');
      }
    }
    return { from: PRETRAINED, incumbent: await load(PRETRAINED) };
  }

  return {
    async current() {
      const next = await loadNewest();
      if (next.incumbent !== held?.incumbent) {
        if (held !== undefined) disposeModel(held.incumbent.model);
        held = next;
        deps.logger.info({ version: next.incumbent.metadata.version, from: next.from }, 'model in service loaded');
      }
      return next.incumbent;
    },
    dispose() {
      if (held !== undefined) disposeModel(held.incumbent.model);
      held = undefined;
    },
  };
}
