import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { freePort } from '@mlpl/shared/testing';
import { REPO_ROOT, waitUntil } from './service-process.js';

type Run = { child: ChildProcess; output: () => string; exited: Promise<number | null> };

function startCli(stateDir: string, ports: Record<string, number>): Run {
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'scripts/dist/run-stack.js'), '--deploy', 'process', '--state-dir', stateDir], {
    env: {
      ...process.env,
      STACK_WEBAPP_PORT: String(ports.webapp),
      STACK_TRAINING_PORT: String(ports.training),
      STACK_APPBUILDER_PORT: String(ports.appbuilder),
      STACK_DATABASE_PORT: String(ports.database),
      STACK_STORAGE_PORT: String(ports.storage),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    // A process group of its own, so the test can signal it as a terminal's Ctrl-C does: the whole group.
    detached: true,
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return { child, output: () => output, exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))) };
}

/** Pids of processes whose command line mentions `needle` (the stack's state folder). */
async function processesMentioning(needle: string): Promise<number[]> {
  const { readdir } = await import('node:fs/promises');
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    const environ = cmdline.includes(needle) ? '' : await readFile(`/proc/${entry}/environ`, 'utf8').catch(() => '');
    if (cmdline.includes(needle) || environ.includes(needle)) pids.push(Number(entry));
  }
  return pids;
}

describe('npm run stack (scripts/dist/run-stack.js)', () => {
  let stateDir: string;
  after(async () => {
    if (stateDir !== undefined) await rm(stateDir, { recursive: true, force: true });
  });

  test('when started, then it prints the URLs and the registration progress; on Ctrl-C everything stops; started again, the data is still there', async () => {
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'mlpl-run-stack-'));
    const ports = { webapp: await freePort(), training: await freePort(), appbuilder: await freePort(), database: await freePort(), storage: await freePort() };

    const first = startCli(stateDir, ports);
    await waitUntil('the base data to be ready', 240_000, async () => first.output().includes('base data ready'), () => (first.child.exitCode !== null ? `exited: ${first.output()}` : undefined));
    const out = first.output();
    assert.match(out, new RegExp(`webapp\\s+http://127\\.0\\.0\\.1:${ports.webapp}`));
    assert.match(out, /registering base data: train \d+\/9000/);
    assert.match(out, /base data ready: 10000 newly registered/);
    assert.equal((await fetch(`http://127.0.0.1:${ports.webapp}/readyz`)).status, 200);
    assert.ok((await processesMentioning(stateDir)).length >= 5, 'database, storage and three services run');

    process.kill(-(first.child.pid as number), 'SIGINT');
    assert.equal(await first.exited, 0, first.output());
    assert.match(first.output(), /stopped/);
    assert.deepEqual(await processesMentioning(stateDir), [], 'nothing of the stack is left running');
    assert.ok(existsSync(path.join(stateDir, 'database')) && existsSync(path.join(stateDir, 'models', 'current')));

    const second = startCli(stateDir, ports);
    await waitUntil('the base data to be ready again', 240_000, async () => second.output().includes('base data ready'), () => (second.child.exitCode !== null ? `exited: ${second.output()}` : undefined));
    assert.match(second.output(), /base data ready: 0 newly registered/, 'the registered digits were kept');
    process.kill(-(second.child.pid as number), 'SIGTERM');
    assert.equal(await second.exited, 0, second.output());
    assert.deepEqual(await processesMentioning(stateDir), []);
  });
});
