import { readFileSync } from 'node:fs';

/**
 * Settings come from the environment and are validated once, at start-up. An `EnvReader`
 * collects every problem instead of stopping at the first, so a misconfigured service says
 * everything that is wrong in one message.
 *
 * Every setting may also be given as a file, Docker's secrets convention: `NAME_FILE=/run/secrets/x`
 * when `NAME` is unset; the file's content is the value (trailing whitespace dropped).
 */
export type Env = Readonly<Record<string, string | undefined>>;

export class SettingsError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid settings (${problems.length}):\n  - ${problems.join('\n  - ')}`);
    this.name = 'SettingsError';
  }
}

type IntOptions = { default?: number; min?: number; max?: number };

/** Secrets guard the database, the buckets, builds and rollbacks: long enough not to be guessed. */
export const MIN_SECRET_LENGTH = 16;

/**
 * Values from examples and templates that must never reach a running service: anything that
 * starts like `change-me`, and the obvious words (with digits or dashes after them).
 */
const PLACEHOLDER = /^(change[-_ ]?me|replace[-_ ]?me|(password|passwd|secret|token|admin|default|example|test)[-_0-9]*$)/i;

export function isPlaceholder(value: string): boolean {
  return PLACEHOLDER.test(value);
}

export class EnvReader {
  readonly #env: Env;
  readonly #problems: string[] = [];
  /** Values read from `NAME_FILE`, by NAME: each file is read (and its problem reported) once. */
  readonly #fromFiles = new Map<string, string | undefined>();
  /** Names whose `NAME_FILE` was already reported as wrong: no second "is required" for them. */
  readonly #failed = new Set<string>();

  constructor(env: Env) {
    this.#env = env;
  }

  #fromEnv(name: string): string | undefined {
    const value = this.#env[name];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  }

  /**
   * A value that is set but blank counts as unset, as compose passes `X=` for empty lines.
   * Unset, it may come from the file `NAME_FILE` names.
   */
  #raw(name: string): string | undefined {
    const value = this.#fromEnv(name);
    const file = this.#fromEnv(`${name}_FILE`);
    if (file === undefined) return value;
    if (this.#fromFiles.has(name)) return this.#fromFiles.get(name);
    let read: string | undefined;
    if (value !== undefined) {
      this.#fail(name, `set ${name} or ${name}_FILE, not both`);
      read = value;
    } else {
      try {
        read = readFileSync(file, 'utf8').trimEnd();
        if (read === '') {
          this.#fail(name, `${name}_FILE names ${file}, which is empty`);
          read = undefined;
        }
      } catch (error) {
        const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
        this.#fail(name, `${name}_FILE names ${file}, which cannot be read (${reason})`);
      }
    }
    this.#fromFiles.set(name, read);
    return read;
  }

  #fail(name: string, problem: string): void {
    this.#failed.add(name);
    this.#problems.push(problem);
  }

  string(name: string, fallback?: string): string {
    const value = this.#raw(name) ?? fallback;
    if (value === undefined) {
      if (!this.#failed.has(name)) this.#problems.push(`${name} is required`);
      return '';
    }
    return value;
  }

  optionalString(name: string): string | undefined {
    return this.#raw(name);
  }

  int(name: string, options: IntOptions = {}): number {
    const raw = this.#raw(name);
    if (raw === undefined) {
      if (options.default === undefined && !this.#failed.has(name)) this.#problems.push(`${name} is required`);
      return options.default ?? 0;
    }
    if (!/^-?\d+$/.test(raw)) {
      this.#problems.push(`${name} must be a whole number, got "${raw}"`);
      return options.default ?? 0;
    }
    const value = Number(raw);
    const { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER } = options;
    if (value < min || value > max) {
      this.#problems.push(`${name} must be between ${min} and ${max}, got ${value}`);
    }
    return value;
  }

  /** A decimal number (e.g. a share or a tolerance); same rules as `int` otherwise. */
  number(name: string, options: IntOptions = {}): number {
    const raw = this.#raw(name);
    if (raw === undefined) {
      if (options.default === undefined && !this.#failed.has(name)) this.#problems.push(`${name} is required`);
      return options.default ?? 0;
    }
    if (!/^-?(\d+\.?\d*|\.\d+)$/.test(raw)) {
      this.#problems.push(`${name} must be a number, got "${raw}"`);
      return options.default ?? 0;
    }
    const value = Number(raw);
    const { min, max } = options;
    if ((min !== undefined && value < min) || (max !== undefined && value > max)) {
      const bounds = min === undefined ? `at most ${max}` : max === undefined ? `at least ${min}` : `between ${min} and ${max}`;
      this.#problems.push(`${name} must be ${bounds}, got ${value}`);
    }
    return value;
  }

  /** A whole number that may be left unset (undefined), checked like `int` when set. */
  optionalInt(name: string, options: Omit<IntOptions, 'default'> = {}): number | undefined {
    return this.#raw(name) === undefined ? undefined : this.int(name, options);
  }

  port(name: string, fallback: number): number {
    return this.int(name, { default: fallback, min: 1, max: 65535 });
  }

  bool(name: string, fallback: boolean): boolean {
    const raw = this.#raw(name)?.toLowerCase();
    if (raw === undefined) return fallback;
    if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
    if (['0', 'false', 'no', 'off'].includes(raw)) return false;
    this.#problems.push(`${name} must be true or false, got "${raw}"`);
    return fallback;
  }

  oneOf<const T extends string>(name: string, choices: readonly T[], fallback: T): T {
    const raw = this.#raw(name);
    if (raw === undefined) return fallback;
    if ((choices as readonly string[]).includes(raw)) return raw as T;
    this.#problems.push(`${name} must be one of ${choices.join(', ')}, got "${raw}"`);
    return fallback;
  }

  /**
   * A password, key or bearer token: required, at least MIN_SECRET_LENGTH characters, and not
   * a placeholder left from an example.
   */
  secret(name: string): string {
    const value = this.string(name);
    if (value !== '') this.#checkSecret(name, value);
    return value;
  }

  /** A secret that may be left unset (undefined: the feature it guards is off); checked like `secret` when set. */
  optionalSecret(name: string): string | undefined {
    const value = this.#raw(name);
    if (value !== undefined) this.#checkSecret(name, value);
    return value;
  }

  #checkSecret(name: string, value: string): void {
    if (isPlaceholder(value)) {
      this.#problems.push(
        `${name} is a placeholder; set it (or ${name}_FILE) to a random value of at least ${MIN_SECRET_LENGTH} characters, e.g. the output of \`openssl rand -hex 24\``,
      );
    } else if (value.length < MIN_SECRET_LENGTH) {
      this.#problems.push(`${name} must be at least ${MIN_SECRET_LENGTH} characters`);
    }
  }

  /** Lets a caller add a problem that spans several variables. */
  problem(message: string): void {
    this.#problems.push(message);
  }

  /** Throws one SettingsError naming every problem seen so far. */
  done(): void {
    if (this.#problems.length > 0) throw new SettingsError([...this.#problems]);
  }
}

export type DatabaseSettings = {
  host: string;
  port: number;
  database: string;
  user: string;
  password: string;
};

/** How many unused feedback images start a training run: training's trigger, and the progress the webapp reports. */
export const DEFAULT_TRAINING_THRESHOLD = 10;

/** TRAINING_THRESHOLD, read the same way by training (its trigger) and the webapp (its progress line). */
export function readTrainingThreshold(env: EnvReader): number {
  return env.int('TRAINING_THRESHOLD', { default: DEFAULT_TRAINING_THRESHOLD, min: 1, max: 1_000_000 });
}

/** The service account (MYSQL_USER), never root: compose's MySQL image creates it on first start. */
export function readDatabaseSettings(env: EnvReader): DatabaseSettings {
  return {
    host: env.string('DATABASE_HOST', 'database'),
    port: env.port('DATABASE_PORT', 3306),
    database: env.string('MYSQL_DATABASE', 'mlpl'),
    user: env.string('MYSQL_USER'),
    password: env.secret('MYSQL_PASSWORD'),
  };
}

/** The variables `readDatabaseSettings` reads back as `settings`: for starting a service with them. */
export function toDatabaseEnv(settings: DatabaseSettings): Record<string, string> {
  return {
    DATABASE_HOST: settings.host,
    DATABASE_PORT: String(settings.port),
    MYSQL_DATABASE: settings.database,
    MYSQL_USER: settings.user,
    MYSQL_PASSWORD: settings.password,
  };
}

export type StorageSettings = {
  host: string;
  port: number;
  useSSL: boolean;
  accessKey: string;
  secretKey: string;
  region: string;
  imagesBucket: string;
  modelsBucket: string;
};

const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** The storage service account (STORAGE_ACCESS_KEY), not MINIO_ROOT_USER. */
export function readStorageSettings(env: EnvReader): StorageSettings {
  const settings = {
    host: env.string('STORAGE_HOST', 'storage'),
    port: env.port('STORAGE_PORT', 9000),
    useSSL: env.bool('STORAGE_USE_SSL', false),
    accessKey: env.string('STORAGE_ACCESS_KEY'),
    secretKey: env.secret('STORAGE_SECRET_KEY'),
    region: env.string('STORAGE_REGION', 'us-east-1'),
    imagesBucket: env.string('STORAGE_IMAGES_BUCKET', 'images'),
    modelsBucket: env.string('STORAGE_MODELS_BUCKET', 'models'),
  };
  for (const [name, bucket] of [
    ['STORAGE_IMAGES_BUCKET', settings.imagesBucket],
    ['STORAGE_MODELS_BUCKET', settings.modelsBucket],
  ] as const) {
    if (!BUCKET_NAME.test(bucket)) env.problem(`${name} must be a valid bucket name, got "${bucket}"`);
  }
  return settings;
}

/** The variables `readStorageSettings` reads back as `settings`: for starting a service with them. */
export function toStorageEnv(settings: StorageSettings): Record<string, string> {
  return {
    STORAGE_HOST: settings.host,
    STORAGE_PORT: String(settings.port),
    STORAGE_USE_SSL: String(settings.useSSL),
    STORAGE_ACCESS_KEY: settings.accessKey,
    STORAGE_SECRET_KEY: settings.secretKey,
    STORAGE_REGION: settings.region,
    STORAGE_IMAGES_BUCKET: settings.imagesBucket,
    STORAGE_MODELS_BUCKET: settings.modelsBucket,
  };
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function readLogLevel(env: EnvReader): LogLevel {
  return env.oneOf('LOG_LEVEL', LOG_LEVELS, 'info');
}
