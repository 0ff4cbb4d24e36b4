import { spawn, execFile } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import mysql from 'mysql2/promise';

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

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

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
 * Creates `user`@'%' with all privileges, so services never connect as root.
 */
export async function startMariaDb(options: { dir?: string; port?: number; user?: string; password?: string } = {}): Promise<MariaDbServer> {
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? (await mkdtemp(path.join(os.tmpdir(), 'mlpl-mariadb-')));
  const user = options.user ?? 'mlpl';
  const password = options.password ?? 'mlpl-test-password';
  const asRoot = isRoot() ? ['--user=root'] : [];
  if (!existsSync(path.join(dir, 'mysql'))) {
    await execFileAsync(findBinary('mariadb-install-db'), [
      '--no-defaults',
      `--datadir=${dir}`,
      '--auth-root-authentication-method=normal',
      '--skip-test-db',
      ...asRoot,
    ]);
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
      await connection.query('GRANT ALL PRIVILEGES ON *.* TO ?@? WITH GRANT OPTION', [user, '%']);
    } finally {
      await connection.end();
    }
  } catch (error) {
    await stopChild(child);
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
      if (ownDir) await rm(dir, { recursive: true, force: true });
    },
  };
}

export type S3Server = RunningServer & { accessKey: string; secretKey: string };

/** s3rver's fixed credentials: it accepts only these. */
export const S3RVER_CREDENTIALS = { accessKey: 'S3RVER', secretKey: 'S3RVER' } as const;

export async function startS3rver(options: { dir?: string; port?: number } = {}): Promise<S3Server> {
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? (await mkdtemp(path.join(os.tmpdir(), 'mlpl-s3rver-')));
  const bin = createRequire(import.meta.url).resolve('s3rver/bin/s3rver.js');
  const child = spawn(
    process.execPath,
    [bin, '--directory', dir, '--address', '127.0.0.1', '--port', String(options.port ?? 0), '--silent'],
    { stdio: ['ignore', 'pipe', 'pipe'], detached: true },
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
    ...S3RVER_CREDENTIALS,
    async stop() {
      await stopChild(child);
      if (ownDir) await rm(dir, { recursive: true, force: true });
    },
  };
}
