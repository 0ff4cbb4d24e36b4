import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stopChild } from '@mlpl/shared/testing';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Resident memory of a process in bytes, from /proc (Linux); undefined once it is gone. */
export async function rssOf(pid: number): Promise<number | undefined> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => undefined);
  const kib = status === undefined ? undefined : /^VmRSS:\s+(\d+)\s+kB$/m.exec(status)?.[1];
  return kib === undefined ? undefined : Number(kib) * 1024;
}

/** Polls `probe` every `everyMs` until it says true; `alive` says why waiting is pointless. */
export async function waitUntil(what: string, timeoutMs: number, probe: () => Promise<boolean>, alive: () => string | undefined = () => undefined, everyMs = 200): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const dead = alive();
    if (dead !== undefined) throw new Error(`${what}: ${dead}`);
    if (await probe().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  throw new Error(`${what} did not happen within ${timeoutMs} ms`);
}

/** Whether something accepts connections on 127.0.0.1:`port` (a part the stack stopped does not). */
export function listening(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.end();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * One service of the stack as a child process (`node services/<name>/dist/main.js`): started
 * with its environment, its output appended to `<logDir>/<name>.log`, ready once `readyUrl`
 * answers 2xx. It can be stopped (SIGTERM, SIGKILL after `graceMs`), killed, and started again.
 */
export class ServiceProcess {
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();

  constructor(
    readonly name: string,
    readonly options: { script: string; env: Record<string, string>; logFile: string; readyUrl: string; readyTimeoutMs?: number; graceMs?: number },
  ) {}

  get pid(): number | undefined {
    return this.running ? this.#child?.pid : undefined;
  }

  get running(): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  async start(): Promise<void> {
    if (this.running) return;
    const log = createWriteStream(this.options.logFile, { flags: 'a' });
    const child = spawn(process.execPath, [path.join(REPO_ROOT, this.options.script)], {
      cwd: REPO_ROOT,
      // Only what the stack sets, plus what node itself needs: no stray settings from the shell.
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', ...this.options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group: a terminal's Ctrl-C reaches the stack's runner only, which stops the parts in order.
      detached: true,
    });
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    this.#child = child;
    this.#exited = new Promise((resolve) => child.once('exit', () => {
      log.end();
      resolve();
    }));
    await waitUntil(`${this.name} to answer ${this.options.readyUrl}`, this.options.readyTimeoutMs ?? 120_000, async () => (await fetch(this.options.readyUrl, { signal: AbortSignal.timeout(2000) })).ok, () =>
      child.exitCode !== null || child.signalCode !== null
        ? `exited (${child.exitCode === null ? `signal ${child.signalCode}` : `code ${child.exitCode}`}) while starting; its log: ${this.options.logFile}`
        : undefined,
    ).catch((error: unknown) => {
      // Timed out (or exited): what it wrote says why.
      const message = (error as Error).message;
      throw new Error(message.includes(this.options.logFile) ? message : `${message} (${this.running ? 'still running' : 'exited'}); its log: ${this.options.logFile}`);
    });
  }

  /** SIGTERM, then SIGKILL if it has not exited after the grace period. */
  async stop(): Promise<void> {
    if (this.#child === undefined || !this.running) return;
    await stopChild(this.#child, this.options.graceMs ?? 15_000);
  }

  /** SIGKILL: the process gets no chance to clean up, as in a crash or an OOM kill. */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.#child?.kill('SIGKILL');
    await this.#exited;
  }

  async rss(): Promise<number | undefined> {
    const pid = this.pid;
    return pid === undefined ? undefined : rssOf(pid);
  }
}
