import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { runToExit } from '@mlpl/shared/testing';

const MAIN = path.join(path.dirname(fileURLToPath(import.meta.url)), 'main.js');

const runMain = (env: Record<string, string>) => runToExit(MAIN, env);

describe('training main', () => {
  it('when the tokens come from files, one a placeholder and one short, and a password is set both ways, then it exits 78 naming each', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mlpl-training-main-'));
    try {
      const trainingToken = path.join(dir, 'training_token');
      writeFileSync(trainingToken, 'password\n');
      const appbuilderToken = path.join(dir, 'appbuilder_token');
      writeFileSync(appbuilderToken, 'fifteen-chars-x\n');
      const { code, stderr, stdout } = await runMain({
        MYSQL_USER: 'u',
        MYSQL_PASSWORD: 'database-password-0123',
        MYSQL_PASSWORD_FILE: path.join(dir, 'mysql_password'),
        STORAGE_ACCESS_KEY: 'a',
        STORAGE_SECRET_KEY: 'storage-secret-key-0123',
        TRAINING_TOKEN_FILE: trainingToken,
        APPBUILDER_TOKEN_FILE: appbuilderToken,
      });
      assert.equal(code, 78);
      assert.equal(stdout, '');
      for (const expected of [
        'TRAINING_TOKEN is a placeholder',
        'APPBUILDER_TOKEN must be at least 16 characters',
        'set MYSQL_PASSWORD or MYSQL_PASSWORD_FILE, not both',
      ]) {
        assert.ok(stderr.includes(expected), `${expected} in\n${stderr}`);
      }
      assert.equal(stderr.match(/invalid settings/g)?.length, 1, 'one message');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
