import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RowDataPacket } from 'mysql2/promise';
import { BUNDLE_FILES, createLogger } from '@mlpl/shared';
import { createTestDatabase, fuzzServer, fuzzSettings, FuzzTally, listenOnLoopback } from '@mlpl/shared/testing';
import type { FuzzRoute, TestDatabase } from '@mlpl/shared/testing';
import { createAppbuilderApp } from './app.js';
import { createPipeline } from './pipeline.js';
import { processTarget } from './process-target.js';

const logger = createLogger({ name: 'appbuilder-fuzz', level: 'silent' });
const TOKEN = 'appbuilder-fuzz-token-0123';
const ADMIN_TOKEN = 'appbuilder-fuzz-admin-0123';
const LIMIT = 1024;

// The appbuilder has no OpenAPI document: these are the routes of app.ts.
const ROUTES: FuzzRoute[] = [
  { method: 'GET', path: '/healthz' },
  { method: 'GET', path: '/' },
  { method: 'POST', path: '/', form: { files: Object.values(BUNDLE_FILES), texts: [], required: Object.values(BUNDLE_FILES) } },
  { method: 'GET', path: '/builds' },
  { method: 'GET', path: '/deployments' },
  { method: 'POST', path: '/deployments' },
];

/** Bundle files that are not a bundle: JSON of the wrong shape, a metadata without a model, bytes. */
const NOT_BUNDLES = [
  Buffer.from('{}'),
  Buffer.from('{"format":"layers-model","modelTopology":{},"weightsManifest":[]}'),
  Buffer.from('{"version":"v1","preprocessingVersion":1}'),
  Buffer.from('{"version":"latest"}'),
  Buffer.alloc(64, 1),
];

describe('appbuilder under random requests (FUZZ_RUNS, default 200)', () => {
  let db: TestDatabase;
  let closeServer: (() => Promise<void>) | undefined;
  let url: string;

  before(async () => {
    db = await createTestDatabase();
    // A real pipeline whose target is never reached: no bundle here is valid, so nothing is built.
    const target = processTarget({ modelsRoot: '/nonexistent', webappUrl: 'http://127.0.0.1:1', swapToken: 'x', probeImage: Buffer.alloc(0), healthTimeoutMs: 1, logger });
    const app = createAppbuilderApp({
      pipeline: createPipeline({ pool: db.pool, logger, target }),
      pool: db.pool,
      logger,
      token: TOKEN,
      adminToken: ADMIN_TOKEN,
      limits: { modelJsonBytes: LIMIT, weightsBytes: LIMIT, metadataBytes: LIMIT },
      readiness: async () => ({ target: 'ok' }),
    });
    ({ url, close: closeServer } = await listenOnLoopback(app));
  });
  after(async () => {
    await closeServer?.();
    await db?.drop();
  });

  const count = async (table: 'builds' | 'deployments') => Number(((await db.pool.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM ${table}`))[0][0] as RowDataPacket).n);

  it('when every route gets random methods, paths, headers and bodies, then each answer is 2xx or a 4xx error body in time, and refusals record nothing', async (t) => {
    const { runs, seed } = fuzzSettings(200);
    t.diagnostic(`FUZZ_RUNS=${runs} FUZZ_SEED=${seed}`);
    const before = { builds: await count('builds'), deployments: await count('deployments') };
    let acceptedWrites = 0;
    const tally = new FuzzTally();
    try {
      await fuzzServer({
        base: url,
        routes: ROUTES,
        images: NOT_BUNDLES,
        tooLarge: LIMIT + 2,
        bearers: [TOKEN, ADMIN_TOKEN],
        runs,
        seed,
        tally,
        onAnswer: (request, answer) => {
          if (request.method === 'POST' && answer.status >= 200 && answer.status < 300) acceptedWrites++;
        },
      });
    } finally {
      t.diagnostic(`${tally.total} requests`);
      for (const line of tally.lines()) t.diagnostic(line);
    }

    assert.equal((await fetch(`${url}/healthz`)).status, 200);
    assert.equal(acceptedWrites, 0, 'no bundle here is valid and no version is built');
    assert.deepEqual({ builds: await count('builds'), deployments: await count('deployments') }, before, 'a refused request records no build and no deployment');
  });
});
