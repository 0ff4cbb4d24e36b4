import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { createLogger, listBuilds, listDeployments } from '@mlpl/shared';
import { createTestDatabase } from '@mlpl/shared/testing';
import type { TestDatabase } from '@mlpl/shared/testing';
import { createAppbuilderApp } from './app.js';
import { createPipeline } from './pipeline.js';
import { processTarget } from './process-target.js';

const logger = createLogger({ name: 'appbuilder-app-test', level: 'silent' });

describe('appbuilder HTTP routes', () => {
  let db: TestDatabase;
  let server: Server;
  let url: string;

  before(async () => {
    db = await createTestDatabase();
    // A real pipeline whose target is never reached: no request here gets as far as a build.
    const target = processTarget({ modelsRoot: '/nonexistent', webappUrl: 'http://127.0.0.1:1', swapToken: 'x', probeImage: Buffer.alloc(0), healthTimeoutMs: 1, logger });
    const app = createAppbuilderApp({
      pipeline: createPipeline({ pool: db.pool, logger, target }),
      pool: db.pool,
      logger,
      token: 'appbuilder-test-token-0123',
      limits: { modelJsonBytes: 1024, weightsBytes: 1024, metadataBytes: 1024 },
      readiness: async () => ({ target: 'ok' }),
    });
    server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    await db?.drop();
  });

  test('when a route is asked with a method it does not take, then it is a JSON 405 naming the methods, also in Allow, and nothing is recorded', async () => {
    for (const [method, route, allow, use] of [
      ['PUT', '/', 'GET, HEAD, POST', 'GET, HEAD, or POST'],
      ['DELETE', '/deployments', 'GET, HEAD, POST', 'GET, HEAD, or POST'],
      ['POST', '/builds', 'GET, HEAD', 'GET or HEAD'],
      ['POST', '/healthz', 'GET, HEAD', 'GET or HEAD'],
    ] as const) {
      const response = await fetch(`${url}${route}`, { method });
      assert.equal(response.status, 405, `${method} ${route}`);
      assert.equal(response.headers.get('allow'), allow);
      assert.deepEqual(await response.json(), { error: { code: 'method_not_allowed', message: `${method} is not allowed on ${route}; use ${use}` } });
    }
    assert.deepEqual(await listBuilds(db.pool), []);
    assert.deepEqual(await listDeployments(db.pool), []);
  });

  test('when a path is unknown, whatever the method, then it is a JSON 404', async () => {
    for (const method of ['GET', 'POST']) {
      const response = await fetch(`${url}/nope`, { method });
      assert.equal(response.status, 404);
      assert.equal(((await response.json()) as { error: { code: string } }).error.code, 'not_found');
    }
  });
});
