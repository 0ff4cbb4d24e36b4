// The README's curl examples, run against the real webapp: every image they name is in the
// repository, is read as the digit its name says, and the prediction → feedback pair they show
// stores a correction.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { createTestDatabase, createTestStorage } from '@mlpl/shared/testing';
import type { TestDatabase, TestStorage } from '@mlpl/shared/testing';
import { post, startTestApp } from './test-support.js';
import type { RunningApp } from './test-support.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** `curl … -F image=@<file> … <url>` lines of the README, with the file and the route. */
function curlExamples(): { file: string; route: string; fields: Record<string, string> }[] {
  const readme = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
  return [...readme.matchAll(/^curl (.*-F image=@(\S+).*) (https?:\/\/\S+)$/gm)].map((match) => {
    const fields = Object.fromEntries([...(match[1] ?? '').matchAll(/-F (\w+)=([^@\s]\S*)/g)].map((field) => [field[1] ?? '', field[2] ?? '']));
    return { file: match[2] ?? '', route: new URL(match[3] ?? '').pathname, fields };
  });
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

  it('name images that are in the repository and are read as the digit in their name, and their feedback is stored', async () => {
    const examples = curlExamples();
    const predict = examples.find((example) => example.route === '/api/predict');
    const feedback = examples.find((example) => example.route === '/api/feedback');
    assert.ok(predict !== undefined && feedback !== undefined, 'the README shows a predict and a feedback example');
    for (const example of examples) {
      assert.ok(!path.isAbsolute(example.file), `${example.file}: a path in the repository, run from its root`);
      const bytes = readFileSync(path.join(REPO_ROOT, example.file));
      const named = /digit-(\d)\.png$/.exec(example.file)?.[1];
      assert.ok(named !== undefined, `${example.file}: named digit-<n>.png`);
      if (example.route !== '/api/predict') continue;
      const { status, body } = await post(`${app.url}/api/predict`, [{ name: 'image', file: bytes }]);
      assert.equal(status, 200);
      assert.equal(body.digit, Number(named), `${example.file} is read as ${named}`);
    }

    // The feedback example, with the id the prediction answered in place of <id>.
    const bytes = readFileSync(path.join(REPO_ROOT, feedback.file));
    const predicted = await post(`${app.url}/api/predict`, [{ name: 'image', file: bytes }]);
    const fields = Object.entries(feedback.fields).map(([name, value]) => ({ name, value: value === '<id>' ? String(predicted.body.predictionId) : value }));
    const stored = await post(`${app.url}/api/feedback`, [{ name: 'image', file: bytes }, ...fields]);
    assert.equal(stored.status, 201, JSON.stringify(stored.body));
    assert.equal(stored.body.label, Number(feedback.fields.label));
    assert.equal(stored.body.predictionId, predicted.body.predictionId);
  });
});
