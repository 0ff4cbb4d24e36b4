// The README's curl examples, run as printed (bash and curl, from the repository's root) against
// the real webapp: the image they name is in the repository and is read as the digit its name
// says, and the feedback they send cites the prediction they made.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import type { RowDataPacket } from 'mysql2/promise';
import { createTestDatabase, createTestStorage } from '@mlpl/shared/testing';
import type { TestDatabase, TestStorage } from '@mlpl/shared/testing';
import { startTestApp } from './test-support.js';
import type { RunningApp } from './test-support.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const README_URL = 'http://localhost:5050';

/** The README's shell block of API examples: the one that follows "From the repository's root". */
function curlBlock(): string {
  const readme = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
  const block = /From the repository's root[\s\S]*?```sh\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(block !== undefined, 'the README has its curl examples');
  return block;
}

describe('the README curl examples', () => {
  let db: TestDatabase;
  let s3: TestStorage;
  let app: RunningApp;

  before(async () => {
    db = await createTestDatabase();
    s3 = await createTestStorage();
    app = await startTestApp({ database: db.settings, storage: s3.settings });
  });
  after(async () => {
    await app.close();
    await db.drop();
  });

  it('run as printed: the image is read as the digit in its name, and the feedback stored cites that prediction', async () => {
    const block = curlBlock();
    const images = [...block.matchAll(/image=@(\S+)/g)].map((match) => match[1] ?? '');
    assert.ok(images.length >= 3, 'the examples send an image');
    for (const image of images) assert.match(image, /^examples\/digit-\d\.png$/, `${image}: a file of the repository, named after its digit`);
    const digit = Number(/digit-(\d)/.exec(images[0] ?? '')?.[1]);

    const { stdout } = await promisify(execFile)('bash', ['-euo', 'pipefail', '-c', block.replaceAll(README_URL, app.url)], { cwd: REPO_ROOT, timeout: 60_000 });
    assert.match(stdout, new RegExp(`"digit":${digit},`), 'the prediction names the digit');

    const [rows] = await db.pool.query<RowDataPacket[]>(
      "SELECT i.label, p.digit FROM images i JOIN predictions p ON p.id = i.prediction_id WHERE i.source = 'feedback'",
    );
    assert.deepEqual(rows.map((row) => ({ label: row.label, digit: row.digit })), [{ label: digit, digit }], 'one feedback, citing a prediction of that digit');
  });
});
