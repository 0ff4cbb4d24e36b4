import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUNDLE_FILES, BundleError, disposeModel, HttpError, loadModelBundle, PREPROCESSING_VERSION } from '@mlpl/shared';
import type { BundleErrorCode, ModelBundleFiles, ModelMetadata, TfBackendPreference } from '@mlpl/shared';

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

/** What the validating process answers. */
export type ValidationReply = { ok: true; metadata: ModelMetadata } | { ok: false; bundleError: BundleErrorCode | undefined; message: string };

export type ValidationLimits = {
  /** The validating process's address space (`ulimit -v`), in MiB; Node and tfjs take about 1.1 GiB of it before any bundle. */
  memoryMb: number;
  timeoutMs: number;
  /** Its tfjs backend; 'auto' is wasm, whose memory the limit is measured with. */
  tfjsBackend: TfBackendPreference;
};

/** The settings' defaults (VALIDATION_MEMORY_MB, VALIDATION_TIMEOUT_MS): a bundle at MAX_WEIGHTS_BYTES (32 MiB) takes 1.3 GiB of address space and 1–2 s. */
export const DEFAULT_VALIDATION_LIMITS: ValidationLimits = { memoryMb: 2048, timeoutMs: 30_000, tfjsBackend: 'auto' };

/** The V8 heap of the validating process, in MiB: JSON of at most a few MiB; tensors are outside it. */
const CHILD_HEAP_MB = 256;

const CHILD_SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'validate-child.js');

/**
 * Node's trap-handler bounds checks reserve about 10 GiB of address space for each wasm memory;
 * without them (inline checks, slower by a little on one prediction) wasm fits an address-space
 * limit. The flag exists from Node 20.15 / 22.2; where it does not, no limit can be set.
 */
const CAN_LIMIT = process.allowedNodeEnvironmentFlags.has('--disable-wasm-trap-handler');

export type BundleValidator = {
  (files: ModelBundleFiles): Promise<ModelMetadata>;
  /** Why the memory is not bounded here (a Node without --disable-wasm-trap-handler); undefined when it is. */
  readonly unbounded: string | undefined;
};

/**
 * Runs `validateBundle` for each upload in a child process of its own, so that a hostile bundle
 * (a layer whose weights or activations take gigabytes, a model that computes for minutes)
 * cannot take the appbuilder down: the child runs under `ulimit -v` (address space: wasm memory,
 * ArrayBuffers and native allocations alike, which neither --max-old-space-size nor a worker's
 * resourceLimits bound) and is killed after `timeoutMs`. It gets no environment (no secrets)
 * beyond PATH. One validation at a time, so the limit is the most validating can take; a second
 * upload meanwhile is a 409, as a build in progress is. A bundle that exceeds a limit is refused
 * with 422 `validation_limit`; one tfjs cannot load, with its BundleError (422).
 */
export function createBundleValidator(limits: ValidationLimits = DEFAULT_VALIDATION_LIMITS): BundleValidator {
  let running = false;
  const backend: TfBackendPreference = limits.tfjsBackend === 'auto' ? 'wasm' : limits.tfjsBackend;
  const nodeArgs = [...(CAN_LIMIT ? ['--disable-wasm-trap-handler'] : []), `--max-old-space-size=${CHILD_HEAP_MB}`, CHILD_SCRIPT];
  // `ulimit -v` in KiB; exec keeps the one process, which the deadline kills.
  const command = CAN_LIMIT ? ['/bin/sh', ['-c', 'ulimit -v "$0" && exec "$@"', String(limits.memoryMb * 1024), process.execPath, ...nodeArgs]] as const : [process.execPath, nodeArgs] as const;
  const seconds = limits.timeoutMs / 1000;
  const tooMuch = (what: string) => new HttpError(422, 'validation_limit', `the bundle ${what}; the appbuilder loads a bundle within ${limits.memoryMb} MiB of address space (VALIDATION_MEMORY_MB) and ${seconds} s (VALIDATION_TIMEOUT_MS)`);

  function validate(files: ModelBundleFiles): Promise<ModelMetadata> {
    if (running) return Promise.reject(new HttpError(409, 'busy', 'another bundle is being validated; try again when it is done'));
    running = true;
    return new Promise<ModelMetadata>((resolve, reject) => {
      const child = spawn(command[0], [...command[1]], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, stdio: ['ignore', 'ignore', 'pipe', 'ipc'], serialization: 'advanced' });
      let stderr = '';
      child.stderr?.on('data', (chunk: Buffer) => {
        stderr = (stderr + chunk.toString()).slice(-2000);
      });
      let reply: ValidationReply | undefined;
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, limits.timeoutMs);
      child.once('message', (message: ValidationReply) => {
        reply = message;
      });
      child.once('error', (error) => {
        clearTimeout(timer);
        running = false;
        reject(new Error(`the validating process did not start: ${error.message}`));
      });
      // 'close', not 'exit': after the IPC channel has delivered the reply.
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        running = false;
        if (reply?.ok === true) resolve(reply.metadata);
        else if (reply !== undefined && reply.bundleError !== undefined) reject(new BundleError(reply.bundleError, reply.message));
        else if (reply !== undefined) reject(new Error(`validating the bundle failed: ${reply.message}`));
        else if (timedOut) reject(tooMuch(`did not load within ${seconds} s`));
        else reject(tooMuch(`ended the process that loaded it (${signal ?? `exit code ${code}`}: ${stderr.trim().split('\n').pop() ?? ''})`));
      });
      child.send({ files, backend });
    });
  }
  return Object.assign(validate, { unbounded: CAN_LIMIT ? undefined : `this Node (${process.version}) lacks --disable-wasm-trap-handler (Node 20.15 or later has it): bundles are validated without a memory limit, with the deadline only` });
}
