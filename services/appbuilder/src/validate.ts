import path from 'node:path';
import { BUNDLE_FILES, disposeModel, HttpError, loadModelBundle, PREPROCESSING_VERSION } from '@mlpl/shared';
import type { ModelBundleFiles, ModelMetadata } from '@mlpl/shared';

export type UploadLimits = { modelJsonBytes: number; weightsBytes: number; metadataBytes: number };

/** One multipart file as multer hands it over. */
export type UploadedFile = { fieldname: string; originalname: string; buffer: Buffer; size: number };

const FIELDS = Object.values(BUNDLE_FILES) as string[];

/**
 * A file name must be a plain name: no folder part, no `..`, no control characters. The files
 * become build-context entries, and a name is where a path could sneak in.
 */
function isPlainName(name: string): boolean {
  return name !== '' && path.posix.basename(name) === name && path.win32.basename(name) === name && !name.startsWith('.') && !/[\x00-\x1f]/.test(name);
}

/**
 * The three files of DESIGN.md's curl, each once, each a plain name within its size limit,
 * and nothing else. Returns them as a bundle.
 */
export function collectFiles(files: readonly UploadedFile[], limits: UploadLimits): ModelBundleFiles {
  const byField = new Map<string, UploadedFile>();
  for (const file of files) {
    if (!FIELDS.includes(file.fieldname)) throw new HttpError(400, 'unexpected_field', `unexpected field "${file.fieldname}"; send ${FIELDS.join(', ')}`);
    if (byField.has(file.fieldname)) throw new HttpError(400, 'duplicate_field', `field "${file.fieldname}" sent twice`);
    if (!isPlainName(file.originalname)) throw new HttpError(400, 'bad_file_name', `file name ${JSON.stringify(file.originalname)} of "${file.fieldname}" is not a plain name`);
    byField.set(file.fieldname, file);
  }
  const missing = FIELDS.filter((field) => !byField.has(field));
  if (missing.length > 0) throw new HttpError(400, 'missing_file', `missing file(s): ${missing.join(', ')}`);
  const limit: Record<string, number> = { [BUNDLE_FILES.modelJson]: limits.modelJsonBytes, [BUNDLE_FILES.weightsBin]: limits.weightsBytes, [BUNDLE_FILES.metadataJson]: limits.metadataBytes };
  for (const [field, file] of byField) {
    const max = limit[field] ?? 0;
    if (file.size > max) throw new HttpError(413, 'file_too_large', `${field} has ${file.size} bytes, more than the limit of ${max}`);
    if (file.size === 0) throw new HttpError(400, 'empty_file', `${field} is empty`);
  }
  const get = (field: string) => (byField.get(field) as UploadedFile).buffer;
  return { modelJson: get(BUNDLE_FILES.modelJson), weightsBin: get(BUNDLE_FILES.weightsBin), metadataJson: get(BUNDLE_FILES.metadataJson) };
}

/**
 * Checks the bundle the way the webapp will load it: the topology parses, the weights file
 * holds exactly the bytes the manifest declares, the metadata is complete and made for this
 * preprocessing, and the model maps 28×28×1 to 10 probabilities. Loading it here (and freeing
 * it at once) is what proves the webapp can serve it. A refusal is a `BundleError`, which the
 * error middleware answers 422 with its code and reason.
 */
export async function validateBundle(files: ModelBundleFiles): Promise<ModelMetadata> {
  const { model, metadata } = await loadModelBundle(files, PREPROCESSING_VERSION);
  disposeModel(model);
  return metadata;
}
