import { spawn, execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import mysql from 'mysql2/promise';
import { freePort } from '../helpers.js';

/**
 * Real servers for tests and the local stack: a throwaway MariaDB from the binaries on PATH
 * and an S3 endpoint (s3rver). Each runs as a child process so a test can stop it to see
 * how the services behave when it is gone.
 */
export type RunningServer = {
  host: string;
  port: number;
  dir: string;
  process: ChildProcess;
  /** Stops the server; removes its folder only when the folder was made for it. */
  stop(): Promise<void>;
};

export type MariaDbServer = RunningServer & { rootUser: string; user: string; password: string };

const execFileAsync = promisify(execFile);

/**
 * The services refuse secrets shorter than 16 characters or that look like placeholders, so the
 * test servers get random ones too: made once per process, so a server restarted on its folder
 * within a test (the fault tests) keeps the credentials the services already hold.
 */
const randomSecret = () => randomBytes(24).toString('base64url');
const TEST_DATABASE_PASSWORD = randomSecret();

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** Debian installs the server in /usr/sbin, which is not on every user's PATH. */
function findBinary(name: string): string {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/sbin', '/usr/local/sbin', '/usr/bin'];
  const found = dirs.filter((dir) => dir !== '').map((dir) => path.join(dir, name)).find((file) => existsSync(file));
  if (found === undefined) throw new Error(`${name} not found on PATH or in /usr/sbin: install Debian's mariadb-server`);
  return found;
}

async function waitFor(what: string, timeoutMs: number, probe: () => Promise<boolean>, child: ChildProcess): Promise<void> {
  let spawnError: Error | undefined;
  child.once('error', (error) => (spawnError = error));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (spawnError !== undefined) throw new Error(`${what} could not be started: ${spawnError.message}`);
    if (child.exitCode !== null) throw new Error(`${what} exited with code ${child.exitCode} while starting`);
    if (await probe().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${what} did not become ready within ${timeoutMs} ms`);
}

/** SIGTERM, then SIGKILL if the child has not exited after `timeoutMs`; resolves once it has exited. */
export async function stopChild(child: ChildProcess, timeoutMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await exited;
  clearTimeout(timer);
}

/**
 * Starts MariaDB on 127.0.0.1. With `dir` holding an earlier data folder the data is kept
 * (the local stack); without, a fresh folder is made and removed on stop (tests).
 * Creates `user`@'%' with all privileges, so services never connect as root, and sets its
 * password to `password` (default: this process's random one) on every start.
 */
export async function startMariaDb(options: { dir?: string; port?: number; user?: string; password?: string } = {}): Promise<MariaDbServer> {
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? (await mkdtemp(path.join(os.tmpdir(), 'mlpl-mariadb-')));
  const user = options.user ?? 'mlpl';
  const password = options.password ?? TEST_DATABASE_PASSWORD;
  const asRoot = isRoot() ? ['--user=root'] : [];
  // A temporary folder of its own: MariaDB deletes every `#sql*` file in its tmpdir as it starts,
  // so servers sharing /tmp break each other's temporary tables (seen: an install failing with
  // "Unknown table 'mysql.tmp_proxies_priv'" while another server started).
  const tmpdir = await mkdtemp(path.join(os.tmpdir(), 'mlpl-mariadb-tmp-'));
  const removeTmpdir = () => rm(tmpdir, { recursive: true, force: true });
  if (!existsSync(path.join(dir, 'mysql'))) {
    await execFileAsync(findBinary('mariadb-install-db'), [
      '--no-defaults',
      `--datadir=${dir}`,
      '--auth-root-authentication-method=normal',
      '--skip-test-db',
      `--tmpdir=${tmpdir}`,
      ...asRoot,
    ]).catch(async (error: unknown) => {
      await removeTmpdir();
      throw error;
    });
  }
  const port = options.port ?? (await freePort());
  const child = spawn(
    findBinary('mariadbd'),
    [
      '--no-defaults',
      `--datadir=${dir}`,
      `--socket=${path.join(dir, 'sock')}`,
      `--port=${port}`,
      '--bind-address=127.0.0.1',
      '--skip-name-resolve',
      '--innodb-buffer-pool-size=128M',
      '--max-connections=500',
      // Rows are stamped by the server and read as UTC (the pool's timezone 'Z').
      '--default-time-zone=+00:00',
      `--tmpdir=${tmpdir}`,
      ...asRoot,
    ],
    // Its own process group: a terminal's Ctrl-C reaches the stack's runner only, which stops
    // the parts in order (mariadbd would ignore SIGINT anyway).
    { stdio: ['ignore', 'ignore', 'pipe'], detached: true },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  try {
    // Root has no password and, with skip-name-resolve, is only known on the socket.
    const rootConnection = () => mysql.createConnection({ socketPath: path.join(dir, 'sock'), user: 'root' });
    await waitFor('mariadbd', 30_000, async () => {
      const connection = await rootConnection();
      await connection.end();
      return true;
    }, child);
    const connection = await rootConnection();
    try {
      await connection.query('CREATE USER IF NOT EXISTS ?@? IDENTIFIED BY ?', [user, '%', password]);
      await connection.query('ALTER USER ?@? IDENTIFIED BY ?', [user, '%', password]);
      await connection.query('GRANT ALL PRIVILEGES ON *.* TO ?@? WITH GRANT OPTION', [user, '%']);
    } finally {
      await connection.end();
    }
  } catch (error) {
    await stopChild(child);
    await removeTmpdir();
    throw new Error(`${(error as Error).message}\n${stderr}`);
  }
  return {
    host: '127.0.0.1',
    port,
    dir,
    process: child,
    rootUser: 'root',
    user,
    password,
    async stop() {
      await stopChild(child);
      await removeTmpdir();
      if (ownDir) await rm(dir, { recursive: true, force: true });
    },
  };
}

export type S3Server = RunningServer & { accessKey: string; secretKey: string };

/** This process's storage account on s3rver: random, made once (see TEST_DATABASE_PASSWORD). */
export const S3RVER_CREDENTIALS: { readonly accessKey: string; readonly secretKey: string } = {
  accessKey: `mlpl-test-${randomBytes(6).toString('hex')}`,
  secretKey: randomSecret(),
};

/**
 * s3rver knows one key pair, S3RVER/S3RVER, built in: too short for the services. Its account
 * registry takes more, so the child registers `credentials` on its dummy account before its
 * command line starts, and revokes the built-in pair (nothing may still use it). The key pair
 * travels in the environment, not on the command line.
 */
function s3rverLauncher(): string {
  const require = createRequire(import.meta.url);
  const account = JSON.stringify(require.resolve('s3rver/lib/models/account.js'));
  const bin = JSON.stringify(require.resolve('s3rver/bin/s3rver.js'));
  return [
    `const { DUMMY_ACCOUNT } = require(${account});`,
    `DUMMY_ACCOUNT.revokeAccessKey('S3RVER');`,
    `DUMMY_ACCOUNT.createKeyPair(process.env.MLPL_S3RVER_ACCESS_KEY, process.env.MLPL_S3RVER_SECRET_KEY);`,
    `delete process.env.MLPL_S3RVER_SECRET_KEY;`,
    `require(${bin});`,
  ].join('\n');
}

export async function startS3rver(options: { dir?: string; port?: number; credentials?: { accessKey: string; secretKey: string } } = {}): Promise<S3Server> {
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? (await mkdtemp(path.join(os.tmpdir(), 'mlpl-s3rver-')));
  const credentials = options.credentials ?? S3RVER_CREDENTIALS;
  // `node -e <code> <args>`: process.argv is [node, ...args], so s3rver's command line parser
  // takes the first one for its script and reads the options after it.
  const child = spawn(
    process.execPath,
    ['-e', s3rverLauncher(), 's3rver', '--directory', dir, '--address', '127.0.0.1', '--port', String(options.port ?? 0), '--silent'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
      env: { ...process.env, MLPL_S3RVER_ACCESS_KEY: credentials.accessKey, MLPL_S3RVER_SECRET_KEY: credentials.secretKey },
    },
  );
  let output = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`s3rver did not start within 15 s: ${output}`)), 15_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on [^:]+:(\d+)/.exec(output);
      if (match?.[1] !== undefined) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`s3rver exited with code ${code}: ${output}`));
    });
  }).catch(async (error: unknown) => {
    await stopChild(child);
    throw error;
  });
  child.stdout?.resume();
  child.stderr?.resume();
  return {
    host: '127.0.0.1',
    port,
    dir,
    process: child,
    accessKey: credentials.accessKey,
    secretKey: credentials.secretKey,
    async stop() {
      await stopChild(child);
      if (ownDir) await rm(dir, { recursive: true, force: true });
    },
  };
}
