import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { freePort } from '@mlpl/shared/testing';
import { listening } from './service-process.js';
import { startStack, StartAborted } from './stack.js';

describe('a stack whose webapp does not become ready', () => {
  let stateDir: string | undefined;
  after(async () => {
    if (stateDir !== undefined) await rm(stateDir, { recursive: true, force: true });
  });

  test('when the webapp answers /healthz but cannot reach its database, then startStack rejects naming the check /readyz fails and the log, which says why, and stops what it started', async () => {
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'mlpl-stack-ready-'));
    const ports = { webapp: await freePort(), training: await freePort(), appbuilder: await freePort(), database: await freePort(), storage: await freePort() };
    // As another stack's container did: it runs and answers, with another database password.
    await assert.rejects(
      startStack({ stateDir, deploy: 'process', ports, webappEnv: { MYSQL_PASSWORD: randomBytes(24).toString('hex') }, readyTimeoutMs: 5000 }),
      (error: Error) => {
        // /readyz names the check only; the driver's words (user, address) are in the log it points to.
        assert.match(error.message, new RegExp(`the webapp did not become ready within 5 s: http://127\\.0\\.0\\.1:${ports.webapp}/readyz answered 503, database: failed`));
        assert.ok(error.message.includes(`its log: ${path.join(stateDir as string, 'logs', 'webapp.log')}`), error.message);
        assert.doesNotMatch(error.message, /Access denied/);
        return true;
      },
    );
    assert.match(await readFile(path.join(stateDir, 'logs', 'webapp.log'), 'utf8'), /readiness check database failed: Access denied for user 'mlpl'/);
    for (const [name, port] of Object.entries(ports)) assert.equal(await listening(port), false, `${name} is stopped`);
  });

  test('when the start is given up on while it waits for /readyz, then it stops at once, not at the readiness deadline', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'mlpl-stack-ready-'));
    try {
      const ports = { webapp: await freePort(), training: await freePort(), appbuilder: await freePort(), database: await freePort(), storage: await freePort() };
      const giveUp = new AbortController();
      const said: string[] = [];
      const say = (line: string) => {
        said.push(line);
        // A Ctrl-C as soon as the stack waits for a webapp that will never be ready.
        if (line.startsWith('waiting for') && line.endsWith('/readyz')) giveUp.abort();
      };
      await assert.rejects(
        // An hour's deadline: only the abort can end this wait within the test's time.
        startStack({ stateDir: dir, deploy: 'process', ports, webappEnv: { MYSQL_PASSWORD: randomBytes(24).toString('hex') }, readyTimeoutMs: 3_600_000, signal: giveUp.signal }, say),
        StartAborted,
      );
      assert.ok(said.some((line) => line.endsWith('/readyz')), said.join('\n'));
      for (const [name, port] of Object.entries(ports)) assert.equal(await listening(port), false, `${name} is stopped`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
