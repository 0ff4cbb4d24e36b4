import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const MAIN = path.join(path.dirname(fileURLToPath(import.meta.url)), 'main.js');

function runMain(env: Record<string, string>): Promise<{ code: number | null; stderr: string; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MAIN], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.once('exit', (code) => resolve({ code, stderr, stdout }));
  });
}

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
});
