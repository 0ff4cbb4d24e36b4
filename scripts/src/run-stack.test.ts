import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { freePort } from '@mlpl/shared/testing';
import { correct, someDigits } from './loop-support.js';
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
      // Three corrections start a training run within seconds.
      TRAINING_THRESHOLD: '3',
      TRAINING_INTERVAL: '2s',
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

  test('when asked for --help, then it describes --state-dir and how the Docker names come from it', async () => {
    const { execFile } = await import('node:child_process');
    const help = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, [path.join(REPO_ROOT, 'scripts/dist/run-stack.js'), '--help'], (error, stdout) => (error === null ? resolve(stdout) : reject(error))),
    );
    assert.match(help, /--state-dir\s+where data, models, logs and secrets are kept/);
    assert.match(help, /mlpl-stack-<hash>-webapp/);
    assert.match(help, /docker rm -f/);
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
    assert.ok(out.includes(`admin token (rollbacks on /models): node -p "require('${path.join(stateDir, 'secrets.json')}').admin"`), out);
    assert.match(out, /no training runs yet; serving pretrained-1/);
    assert.equal((await fetch(`http://127.0.0.1:${ports.webapp}/readyz`)).status, 200);
    assert.ok((await processesMentioning(stateDir)).length >= 5, 'database, storage and three services run');

    // A second start on the same folder, or on the same ports, is refused before it starts anything.
    const again = startCli(stateDir, ports);
    assert.equal(await again.exited, 1);
    assert.match(again.output(), new RegExp(`a stack from ${stateDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} already runs \\(pid ${first.child.pid}\\)`));
    const elsewhere = await mkdtemp(path.join(os.tmpdir(), 'mlpl-run-stack-'));
    const beside = startCli(elsewhere, ports);
    assert.equal(await beside.exited, 1);
    assert.match(beside.output(), new RegExp(`ports ${ports.webapp} \\(STACK_WEBAPP_PORT\\), .*already in use`));
    await rm(elsewhere, { recursive: true, force: true });

    const answers = [];
    for (const digit of await someDigits(3)) answers.push(await correct(`http://127.0.0.1:${ports.webapp}`, digit));
    assert.deepEqual(answers.map((answer) => answer.status), [201, 201, 201]);
    // The webapp is given training's threshold, so the page's progress line counts to the right number.
    assert.deepEqual(answers[0]?.training, { pending: 1, threshold: 3 });
    await waitUntil('a training run to finish', 240_000, async () => /training run 1: (promoted|rejected|failed)/.test(first.output()));
    const runLines = first.output().split('\n').filter((line) => line.startsWith('training run 1:'));
    assert.equal(runLines.length, 2, runLines.join('\n'));
    assert.equal(runLines[0], 'training run 1: running', 'a running run is told without its gate verdict');

    process.kill(-(first.child.pid as number), 'SIGINT');
    assert.equal(await first.exited, 0, first.output());
    assert.match(first.output(), /stopped/);
    assert.deepEqual(await processesMentioning(stateDir), [], 'nothing of the stack is left running');
    assert.ok(existsSync(path.join(stateDir, 'database')) && existsSync(path.join(stateDir, 'models', 'current')));

    const second = startCli(stateDir, ports);
    await waitUntil('the base data to be ready again', 240_000, async () => second.output().includes('base data ready'), () => (second.child.exitCode !== null ? `exited: ${second.output()}` : undefined));
    assert.match(second.output(), /base data ready: registered at an earlier start/, 'the registered digits were kept');
    await waitUntil('the earlier runs to be summed up', 30_000, async () => second.output().includes('earlier training runs'));
    assert.match(second.output(), /earlier training runs: 1–1, the last (promoted|rejected|failed)[^\n]*; serving \S+/);
    assert.doesNotMatch(second.output(), /training run 1:/, 'an earlier run is not told again as if new');
    process.kill(-(second.child.pid as number), 'SIGTERM');
    assert.equal(await second.exited, 0, second.output());
    assert.deepEqual(await processesMentioning(stateDir), []);
  });

  test('when Ctrl-C comes while it starts, then what had started is stopped and nothing is left running', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'mlpl-run-stack-'));
    try {
      const ports = { webapp: await freePort(), training: await freePort(), appbuilder: await freePort(), database: await freePort(), storage: await freePort() };
      const run = startCli(dir, ports);
      // The database and storage are up and the webapp is on its way.
      await waitUntil('the webapp to be starting', 120_000, async () => run.output().includes('starting webapp'), () => (run.child.exitCode !== null ? `exited: ${run.output()}` : undefined));
      process.kill(-(run.child.pid as number), 'SIGINT');
      assert.equal(await run.exited, 130, run.output());
      assert.match(run.output(), /SIGINT: stopping what has started so far/);
      assert.match(run.output(), /stopped before it was ready; nothing of it runs/);
      assert.deepEqual(await processesMentioning(dir), [], 'nothing of the stack is left running');
      assert.ok(!existsSync(path.join(dir, 'stack.pid')), 'the folder is free for the next start');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('when two parts are given one port, or a port web clients refuse, then it says so before starting anything', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'mlpl-run-stack-'));
    try {
      const free = { webapp: await freePort(), training: await freePort(), appbuilder: await freePort(), database: await freePort(), storage: await freePort() };
      const shared = startCli(dir, { ...free, training: free.webapp });
      assert.equal(await shared.exited, 1);
      assert.match(shared.output(), new RegExp(`each part needs a port of its own: STACK_WEBAPP_PORT and STACK_TRAINING_PORT are both ${free.webapp}`));
      const refused = startCli(dir, { ...free, appbuilder: 6000 });
      assert.equal(await refused.exited, 1);
      assert.match(refused.output(), /STACK_APPBUILDER_PORT=6000 is a port web clients refuse to connect to/);
      assert.ok(!existsSync(path.join(dir, 'database')), 'nothing was started');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
