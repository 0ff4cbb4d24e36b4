import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createLogger, finishBuild, finishDeployment, listBuilds, listDeployments, startBuild, startDeployment } from '@mlpl/shared';
import { createTestDatabase, listenOnLoopback } from '@mlpl/shared/testing';
import type { TestDatabase } from '@mlpl/shared/testing';
import { createAppbuilderApp } from './app.js';
import { createDocker } from './docker.js';
import { dockerTarget } from './docker-target.js';
import { createPipeline, PipelineError } from './pipeline.js';
import { processTarget } from './process-target.js';

const logger = createLogger({ name: 'appbuilder-app-test', level: 'silent' });

describe('appbuilder HTTP routes', () => {
  let db: TestDatabase;
  let closeServer: (() => Promise<void>) | undefined;
  let url: string;

  const TOKEN = 'appbuilder-test-token-0123';
  const deploy = (body: unknown) =>
    fetch(`${url}/deployments`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  /** A build record as the pipeline writes one, naming `image`. */
  const recordBuild = async (version: string, image: string) => finishBuild(db.pool, await startBuild(db.pool, version), { status: 'built', image, imageId: 'sha256:x', durationMs: 1 });

  before(async () => {
    db = await createTestDatabase();
    // A real pipeline whose target is never reached: no request here gets as far as a build.
    const target = processTarget({ modelsRoot: '/nonexistent', webappUrl: 'http://127.0.0.1:1', swapToken: 'x', probeImage: Buffer.alloc(0), healthTimeoutMs: 1, logger });
    const app = createAppbuilderApp({
      pipeline: createPipeline({ pool: db.pool, logger, target }),
      pool: db.pool,
      logger,
      token: TOKEN,
      limits: { modelJsonBytes: 1024, weightsBytes: 1024, metadataBytes: 1024 },
      readiness: async () => ({ target: 'ok' }),
    });
    ({ url, close: closeServer } = await listenOnLoopback(app));
  });
  after(async () => {
    await closeServer?.();
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

  test('when a deployment names a reserved version (latest, current, …), then it is a 400 naming why, and nothing is recorded', async () => {
    for (const version of ['latest', 'current', 'LATEST', 'base', 'serving', 'pretrained', 'candidate-v1', 'previous-1']) {
      const response = await deploy({ version });
      assert.equal(response.status, 400, version);
      const body = (await response.json()) as { error: { code: string; message: string } };
      assert.equal(body.error.code, 'invalid_version', version);
      assert.match(body.error.message, /reserved/, version);
    }
    assert.equal((await deploy({ version: '../x' })).status, 400);
    assert.deepEqual(await listDeployments(db.pool), []);
  });

  test('when the build record of a version names another artifact than the build of that version makes, then a rollback to it is a 409 and nothing is deployed', async () => {
    await recordBuild('v7-folder', '/elsewhere/v7-folder');
    await recordBuild('v8-folder', '/nonexistent/v7-folder');
    for (const version of ['v7-folder', 'v8-folder']) {
      const response = await deploy({ version });
      assert.equal(response.status, 409, version);
      const body = (await response.json()) as { error: { code: string; message: string } };
      assert.equal(body.error.code, 'unexpected_image');
      assert.match(body.error.message, new RegExp(`only /nonexistent/${version} is deployed for it`));
    }
    // The right name passes this check; its folder does not exist here.
    await recordBuild('v9-folder', '/nonexistent/v9-folder');
    assert.equal((await deploy({ version: 'v9-folder' })).status, 410);
    assert.deepEqual(await listDeployments(db.pool), []);
  });

  test('when a Docker build record names an image other than <repo>:<version>, then the rollback is refused before Docker is asked', async () => {
    // No engine behind this socket: the refusal must come before any call to it.
    const target = dockerTarget({
      repo: 'mlpl-test/mywebapp',
      push: false,
      deploy: { docker: createDocker('/nonexistent/docker.sock'), containerName: 'webapp', webappPort: 5050, reach: 'host', healthTimeoutMs: 1, probeImage: Buffer.alloc(0), logger },
    });
    assert.equal(target.imageOf('v1-a'), 'mlpl-test/mywebapp:v1-a');
    const pipeline = createPipeline({ pool: db.pool, logger, target });
    for (const [version, image] of [['v5-docker', 'mlpl-test/mywebapp:latest'], ['v6-docker', 'evil.example/mywebapp:v6-docker'], ['v4-docker', 'mlpl-test/mywebapp:v4-docker@sha256:0']]) {
      await recordBuild(version as string, image as string);
      await assert.rejects(pipeline.rollback(version as string), (error: unknown) => {
        assert.ok(error instanceof PipelineError);
        assert.deepEqual([error.status, error.code], [409, 'unexpected_image']);
        assert.match(error.message, new RegExp(`records the image ${image}, not mlpl-test/mywebapp:${version}`));
        return true;
      });
    }
    assert.deepEqual(await listDeployments(db.pool), []);
  });
  test('when training judged a candidate against a version no longer in service (a rollback landed meanwhile), then the release is a 409 and nothing is built', async () => {
    const target = processTarget({ modelsRoot: '/nonexistent', webappUrl: 'http://127.0.0.1:1', swapToken: 'x', probeImage: Buffer.alloc(0), healthTimeoutMs: 1, logger });
    const pipeline = createPipeline({ pool: db.pool, logger, target });
    const rolledBack = await startDeployment(db.pool, { kind: 'rollback', modelVersion: 'v1-old', image: '/models/v1-old', previousVersion: 'v2-new' });
    await finishDeployment(db.pool, rolledBack, { status: 'deployed', durationMs: 1 });
    const buildsBefore = (await listBuilds(db.pool)).length;
    for (const judgedAgainst of ['v2-new', null]) {
      await assert.rejects(pipeline.release({ modelJson: Buffer.alloc(0), weightsBin: Buffer.alloc(0), metadataJson: Buffer.alloc(0) }, 'v3-candidate', judgedAgainst), (error: unknown) => {
        assert.ok(error instanceof PipelineError);
        assert.deepEqual([error.status, error.code], [409, 'serving_changed']);
        assert.match(error.message, /v1-old is in service now/);
        return true;
      });
    }
    assert.equal((await listBuilds(db.pool)).length, buildsBefore, 'no build was started');
  });
});
