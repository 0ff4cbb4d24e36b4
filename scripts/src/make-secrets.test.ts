import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { REPO_ROOT } from './service-process.js';

const SCRIPT = path.join(REPO_ROOT, 'scripts', 'compose', 'make-secrets.mjs');
const run = promisify(execFile);

/** What each consumer's folder must hold, exactly (docker-compose.yml mounts it at /run/secrets). */
const CONSUMERS: Record<string, string[]> = {
  database: ['mysql_password', 'mysql_root_password'],
  storage: ['minio_root_password', 'storage_secret_key'],
  webapp: ['admin_token', 'mysql_password', 'probe_token', 'storage_secret_key'],
  training: ['appbuilder_token', 'mysql_password', 'storage_secret_key', 'training_token'],
  appbuilder: ['admin_token', 'appbuilder_token', 'mysql_password', 'probe_token'],
};
const ALL = ['admin_token', 'appbuilder_token', 'minio_root_password', 'mysql_password', 'mysql_root_password', 'probe_token', 'storage_secret_key', 'training_token'];

async function makeSecrets(root: string, args: string[] = []): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [SCRIPT, ...args], { env: { PATH: process.env.PATH ?? '', SECRETS_ROOT: root } });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

async function contents(dir: string): Promise<Record<string, string>> {
  const names = (await readdir(dir)).sort();
  return Object.fromEntries(await Promise.all(names.map(async (name) => [name, await readFile(path.join(dir, name), 'utf8')] as const)));
}

describe('compose secrets (scripts/compose/make-secrets.mjs)', () => {
  let root = '';
  let first: Record<string, string> = {};
  let firstOutput = '';

  before(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'mlpl-secrets-'));
  });
  after(() => rm(root, { recursive: true, force: true }));

  it('when run the first time, then it makes every secret, random and long, and prints the admin token once with the command to show it again', async () => {
    const { code, stdout, stderr } = await makeSecrets(root);
    assert.equal(code, 0, stderr);
    first = await contents(path.join(root, 'all'));
    assert.deepEqual(Object.keys(first), ALL);
    const values = Object.values(first).map((text) => text.trimEnd());
    for (const value of values) assert.match(value, /^[A-Za-z0-9_-]{32,40}$/, 'url-safe, 32 to 40 characters (MinIO takes at most 40)');
    assert.equal(new Set(values).size, values.length, 'all different');
    const token = first['admin_token']?.trimEnd() ?? '';
    assert.equal(stdout.split(token).length - 1, 1, 'the token printed once');
    assert.match(stdout, /docker compose run --rm secrets admin-token/);
    firstOutput = stdout;
  });

  it('when it has run, then each consumer folder holds exactly its secrets, the same values, readable by any user', async () => {
    assert.deepEqual((await readdir(root)).sort(), ['all', ...Object.keys(CONSUMERS)].sort());
    for (const [consumer, names] of Object.entries(CONSUMERS)) {
      const dir = path.join(root, consumer);
      const held = await contents(dir);
      assert.deepEqual(Object.keys(held), names, consumer);
      for (const name of names) {
        assert.equal(held[name], first[name], `${consumer}/${name}`);
        assert.equal((await stat(path.join(dir, name))).mode & 0o777, 0o444, `${consumer}/${name} mode`);
      }
      assert.equal((await stat(dir)).mode & 0o777, 0o755, `${consumer} folder mode`);
    }
    assert.equal((await stat(path.join(root, 'all'))).mode & 0o777, 0o700);
  });

  it('when run again, then every value is kept, stray files are removed, a missing copy comes back, and no token is printed', async () => {
    await rm(path.join(root, 'webapp', 'admin_token'), { force: true });
    await writeFile(path.join(root, 'webapp', 'training_token'), 'not the webapp\'s\n');
    const { code, stdout, stderr } = await makeSecrets(root);
    assert.equal(code, 0, stderr);
    assert.deepEqual(await contents(path.join(root, 'all')), first);
    assert.deepEqual(Object.keys(await contents(path.join(root, 'webapp'))), CONSUMERS['webapp']);
    assert.equal((await contents(path.join(root, 'webapp')))['admin_token'], first['admin_token']);
    assert.ok(!stdout.includes(first['admin_token']?.trimEnd() ?? '-'), stdout);
    assert.ok(firstOutput !== stdout);
  });

  it('when a volume from before the probe token is run again, then the probe token is made and handed to the webapp and the appbuilder alone', async () => {
    await rm(path.join(root, 'all', 'probe_token'));
    for (const consumer of ['webapp', 'appbuilder']) await rm(path.join(root, consumer, 'probe_token'));
    const { code, stdout, stderr } = await makeSecrets(root);
    assert.equal(code, 0, stderr);
    assert.match(stdout, /made probe_token;/);
    const made = (await contents(path.join(root, 'all')))['probe_token'];
    assert.match(made ?? '', /^[A-Za-z0-9_-]{32,40}\n$/);
    for (const [consumer, names] of Object.entries(CONSUMERS)) {
      assert.equal((await contents(path.join(root, consumer)))['probe_token'], names.includes('probe_token') ? made : undefined, consumer);
    }
    first = await contents(path.join(root, 'all'));
  });

  it('when asked for admin-token, then it prints the token alone', async () => {
    const { code, stdout } = await makeSecrets(root, ['admin-token']);
    assert.equal(code, 0);
    assert.equal(stdout, first['admin_token']);
  });

  it('when one secret is missing, then only that one is made', async () => {
    await rm(path.join(root, 'all', 'training_token'));
    const { code, stdout } = await makeSecrets(root);
    assert.equal(code, 0);
    assert.match(stdout, /made training_token;/);
    const now = await contents(path.join(root, 'all'));
    assert.notEqual(now['training_token'], first['training_token']);
    assert.deepEqual({ ...now, training_token: '' }, { ...first, training_token: '' });
    assert.equal((await contents(path.join(root, 'training')))['training_token'], now['training_token']);
  });

  for (const [what, value] of [
    ['a placeholder', 'change-me\n'],
    ['empty', '\n'],
    ['shorter than 16 characters', 'short-secret\n'],
  ] as const) {
    it(`when a secret file is ${what}, then it stops with exit 78 naming it, and replaces nothing`, async () => {
      const file = path.join(root, 'all', 'mysql_password');
      const kept = await readFile(file, 'utf8');
      await chmod(file, 0o600);
      await writeFile(file, value);
      try {
        const { code, stderr } = await makeSecrets(root);
        assert.equal(code, 78, stderr);
        assert.ok(stderr.includes(file), stderr);
        assert.equal(await readFile(file, 'utf8'), value, 'not replaced');
        assert.equal((await contents(path.join(root, 'database')))['mysql_password'], kept, 'the copies are left as they were');
      } finally {
        await writeFile(file, kept);
      }
    });
  }

  it('when asked for the admin token before any start, then it says to start first', async () => {
    const empty = await mkdtemp(path.join(os.tmpdir(), 'mlpl-secrets-'));
    try {
      const { code, stderr } = await makeSecrets(empty, ['admin-token']);
      assert.equal(code, 1);
      assert.match(stderr, /docker compose up/);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });
});
