import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RowDataPacket } from 'mysql2/promise';
import { listObjectKeys } from '@mlpl/shared';
import { createTestDatabase, createTestStorage, FuzzTally, fuzzServer, fuzzSettings, renderDigitPng, routesOfOpenApi } from '@mlpl/shared/testing';
import type { FuzzRoute, TestDatabase, TestStorage } from '@mlpl/shared/testing';
import { loadPackagedMnist } from '@mlpl/shared/mnist-package';
import { openApiDocument } from './openapi.js';
import { startTestApp } from './test-support.js';
import type { RunningApp } from './test-support.js';

/** Uploads above this are refused (413); the fuzz sends some just above it. */
const MAX_BYTES = 64 * 1024;

// Routes the page and the docs use that the OpenAPI document leaves out (app.ts, docs.ts).
const UNDOCUMENTED: FuzzRoute[] = [
  { method: 'GET', path: '/models' },
  { method: 'GET', path: '/docs' },
  { method: 'GET', path: '/docs/openapi.json' },
  { method: 'GET', path: '/docs/assets/{file}' },
  { method: 'GET', path: '/{file}' },
];

describe('webapp under random requests (FUZZ_RUNS, default 200)', () => {
  let db: TestDatabase;
  let s3: TestStorage;
  let app: RunningApp;
  let images: Buffer[];

  before(async () => {
    db = await createTestDatabase();
    s3 = await createTestStorage();
    // An admin token and an appbuilder nobody listens at: a rollback never gets past the token.
    app = await startTestApp({ database: db.settings, storage: s3.settings, limits: { maxBytes: MAX_BYTES }, admin: { adminToken: 'fuzz-admin-token-0123456789', appbuilderUrl: 'http://127.0.0.1:1' } });
    const mnist = loadPackagedMnist();
    images = await Promise.all([0, 1, 2].map((i) => renderDigitPng(mnist.images.subarray(i * 784, (i + 1) * 784), { scale: 2, invert: i % 2 === 0 })));
  });
  after(async () => {
    await app?.close();
    await db?.drop();
  });

  const count = async (table: 'images' | 'predictions') => Number(((await db.pool.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM ${table}`))[0][0] as RowDataPacket).n);

  it('when every route gets random methods, paths, headers and bodies, then each answer is 2xx or a 4xx error body in time, and only accepted requests wrote', async (t) => {
    const { runs, seed } = fuzzSettings(200);
    t.diagnostic(`FUZZ_RUNS=${runs} FUZZ_SEED=${seed}`);
    const before = { images: await count('images'), predictions: await count('predictions'), objects: new Set(await listObjectKeys(s3.storage, s3.settings.imagesBucket)) };
    const accepted = { predictions: 0, images: 0, objectKeys: new Set<string>() };
    const tally = new FuzzTally();
    try {
      await fuzzServer({
        base: app.url,
        routes: [...routesOfOpenApi(openApiDocument), ...UNDOCUMENTED],
        images,
        tooLarge: MAX_BYTES + 1,
        runs,
        seed,
        tally,
        onAnswer: (_request, answer) => {
          if (answer.status < 200 || answer.status >= 300 || answer.body.length === 0 || !/json/.test(answer.headers['content-type'] ?? '')) return;
          const body = JSON.parse(answer.body.toString('utf8')) as { predictionId?: unknown; probabilities?: unknown; objectKey?: unknown; sha256?: unknown };
          if (typeof body.predictionId === 'string' && Array.isArray(body.probabilities)) accepted.predictions++;
          if (typeof body.objectKey === 'string' && typeof body.sha256 === 'string') {
            accepted.images++;
            accepted.objectKeys.add(body.objectKey);
          }
        },
      });
    } finally {
      t.diagnostic(`${tally.total} requests`);
      for (const line of tally.lines()) t.diagnostic(line);
      t.diagnostic(`accepted: ${accepted.predictions} predictions, ${accepted.images} feedback`);
    }

    assert.equal((await fetch(`${app.url}/healthz`)).status, 200);
    assert.equal((await fetch(`${app.url}/readyz`)).status, 200);
    assert.equal(await count('predictions'), before.predictions + accepted.predictions, 'a prediction row for each prediction answered, none for a refusal');
    assert.equal(await count('images'), before.images + accepted.images, 'an image row for each 201 feedback, none for a refusal');
    const added = (await listObjectKeys(s3.storage, s3.settings.imagesBucket)).filter((key) => !before.objects.has(key));
    assert.deepEqual(added.filter((key) => !accepted.objectKeys.has(key)), [], 'no object but those of accepted feedback');
  });
});
