import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { runToExit } from '@mlpl/shared/testing';

const MAIN = path.join(path.dirname(fileURLToPath(import.meta.url)), 'main.js');

const runMain = (env: Record<string, string>) => runToExit(MAIN, env);

describe('appbuilder main', () => {
  it('when a secret is a placeholder, another short and a file missing, then it exits 78 with one message naming each', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mlpl-appbuilder-main-'));
    try {
      const token = path.join(dir, 'appbuilder_token');
      writeFileSync(token, 'CHANGE-ME-appbuilder-token\n');
      const missing = path.join(dir, 'mysql_password');
      const { code, stderr, stdout } = await runMain({ MYSQL_USER: 'u', MYSQL_PASSWORD_FILE: missing, APPBUILDER_TOKEN_FILE: token, ADMIN_TOKEN: 'too-short' });
      assert.equal(code, 78);
      assert.equal(stdout, '');
      for (const expected of [
        'APPBUILDER_TOKEN is a placeholder',
        'ADMIN_TOKEN must be at least 16 characters',
        `MYSQL_PASSWORD_FILE names ${missing}, which cannot be read (ENOENT)`,
      ]) {
        assert.ok(stderr.includes(expected), `${expected} in\n${stderr}`);
      }
      assert.equal(stderr.match(/invalid settings/g)?.length, 1, 'one message');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
