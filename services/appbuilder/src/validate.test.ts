import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BUNDLE_FILES, BundleError, createLogger, readBundleDir } from '@mlpl/shared';
import type { ModelBundleFiles } from '@mlpl/shared';
import { createTestDatabase, listenOnLoopback } from '@mlpl/shared/testing';
import type { TestDatabase } from '@mlpl/shared/testing';
import { createAppbuilderApp } from './app.js';
import { REPO_ROOT } from './docker-fixtures.js';
import type { Pipeline, Release } from './pipeline.js';
import { createBundleValidator, DEFAULT_VALIDATION_LIMITS } from './validate.js';

const logger = createLogger({ name: 'validate-test', level: 'silent' });
const TOKEN = 'appbuilder-test-token-0123';

/**
 * The pretrained bundle with its first dense layer made `units` wide: the weights file is
 * unchanged (model.json still declares its bytes, so only loading it can tell), but tfjs
 * builds the layer's kernel, 800 × units floats, before it compares shapes.
 */
function withWideLayer(files: ModelBundleFiles, units: number): ModelBundleFiles {
  const model = JSON.parse(files.modelJson.toString()) as { modelTopology: { config: { layers: { config: { name: string; units?: number } }[] } } };
  for (const layer of model.modelTopology.config.layers) if (layer.config.name === 'dense1') layer.config.units = units;
  return { ...files, modelJson: Buffer.from(JSON.stringify(model)) };
}

/** Validating processes this process started that are still there. */
function validatingChildren(): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        const ppid = Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ')[1]);
        return ppid === process.pid && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('validate-child.js');
      } catch {
        return false;
      }
    })
    .map(Number);
}

function form(files: ModelBundleFiles): FormData {
  const body = new FormData();
  for (const [field, name] of Object.entries(BUNDLE_FILES) as [keyof ModelBundleFiles, string][]) body.append(name, new Blob([Uint8Array.from(files[field])]), name);
  return body;
}

describe('uploads validated in a child process with a memory limit and a deadline', () => {
  let db: TestDatabase;
  let closeServer: (() => Promise<void>) | undefined;
  let url: string;
  let good: ModelBundleFiles;
  const released: string[] = [];

  before(async () => {
    db = await createTestDatabase();
    good = await readBundleDir(path.join(REPO_ROOT, 'pretrained'));
    // The pipeline is not what is tested: it takes what passed validation and says it built it.
    const pipeline: Pipeline = {
      busy: false,
      async release(_files, version) {
        released.push(version);
        return { version, build: { image: `mywebapp:${version}`, imageId: 'sha256:0', digest: 'sha256:0', baseImage: 'sha256:0', addedBytes: 0, id: 1, ms: 0 }, deployment: { containerId: 'c', previousVersion: null, gapMs: 0, id: 1, ms: 0 } } satisfies Release;
      },
      rollback: () => Promise.reject(new Error('not in this test')),
      adoptBase: async () => undefined,
    };
    const app = createAppbuilderApp({
      pipeline,
      pool: db.pool,
      logger,
      token: TOKEN,
      limits: { modelJsonBytes: 1024 * 1024, weightsBytes: 32 * 1024 * 1024, metadataBytes: 64 * 1024 },
      readiness: async () => ({ target: 'ok' }),
      validateBundle: createBundleValidator(DEFAULT_VALIDATION_LIMITS),
    });
    ({ url, close: closeServer } = await listenOnLoopback(app));
  });

  after(async () => {
    await closeServer?.();
    await db?.drop();
  });

  const upload = (files: ModelBundleFiles) => fetch(url, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, body: form(files), signal: AbortSignal.timeout(120_000) });

  test('when model.json makes a layer of gigabytes, then the upload is a 422 within seconds, the appbuilder does not grow and takes the next upload', async () => {
    // 1.3 million units: a 4.2 GB kernel. Loaded in the appbuilder's own process (as before),
    // this took 19 s and left it holding 4.3 GB (wasm memory never shrinks).
    for (const units of [1_300_000, 200_000]) {
      const rssBefore = process.memoryUsage().rss;
      const started = performance.now();
      const response = await upload(withWideLayer(good, units));
      const body = (await response.json()) as { error: { code: string; message: string } };
      assert.equal(response.status, 422, JSON.stringify(body));
      assert.equal(body.error.code, 'invalid_topology', body.error.message);
      assert.ok(performance.now() - started < 20_000, `refused in ${Math.round(performance.now() - started)} ms`);
      assert.ok(process.memoryUsage().rss - rssBefore < 100 * 1024 * 1024, `the appbuilder grew by ${Math.round((process.memoryUsage().rss - rssBefore) / 1e6)} MB`);
    }
    assert.equal((await fetch(`${url}/healthz`)).status, 200);
    const response = await upload(good);
    assert.equal(response.status, 201, await response.text());
    assert.deepEqual(released, ['pretrained-1']);
    assert.deepEqual(validatingChildren(), []);
  });

  test('when a bundle takes longer than the deadline, then its process is killed and it is refused with 422 validation_limit', async () => {
    // A Node process with tfjs does not even start in 200 ms: the deadline is what ends it.
    const validate = createBundleValidator({ ...DEFAULT_VALIDATION_LIMITS, timeoutMs: 200 });
    await assert.rejects(validate(good), (error: Error & { status?: number; code?: string }) => {
      assert.equal(error.status, 422);
      assert.equal(error.code, 'validation_limit');
      assert.match(error.message, /did not load within 0\.2 s/);
      return true;
    });
    assert.deepEqual(validatingChildren(), []);
  });

  test('when the validating process dies (here: too little address space for Node), then the bundle is refused with 422 validation_limit, not a 500', async () => {
    const validate = createBundleValidator({ ...DEFAULT_VALIDATION_LIMITS, memoryMb: 300 });
    await assert.rejects(validate(good), (error: Error & { status?: number; code?: string }) => {
      assert.equal(error.status, 422);
      assert.equal(error.code, 'validation_limit');
      assert.match(error.message, /ended the process that loaded it/);
      return true;
    });
  });

  test('when a bundle is valid, then the child answers its metadata; a second one meanwhile is a 409, the one after that is validated', async () => {
    const validate = createBundleValidator();
    const first = validate(good);
    await assert.rejects(validate(good), (error: Error & { status?: number; code?: string }) => error.status === 409 && error.code === 'busy');
    assert.equal((await first).version, 'pretrained-1');
    await assert.rejects(validate({ ...good, weightsBin: good.weightsBin.subarray(4) }), (error: unknown) => error instanceof BundleError && error.code === 'weights_mismatch');
  });
});
