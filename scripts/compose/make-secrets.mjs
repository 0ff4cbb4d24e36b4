#!/usr/bin/env node
// Makes compose's secrets and hands each container only the ones it needs. Plain Node, no
// dependencies: it runs alone in a small `FROM node` image, as a one-shot service on every
// `docker compose up`.
//
//   make-secrets.mjs               make the missing secrets (first start), copy them out
//   make-secrets.mjs admin-token   print the admin token
//
// Layout (SECRETS_ROOT, default /secrets, one volume per folder):
//   all/<name>         every secret, made once, never replaced (a database initialised with a
//                      password must keep it); only this container mounts it
//   <consumer>/<name>  the ones that consumer needs, nothing else; mounted read-only at
//                      /run/secrets in that consumer's containers
//
// Modes: all/ is 0700 with files 0400 (root, this container only). A consumer folder is 0755
// with files 0444 rather than chowned per consumer: our services run as uid 1000 (node), MySQL's
// entrypoint reads its *_FILE as root then runs as uid 999, MinIO and its client run as root.
// World-readable costs nothing here, since each folder is mounted into its consumer only.
//
// Exit codes: 0 done; 78 (EX_CONFIG) a secret file is empty, short or a placeholder: it is never
// silently replaced, because the database or storage may hold the old value; 1 anything else.
import { randomBytes } from 'node:crypto';
import { chmodSync, linkSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const ROOT = process.env.SECRETS_ROOT || '/secrets';
const ALL = path.join(ROOT, 'all');

/**
 * Every secret compose needs; 24 random bytes (192 bits), base64url: 32 characters, safe in a URL
 * or a shell. Not longer: MinIO refuses a secret key over 40 characters.
 */
const SECRETS = [
  'mysql_root_password',
  'mysql_password',
  'minio_root_password',
  'storage_secret_key',
  'appbuilder_token',
  'training_token',
  'admin_token',
  'probe_token',
];

/** What each consumer reads; storage-init (the MinIO client that makes the service account) mounts storage's. */
const CONSUMERS = {
  database: ['mysql_root_password', 'mysql_password'],
  storage: ['minio_root_password', 'storage_secret_key'],
  webapp: ['mysql_password', 'storage_secret_key', 'admin_token', 'probe_token'],
  training: ['mysql_password', 'storage_secret_key', 'appbuilder_token', 'training_token'],
  appbuilder: ['mysql_password', 'appbuilder_token', 'admin_token', 'probe_token'],
};

/** The services refuse shorter ones (packages/shared/src/settings.ts). */
const MIN_LENGTH = 16;
/** As the services' EnvReader: `change-me…` and the obvious words. */
const PLACEHOLDER = /^(change[-_ ]?me|replace[-_ ]?me|(password|passwd|secret|token|admin|default|example|test)[-_0-9]*$)/i;
const ADMIN_TOKEN_COMMAND = 'docker compose run --rm secrets admin-token';

class ConfigError extends Error {}

/** The trimmed value of an existing secret file, undefined when there is none; refuses a bad one. */
function readSecret(file) {
  let text;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  }
  const value = text.trimEnd();
  const problem =
    value === '' ? 'is empty'
    : PLACEHOLDER.test(value) ? 'is a placeholder'
    : value.length < MIN_LENGTH ? `is shorter than ${MIN_LENGTH} characters`
    : undefined;
  if (problem !== undefined) {
    throw new ConfigError(
      `${file} ${problem}. It is not replaced, since the database, storage or a client may already use it: ` +
        `write the value they hold (at least ${MIN_LENGTH} characters) into it, or, to start afresh, remove the volumes (docker compose down -v).`,
    );
  }
  return value;
}

/** Writes beside `file` and renames over it, so a reader never sees half a file. */
function writeAtomically(file, value, mode) {
  const temporary = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  writeFileSync(temporary, `${value}\n`, { mode });
  chmodSync(temporary, mode); // the umask may have taken bits away
  renameSync(temporary, file);
}

/**
 * Makes the secret `name` unless it exists. The new file is linked into place, which fails when
 * the name exists: two runs at once can never replace each other's secret. Returns [value, made].
 */
function ensureSecret(name) {
  const file = path.join(ALL, name);
  const kept = readSecret(file);
  if (kept !== undefined) {
    chmodSync(file, 0o400); // one written by hand may be readable by all
    return [kept, false];
  }
  const value = randomBytes(24).toString('base64url');
  const temporary = path.join(ALL, `.${name}.${process.pid}.tmp`);
  writeFileSync(temporary, `${value}\n`, { mode: 0o400 });
  chmodSync(temporary, 0o400);
  try {
    linkSync(temporary, file);
  } catch (error) {
    if (error.code === 'EEXIST') return [readSecret(file), false];
    // A volume driver without hard links: create exclusively instead (one small write).
    if (!['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS'].includes(error.code)) throw error;
    try {
      writeFileSync(file, `${value}\n`, { mode: 0o400, flag: 'wx' });
    } catch (fallbackError) {
      if (fallbackError.code === 'EEXIST') return [readSecret(file), false];
      throw fallbackError;
    }
  } finally {
    unlinkSync(temporary);
  }
  return [value, true];
}

/** Leaves in `dir` exactly `wanted` (name → value), each 0444; anything else there is removed. */
function handOut(dir, wanted) {
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o755);
  for (const entry of readdirSync(dir)) {
    if (!Object.hasOwn(wanted, entry)) rmSync(path.join(dir, entry), { recursive: true, force: true });
  }
  for (const [name, value] of Object.entries(wanted)) {
    const file = path.join(dir, name);
    let current;
    try {
      current = readFileSync(file, 'utf8');
    } catch {
      current = undefined;
    }
    if (current !== `${value}\n` || (statSync(file).mode & 0o777) !== 0o444) writeAtomically(file, value, 0o444);
  }
}

function makeSecrets() {
  mkdirSync(ALL, { recursive: true });
  chmodSync(ALL, 0o700);
  // Leftovers of a run that was killed between write and link or rename.
  for (const entry of readdirSync(ALL)) if (entry.endsWith('.tmp')) rmSync(path.join(ALL, entry), { force: true });
  const values = {};
  const made = [];
  for (const name of SECRETS) {
    const [value, isNew] = ensureSecret(name);
    values[name] = value;
    if (isNew) made.push(name);
  }
  for (const [consumer, names] of Object.entries(CONSUMERS)) {
    handOut(path.join(ROOT, consumer), Object.fromEntries(names.map((name) => [name, values[name]])));
  }
  console.log(made.length === 0 ? 'secrets: all kept, handed out' : `secrets: made ${made.join(', ')}; handed out`);
  if (made.includes('admin_token')) {
    console.log(
      [
        '',
        '================================================================',
        ' mlpl admin token (rollbacks at http://localhost:5050/models):',
        '',
        `   ${values.admin_token}`,
        '',
        ' Shown once. To see it again:',
        `   ${ADMIN_TOKEN_COMMAND}`,
        '================================================================',
        '',
      ].join('\n'),
    );
  }
}

function printAdminToken() {
  const token = readSecret(path.join(ALL, 'admin_token'));
  if (token === undefined) {
    console.error('secrets: there is no admin token yet: run `docker compose up` first, which makes it');
    process.exitCode = 1;
    return;
  }
  console.log(token);
}

const command = process.argv[2];
try {
  if (command === undefined) makeSecrets();
  else if (command === 'admin-token') printAdminToken();
  else {
    console.error(`usage: make-secrets.mjs [admin-token] (got "${command}")`);
    process.exitCode = 64; // EX_USAGE
  }
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(`secrets: ${error.message}`);
    process.exitCode = 78; // EX_CONFIG
  } else {
    console.error('secrets: failed:', error);
    process.exitCode = 1;
  }
}
