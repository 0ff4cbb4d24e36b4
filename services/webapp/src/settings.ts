import { isIP } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { EnvReader, readDatabaseSettings, readLogLevel, readStorageSettings, readTrainingThreshold } from '@mlpl/shared';
import type { DatabaseSettings, Env, LogLevel, StorageSettings } from '@mlpl/shared';

export type WebappSettings = {
  host: string;
  port: number;
  modelDir: string;
  maxUploadBytes: number;
  maxImagePixels: number;
  maxConcurrentDecodes: number;
  /** Uploads that may wait for a decoder; more are answered 503 with Retry-After. */
  maxQueuedDecodes: number;
  /** Connections held at once; more are closed as they are accepted (see http-server.ts). */
  maxConnections: number;
  /** Per client and minute (token buckets, see rate-limit.ts); 0: no limit. */
  rateLimits: RateLimits;
  /** Which proxies' X-Forwarded-For tells the client's address (express's `trust proxy`); false: none, the peer is the client. */
  trustProxy: TrustProxy;
  tfjsBackend: 'auto' | 'tensorflow' | 'wasm' | 'cpu';
  /**
   * The process deploy target (local stack without Docker): the appbuilder writes versioned
   * model folders under `modelsRoot` and asks for a swap with `token`. Undefined: the model is
   * fixed (a Docker image), and no swap route exists.
   */
  modelSwap: { modelsRoot: string; token: string } | undefined;
  /** Bearer token for the registry's actions (rollback); undefined: every such action is refused. */
  adminToken: string | undefined;
  /**
   * The appbuilder's PROBE_TOKEN: a prediction whose `x-mlpl-probe` header carries it is a
   * health-gate probe, answered but not recorded. Undefined: the header is ignored.
   */
  probeToken: string | undefined;
  /** The appbuilder a rollback is sent to (with the admin's own token, which it also accepts). */
  appbuilderUrl: string;
  /**
   * The training service's TRAINING_THRESHOLD (same name, same default): unused feedback images
   * that start a training run. The webapp only reports progress towards it after a feedback.
   */
  trainingThreshold: number;
  logLevel: LogLevel;
  database: DatabaseSettings;
  storage: StorageSettings;
};

export type RateLimits = { predictPerMinute: number; feedbackPerMinute: number };

/** A hop count (1: the one proxy in front, compose's nginx), or the proxies' addresses, CIDR ranges or express's names for ranges. */
export type TrustProxy = false | number | readonly string[];

const PROXY_RANGE_NAMES = ['loopback', 'linklocal', 'uniquelocal'];

function isProxyAddress(entry: string): boolean {
  if (PROXY_RANGE_NAMES.includes(entry)) return true;
  const [address = '', prefix, ...rest] = entry.split('/');
  const version = isIP(address);
  if (version === 0 || rest.length > 0) return false;
  return prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (version === 4 ? 32 : 128));
}

/**
 * TRUST_PROXY: unset or false, the connection's peer is the client; a number n, the address
 * the n-th proxy counted from the webapp saw (1: the last X-Forwarded-For entry, the one
 * compose's nginx appends: entries a client wrote itself are to its left, never used); or the
 * proxies by address. `true` (trust every entry, the first one a client may write) is refused.
 */
function readTrustProxy(reader: EnvReader): TrustProxy {
  const raw = reader.optionalString('TRUST_PROXY');
  const lower = raw?.toLowerCase();
  if (raw === undefined || lower === 'false' || lower === '0') return false;
  if (/^\d+$/.test(raw)) {
    if (Number(raw) > 10) reader.problem(`TRUST_PROXY must be between 0 and 10 proxies, got ${raw}`);
    return Number(raw);
  }
  if (lower === 'true') {
    reader.problem('TRUST_PROXY=true would take the client\'s address from what the client itself writes in X-Forwarded-For; give the number of proxies in front (1 behind compose\'s nginx) or their addresses');
    return false;
  }
  const entries = raw.split(',').map((entry) => entry.trim());
  const wrong = entries.filter((entry) => !isProxyAddress(entry));
  if (wrong.length > 0) reader.problem(`TRUST_PROXY must be a number of proxies or a list of addresses, CIDR ranges or ${PROXY_RANGE_NAMES.join(', ')}; not ${wrong.map((entry) => `"${entry}"`).join(', ')}`);
  return entries;
}

/** libuv's thread pool: decoding more at once only queues inside sharp, holding more memory. */
export const DEFAULT_MAX_CONCURRENT_DECODES = 4;
/**
 * Each waiting upload holds its bytes (up to MAX_UPLOAD_BYTES, 5 MiB): 32 hold at most 160 MiB.
 * A canvas digit decodes in milliseconds, so 32 waiting is a fraction of a second of work; a
 * flood of large photos is refused instead of piling up.
 */
export const DEFAULT_MAX_QUEUED_DECODES = 32;

/** The repository's pretrained model: `services/webapp/dist/settings.js` → `pretrained/`. */
export const DEFAULT_MODEL_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../pretrained');

export function loadWebappSettings(env: Env): WebappSettings {
  const reader = new EnvReader(env);
  const settings: WebappSettings = {
    host: reader.string('HOST', '0.0.0.0'),
    port: reader.port('PORT', 5050),
    modelDir: reader.string('MODEL_DIR', DEFAULT_MODEL_DIR),
    // 5 MiB holds any honest photo of a digit; the canvas sends a few KiB.
    maxUploadBytes: reader.int('MAX_UPLOAD_BYTES', { default: 5 * 1024 * 1024, min: 1024, max: 64 * 1024 * 1024 }),
    // 25 MP bounds the memory one decode may take (about 100 MB as RGBA).
    maxImagePixels: reader.int('MAX_IMAGE_PIXELS', { default: 25_000_000, min: 784, max: 268_402_689 }),
    maxConcurrentDecodes: reader.int('MAX_CONCURRENT_DECODES', { default: DEFAULT_MAX_CONCURRENT_DECODES, min: 1, max: 64 }),
    maxQueuedDecodes: reader.int('MAX_QUEUED_DECODES', { default: DEFAULT_MAX_QUEUED_DECODES, min: 0, max: 10_000 }),
    // Each connection may hold an upload being received (up to MAX_UPLOAD_BYTES): 128 bound
    // that to 640 MiB at the default. The proxy opens one per request, each done in milliseconds.
    maxConnections: reader.int('MAX_CONNECTIONS', { default: 128, min: 1, max: 65_536 }),
    // A person drawing predicts a few times a minute (the page asks after each pause in a
    // stroke) and corrects fewer; these leave room for a classroom behind one address.
    rateLimits: {
      predictPerMinute: reader.int('RATE_LIMIT_PREDICT_PER_MINUTE', { default: 600, min: 0, max: 1_000_000 }),
      feedbackPerMinute: reader.int('RATE_LIMIT_FEEDBACK_PER_MINUTE', { default: 60, min: 0, max: 1_000_000 }),
    },
    trustProxy: readTrustProxy(reader),
    tfjsBackend: reader.oneOf('TFJS_BACKEND', ['auto', 'tensorflow', 'wasm', 'cpu'], 'auto'),
    modelSwap: undefined,
    adminToken: reader.optionalSecret('ADMIN_TOKEN'),
    probeToken: reader.optionalSecret('PROBE_TOKEN'),
    appbuilderUrl: reader.string('APPBUILDER_URL', 'http://appbuilder:5000'),
    trainingThreshold: readTrainingThreshold(reader),
    logLevel: readLogLevel(reader),
    database: readDatabaseSettings(reader),
    storage: readStorageSettings(reader),
  };
  if (!/^https?:\/\/[^/]+\/?$/.test(settings.appbuilderUrl)) reader.problem(`APPBUILDER_URL must be http(s)://host[:port], got "${settings.appbuilderUrl}"`);
  const swapToken = reader.optionalSecret('MODEL_SWAP_TOKEN');
  const modelsRoot = reader.optionalString('MODELS_ROOT');
  if (swapToken !== undefined) {
    if (modelsRoot === undefined) reader.problem('MODELS_ROOT is required when MODEL_SWAP_TOKEN is set');
    else settings.modelSwap = { modelsRoot: path.resolve(modelsRoot), token: swapToken };
  } else if (modelsRoot !== undefined) {
    reader.problem('MODELS_ROOT is set but MODEL_SWAP_TOKEN is not: set both to allow model swaps, or neither');
  }
  reader.done();
  return settings;
}
