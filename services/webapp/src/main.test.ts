import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { freePort, loadMnistDigits, renderDigitPng, runToExit } from '@mlpl/shared/testing';

const MAIN = path.join(path.dirname(fileURLToPath(import.meta.url)), 'main.js');

const runMain = (env: Record<string, string>) => runToExit(MAIN, env);

describe('webapp main', () => {
  it('when settings are missing or wrong, then it stops at once naming every problem', async () => {
    const { code, stderr, stdout } = await runMain({ PORT: 'http', MAX_UPLOAD_BYTES: '12', TFJS_BACKEND: 'gpu' });
    assert.equal(code, 78);
    assert.equal(stdout, '');
    for (const expected of [
      'PORT must be a whole number, got "http"',
      'MAX_UPLOAD_BYTES must be between 1024 and 67108864, got 12',
      'TFJS_BACKEND must be one of auto, tensorflow, wasm, cpu, got "gpu"',
      'MYSQL_USER is required',
      'MYSQL_PASSWORD is required',
      'STORAGE_ACCESS_KEY is required',
      'STORAGE_SECRET_KEY is required',
    ]) {
      assert.ok(stderr.includes(expected), `${expected} in\n${stderr}`);
    }
    assert.equal(stderr.match(/invalid settings/g)?.length, 1, 'one message');
  });

  it('when secrets come from files, one missing, one a placeholder and one short, then it exits 78 naming each', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mlpl-webapp-main-'));
    try {
      const placeholder = path.join(dir, 'storage_secret_key');
      writeFileSync(placeholder, 'change-me-storage-secret\n');
      const missing = path.join(dir, 'mysql_password');
      const { code, stderr } = await runMain({ MYSQL_USER: 'u', MYSQL_PASSWORD_FILE: missing, STORAGE_ACCESS_KEY: 'a', STORAGE_SECRET_KEY_FILE: placeholder, ADMIN_TOKEN: 'short' });
      assert.equal(code, 78);
      for (const expected of [
        `MYSQL_PASSWORD_FILE names ${missing}, which cannot be read (ENOENT)`,
        'STORAGE_SECRET_KEY is a placeholder',
        'ADMIN_TOKEN must be at least 16 characters',
      ]) {
        assert.ok(stderr.includes(expected), `${expected} in\n${stderr}`);
      }
      assert.ok(!stderr.includes('change-me-storage-secret'), 'the value itself is not printed');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('when a secret is set both ways, then it exits 78 saying to set one', async () => {
    const { code, stderr } = await runMain({ MYSQL_USER: 'u', MYSQL_PASSWORD: 'database-password-0123', MYSQL_PASSWORD_FILE: '/run/secrets/mysql_password', STORAGE_ACCESS_KEY: 'a', STORAGE_SECRET_KEY: 'storage-secret-key-0123' });
    assert.equal(code, 78);
    assert.match(stderr, /set MYSQL_PASSWORD or MYSQL_PASSWORD_FILE, not both/);
  });

  it('when the database and storage cannot be reached at start, then it serves predictions at once, is not ready, and stops promptly', async () => {
    const port = await freePort();
    // Nothing listens on port 1 of loopback: both are refused at once, and retried in the background.
    const child = spawn(process.execPath, [MAIN], {
      env: {
        PATH: process.env.PATH ?? '',
        PORT: String(port),
        HOST: '127.0.0.1',
        TFJS_BACKEND: 'wasm',
        LOG_LEVEL: 'warn',
        DATABASE_HOST: '127.0.0.1',
        DATABASE_PORT: '1',
        MYSQL_USER: 'u',
        MYSQL_PASSWORD: 'database-password-0123',
        STORAGE_HOST: '127.0.0.1',
        STORAGE_PORT: '1',
        STORAGE_ACCESS_KEY: 'a',
        STORAGE_SECRET_KEY: 'storage-secret-key-0123',
      },
      stdio: ['ignore', 'ignore', 'ignore'],
    });
    const exited = once(child, 'exit');
    try {
      const url = `http://127.0.0.1:${port}`;
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline && !(await fetch(`${url}/healthz`).then((r) => r.ok, () => false))) await new Promise((r) => setTimeout(r, 100));
      const body = new FormData();
      body.append('image', new Blob([Uint8Array.from(await renderDigitPng(loadMnistDigits(7, 1)[0] ?? new Float32Array(784)))], { type: 'image/png' }), 'seven.png');
      const predicted = await fetch(`${url}/api/predict`, { method: 'POST', body });
      assert.equal(predicted.status, 200);
      const answer = (await predicted.json()) as { digit: number; predictionId: string | null };
      assert.deepEqual([answer.digit, answer.predictionId], [7, null]);
      const ready = await fetch(`${url}/readyz`);
      assert.equal(ready.status, 503);
      const checks = ((await ready.json()) as { checks: Record<string, string> }).checks;
      // Which start-up work is waited for, and why, is in the log; /readyz only says what failed.
      assert.deepEqual(checks, { model: 'ok', database: 'failed', storage: 'failed', startup: 'failed' });
      const stopAsked = performance.now();
      child.kill('SIGTERM');
      const [code] = (await exited) as [number | null];
      assert.equal(code, 0);
      assert.ok(performance.now() - stopAsked < 5000, 'the background retries do not hold the process');
    } finally {
      child.kill('SIGKILL');
    }
  });
});
