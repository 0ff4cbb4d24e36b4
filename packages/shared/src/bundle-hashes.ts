import { createHash } from 'node:crypto';
import { BUNDLE_FILES } from './model-bundle.js';
import type { ModelBundleFiles } from './model-bundle.js';

/**
 * The SHA-256 (hex) of each file of a bundle, as training records them when a run promotes it:
 * what the bytes in the models bucket and the bytes POSTed to the appbuilder must still be.
 */
export type BundleHashes = Readonly<Record<keyof ModelBundleFiles, string>>;

export function bundleHashes(files: ModelBundleFiles): BundleHashes {
  const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
  return { modelJson: sha256(files.modelJson), weightsBin: sha256(files.weightsBin), metadataJson: sha256(files.metadataJson) };
}

/**
 * What differs between the bundle and the hashes recorded of its version, in a sentence, or
 * null when every file is the one recorded. `recorded` undefined: nothing was recorded.
 */
export function bundleMismatch(version: string, recorded: BundleHashes | undefined, files: ModelBundleFiles): string | null {
  if (recorded === undefined) return `no SHA-256 is recorded for version ${version}: no training run promoted it`;
  const actual = bundleHashes(files);
  const differing = (Object.keys(BUNDLE_FILES) as (keyof ModelBundleFiles)[]).filter((part) => actual[part] !== recorded[part]);
  if (differing.length === 0) return null;
  const named = differing.map((part) => `${BUNDLE_FILES[part]} (sha256 ${actual[part].slice(0, 12)}…, recorded ${recorded[part].slice(0, 12)}…)`);
  return `${named.join(', ')} of version ${version} ${differing.length === 1 ? 'is not the file' : 'are not the files'} training recorded`;
}
