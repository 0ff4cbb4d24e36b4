import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import type { RowDataPacket } from 'mysql2/promise';
import { getObjectBytes } from '@mlpl/shared';
import { createTestDatabase, createTestStorage, renderDigitPng } from '@mlpl/shared/testing';
import type { TestDatabase, TestStorage } from '@mlpl/shared/testing';
import { loadPackagedMnist } from '@mlpl/shared/mnist-package';
import { openApiDocument } from './openapi.js';
import { form, post, startTestApp, storedCounts } from './test-support.js';
import type { RunningApp } from './test-support.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const PROBE_TOKEN = 'app-test-probe-token-0123456789';

/** A 1×1 PNG whose header claims 30000×30000 pixels: valid signature and IHDR CRC. */
function hugeDeclaredPng(): Buffer {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (bytes: Buffer) => {
    let c = 0xffffffff;
    for (const byte of bytes) c = (crcTable[(c ^ byte) & 0xff] ?? 0) ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Buffer) => {
    const typed = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc(typed));
    return Buffer.concat([length, typed, sum]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(30000, 0);
  ihdr.writeUInt32BE(30000, 4);
  ihdr.set([8, 0, 0, 0, 0], 8); // 8-bit greyscale
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', Buffer.from([0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01])),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

describe('webapp API', () => {
  let db: TestDatabase;
  let s3: TestStorage;
  let app: RunningApp;
  const mnist = loadPackagedMnist();
  const digitPixels = (index: number) => mnist.images.subarray(index * 784, (index + 1) * 784);
  let sevenIndex = -1;
  let sevenPng: Buffer;

  before(async () => {
    db = await createTestDatabase();
    s3 = await createTestStorage();
    app = await startTestApp({ database: db.settings, storage: s3.settings, limits: { maxBytes: 64 * 1024 }, probeToken: PROBE_TOKEN });
    sevenIndex = mnist.labels.indexOf(7);
    sevenPng = await renderDigitPng(digitPixels(sevenIndex), { scale: 4, invert: true });
  });
  after(async () => {
    await app.close();
    await db.drop();
  });

  const counts = () => storedCounts(db, s3);

  it('when a digit is uploaded, then the answer names it with ten probabilities and is recorded', async () => {
    const { status, body } = await post(`${app.url}/api/predict`, [{ name: 'image', file: sevenPng }]);
    assert.equal(status, 200);
    assert.equal(body.digit, 7);
    assert.equal(body.probabilities.length, 10);
    assert.ok(Math.abs(body.probabilities.reduce((a: number, b: number) => a + b, 0) - 1) < 1e-4);
    assert.equal(body.modelVersion, app.classifier.metadata.version);
    assert.match(body.predictionId, UUID);
    const [rows] = await db.pool.query<RowDataPacket[]>('SELECT digit, model_version FROM predictions WHERE id = ?', [body.predictionId]);
    assert.deepEqual({ ...rows[0] }, { digit: 7, model_version: body.modelVersion });
  });

  describe('the health-gate probe header', () => {
    const predictions = async () => Number(((await db.pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM predictions'))[0][0] as RowDataPacket).n);
    const probe = async (url: string, value: string) => {
      const response = await fetch(`${url}/api/predict`, { method: 'POST', body: form([{ name: 'image', file: sevenPng }]), headers: { 'x-mlpl-probe': value } });
      assert.equal(response.status, 200);
      return ((await response.json()) as { digit: number; predictionId: string | null });
    };

    it('when x-mlpl-probe carries the probe token, then the prediction is answered but not recorded', async () => {
      const before = await predictions();
      const answer = await probe(app.url, PROBE_TOKEN);
      assert.deepEqual([answer.digit, answer.predictionId], [7, null]);
      assert.equal(await predictions(), before);
    });

    it('when x-mlpl-probe carries anything else, then the prediction is recorded as any other', async () => {
      for (const value of ['health-gate', 'x', `${PROBE_TOKEN}x`, PROBE_TOKEN.slice(1)]) {
        const before = await predictions();
        const answer = await probe(app.url, value);
        assert.match(answer.predictionId ?? '', UUID, value);
        assert.equal(await predictions(), before + 1, value);
      }
    });

    it('when the webapp has no probe token, then the header is ignored and the prediction recorded', async () => {
      const open = await startTestApp({ database: db.settings, storage: s3.settings });
      try {
        const before = await predictions();
        const answer = await probe(open.url, PROBE_TOKEN);
        assert.match(answer.predictionId ?? '', UUID);
        assert.equal(await predictions(), before + 1);
      } finally {
        await open.close();
      }
    });
  });

  it('when feedback follows a prediction, then the object and the row are stored and linked', async () => {
    const predicted = await post(`${app.url}/api/predict`, [{ name: 'image', file: sevenPng }]);
    const before = await counts();
    const { status, body } = await post(`${app.url}/api/feedback`, [
      { name: 'image', file: sevenPng },
      { name: 'label', value: '1' },
      { name: 'predictionId', value: predicted.body.predictionId },
    ]);
    assert.equal(status, 201, JSON.stringify(body));
    assert.equal(body.label, 1);
    assert.equal(body.predictedDigit, 7);
    assert.equal(body.modelVersion, app.classifier.metadata.version);
    const sha256 = createHash('sha256').update(sevenPng).digest('hex');
    assert.equal(body.sha256, sha256);
    assert.deepEqual(await getObjectBytes(s3.storage, s3.settings.imagesBucket, body.objectKey), sevenPng);
    const [rows] = await db.pool.query<RowDataPacket[]>('SELECT label, source, used_in_run, prediction_id FROM images WHERE id = ?', [body.id]);
    assert.deepEqual({ ...rows[0] }, { label: 1, source: 'feedback', used_in_run: null, prediction_id: predicted.body.predictionId });
    const afterCounts = await counts();
    assert.equal(afterCounts.rows, before.rows + 1);
  });

  it('when the same image is corrected twice, then it is one object and two rows', async () => {
    const png = await renderDigitPng(digitPixels(mnist.labels.indexOf(3)), { scale: 2 });
    const before = await counts();
    for (const label of ['3', '5']) {
      const { status } = await post(`${app.url}/api/feedback`, [{ name: 'image', file: png }, { name: 'label', value: label }]);
      assert.equal(status, 201);
    }
    const afterCounts = await counts();
    assert.equal(afterCounts.rows, before.rows + 2);
    assert.equal(afterCounts.objects, before.objects + 1);
  });

  describe('bad input is refused with a clear 4xx and nothing is stored', () => {
    const truncated = () => sevenPng.subarray(0, Math.floor(sevenPng.length / 2));
    const cases: { name: string; path: string; parts: () => Parameters<typeof post>[1]; status: number; code: string }[] = [
      { name: 'no file', path: 'feedback', parts: () => [{ name: 'label', value: '3' }], status: 400, code: 'missing_image' },
      { name: 'no file to predict', path: 'predict', parts: () => [], status: 400, code: 'missing_image' },
      { name: 'an empty file', path: 'feedback', parts: () => [{ name: 'image', file: Buffer.alloc(0) }, { name: 'label', value: '3' }], status: 400, code: 'empty_image' },
      { name: 'a text file named .png', path: 'predict', parts: () => [{ name: 'image', file: Buffer.from('hello, I am not a picture\n'.repeat(10)) }], status: 415, code: 'unsupported_image' },
      { name: 'a truncated PNG', path: 'feedback', parts: () => [{ name: 'image', file: truncated() }, { name: 'label', value: '7' }], status: 422, code: 'corrupt_image' },
      { name: 'a file over the byte limit', path: 'feedback', parts: () => [{ name: 'image', file: Buffer.alloc(65 * 1024, 1) }, { name: 'label', value: '7' }], status: 413, code: 'image_too_large' },
      { name: 'a PNG declaring 30000×30000 pixels', path: 'predict', parts: () => [{ name: 'image', file: hugeDeclaredPng() }], status: 422, code: 'too_many_pixels' },
      { name: 'a PNG declaring 30000×30000 pixels as feedback', path: 'feedback', parts: () => [{ name: 'image', file: hugeDeclaredPng() }, { name: 'label', value: '1' }], status: 422, code: 'too_many_pixels' },
      { name: 'a missing label', path: 'feedback', parts: () => [{ name: 'image', file: sevenPng }], status: 400, code: 'missing_label' },
      ...['-1', '10', '3.5', '7; DROP TABLE images', '', ' 7', '07', 'seven'].map((label) => ({
        name: `label "${label}"`,
        path: 'feedback',
        parts: () => [{ name: 'image', file: sevenPng }, { name: 'label', value: label }],
        status: 400,
        code: label === '' ? 'missing_label' : 'invalid_label',
      })),
      { name: 'a file under another field name', path: 'feedback', parts: () => [{ name: 'file', file: sevenPng }, { name: 'label', value: '7' }], status: 400, code: 'unexpected_field' },
      { name: 'an unknown text field', path: 'feedback', parts: () => [{ name: 'image', file: sevenPng }, { name: 'label', value: '7' }, { name: 'lable', value: '7' }], status: 400, code: 'unexpected_field' },
      { name: 'a stray field on predict', path: 'predict', parts: () => [{ name: 'image', file: sevenPng }, { name: 'label', value: '7' }], status: 400, code: 'unexpected_field' },
      { name: 'too many fields', path: 'predict', parts: () => [{ name: 'image', file: sevenPng }, ...['a', 'b', 'c'].map((name) => ({ name, value: 'x' }))], status: 400, code: 'too_many_fields' },
      { name: 'two images', path: 'predict', parts: () => [{ name: 'image', file: sevenPng }, { name: 'image', file: sevenPng }], status: 400, code: 'too_many_files' },
      { name: 'a malformed predictionId', path: 'feedback', parts: () => [{ name: 'image', file: sevenPng }, { name: 'label', value: '7' }, { name: 'predictionId', value: "1' OR '1'='1" }], status: 400, code: 'invalid_prediction_id' },
      { name: 'an unknown predictionId', path: 'feedback', parts: () => [{ name: 'image', file: sevenPng }, { name: 'label', value: '7' }, { name: 'predictionId', value: '2c5ea4c0-4067-11e9-8bad-9b1deb4d3b7d' }], status: 422, code: 'unknown_prediction' },
    ];
    for (const testCase of cases) {
      it(`when the request has ${testCase.name}, then it is ${testCase.status} ${testCase.code}`, async () => {
        const before = await counts();
        const { status, body } = await post(`${app.url}/api/${testCase.path}`, testCase.parts());
        assert.equal(status, testCase.status, JSON.stringify(body));
        assert.equal(body.error.code, testCase.code);
        assert.equal(typeof body.error.message, 'string');
        assert.deepEqual(await counts(), before);
      });
    }

    it('when a blank image is sent as feedback, then it is refused', async () => {
      const before = await counts();
      const blank = await renderDigitPng(new Float32Array(784), { scale: 2 });
      const { status, body } = await post(`${app.url}/api/feedback`, [{ name: 'image', file: blank }, { name: 'label', value: '0' }]);
      assert.equal(status, 422);
      assert.equal(body.error.code, 'blank_image');
      assert.deepEqual(await counts(), before);
    });

    it('when feedback cites a prediction made for another image, then it is refused', async () => {
      const predicted = await post(`${app.url}/api/predict`, [{ name: 'image', file: sevenPng }]);
      const other = await renderDigitPng(digitPixels(mnist.labels.indexOf(2)), { scale: 2 });
      const before = await counts();
      const { status, body } = await post(`${app.url}/api/feedback`, [
        { name: 'image', file: other },
        { name: 'label', value: '2' },
        { name: 'predictionId', value: predicted.body.predictionId },
      ]);
      assert.equal(status, 422);
      assert.equal(body.error.code, 'prediction_mismatch');
      assert.deepEqual(await counts(), before);
    });

    it('when the body is JSON instead of multipart, then it is refused', async () => {
      const response = await fetch(`${app.url}/api/feedback`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ image: 'aGVsbG8=', label: 3 }),
      });
      assert.equal(response.status, 400);
      assert.equal(((await response.json()) as { error: { code: string } }).error.code, 'missing_image');
    });

    it('when the multipart body is malformed, then it is a 400', async () => {
      const response = await fetch(`${app.url}/api/predict`, {
        method: 'POST',
        headers: { 'content-type': 'multipart/form-data; boundary=xyz' },
        body: '--xyz\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n\r\nunterminated',
      });
      assert.equal(response.status, 400);
      assert.equal(((await response.json()) as { error: { code: string } }).error.code, 'bad_multipart');
    });
  });

  it('when 200 predictions are served, then no tensor is left behind', async () => {
    await post(`${app.url}/api/predict`, [{ name: 'image', file: sevenPng }]);
    const tensorsBefore = tf.memory().numTensors;
    for (let i = 0; i < 200; i++) {
      const png = await renderDigitPng(digitPixels(i), { scale: 1 });
      const { status } = await post(`${app.url}/api/predict`, [{ name: 'image', file: png }]);
      assert.equal(status, 200);
    }
    assert.equal(tf.memory().numTensors, tensorsBefore);
  });

  it('when health, readiness, metrics and the model are asked for, then they answer', async () => {
    assert.deepEqual(await (await fetch(`${app.url}/healthz`)).json(), { status: 'alive' });
    const ready = await fetch(`${app.url}/readyz`);
    assert.equal(ready.status, 200);
    const readiness = (await ready.json()) as { backend: string; checks: Record<string, string> };
    assert.equal(readiness.backend, tf.getBackend());
    assert.deepEqual(readiness.checks, { model: 'ok', database: 'ok', storage: 'ok', startup: 'ok' });
    const metrics = await (await fetch(`${app.url}/metrics`)).text();
    assert.match(metrics, /mlpl_predictions_total\{digit="7",model_version="[^"]+"\} \d+/);
    assert.match(metrics, /mlpl_tfjs_tensors \d+/);
    // Failed and successful requests are filed under the same route.
    assert.match(metrics, /mlpl_http_request_duration_seconds_count\{method="POST",route="\/api\/predict",status="200"\}/);
    assert.match(metrics, /mlpl_http_request_duration_seconds_count\{method="POST",route="\/api\/predict",status="400"\}/);
    const model = (await (await fetch(`${app.url}/api/model`)).json()) as { version: string; metrics: { accuracy: number } };
    assert.equal(model.version, app.classifier.metadata.version);
    assert.ok(model.metrics.accuracy >= 0.97);
  });

  it('when made-up paths are asked, then /metrics files them under the route template or "unmatched" and grows by no series', async () => {
    const series = async () => (await (await fetch(`${app.url}/metrics`)).text()).split('\n').filter((line) => line.startsWith('mlpl_http_request_duration_seconds'));
    const ask = async (tag: string) => {
      for (let i = 0; i < 25; i++) {
        assert.equal((await fetch(`${app.url}/api/models/made-up-${tag}-${i}`)).status, 404);
        assert.equal((await fetch(`${app.url}/no/such/path-${tag}-${i}`)).status, 404);
      }
    };
    // The first round makes the series these answers need (the route's 404, the unmatched 404).
    await ask('first');
    const before = await series();
    await ask('second');
    const after = await series();
    assert.equal(after.length, before.length, 'no new series');
    assert.ok(!after.some((line) => line.includes('made-up') || line.includes('no/such')), 'no path in a label');
    assert.ok(after.some((line) => line.startsWith('mlpl_http_request_duration_seconds_count{method="GET",route="/api/models/:version",status="404"}')), after.join('\n'));
    assert.ok(after.some((line) => line.startsWith('mlpl_http_request_duration_seconds_count{method="GET",route="unmatched",status="404"}')), after.join('\n'));
  });

  it('when /docs is opened, then the OpenAPI document lists every route the app serves', async () => {
    const page = await fetch(`${app.url}/docs`);
    assert.match(await page.text(), /swagger-ui/);
    assert.equal((await fetch(`${app.url}/docs/assets/swagger-ui-bundle.js`)).status, 200);
    const document = (await (await fetch(`${app.url}/docs/openapi.json`)).json()) as typeof openApiDocument;
    assert.deepEqual(Object.keys(document.paths).sort(), [
      '/api/corrections',
      '/api/corrections/{id}/image',
      '/api/feedback',
      '/api/model',
      '/api/models',
      '/api/models/error-rate',
      '/api/models/{version}',
      '/api/models/{version}/rollback',
      '/api/models/{version}/training-images',
      '/api/predict',
      '/api/training',
      '/api/training/runs',
      '/healthz',
      '/metrics',
      '/readyz',
    ]);
    for (const route of ['/healthz', '/readyz', '/metrics', '/api/model', '/api/models', '/api/models/error-rate', '/api/corrections', '/api/training', '/api/training/runs']) {
      assert.notEqual((await fetch(`${app.url}${route}`)).status, 404, route);
    }
  });

  it('when the pages are opened, then every script module they load is served as JavaScript', async () => {
    // A module the server does not serve as JavaScript (or not at all) stops the whole page:
    // nosniff makes the browser refuse any other content type.
    const pending = ['/', '/models'];
    const seen = new Set<string>();
    for (let url = pending.shift(); url !== undefined; url = pending.shift()) {
      const response = await fetch(new URL(url, app.url));
      assert.equal(response.status, 200, url);
      const text = await response.text();
      const imports = url.endsWith('.js')
        ? [...text.matchAll(/^(?:import|export)\b[^;]*?\bfrom '([^']+)'/gms)].map((match) => match[1] ?? '')
        : [...text.matchAll(/<script type="module" src="([^"]+)"/g)].map((match) => match[1] ?? '');
      if (url.endsWith('.js')) assert.match(response.headers.get('content-type') ?? '', /^text\/javascript\b/, url);
      for (const specifier of imports) {
        const resolved = new URL(specifier, new URL(url, app.url)).pathname;
        if (!seen.has(resolved)) pending.push(resolved);
        seen.add(resolved);
      }
    }
    assert.ok(seen.has('/app.js') && seen.has('/models.js') && seen.has('/api.js') && seen.has('/models-charts.js'), [...seen].join(' '));
  });

  it('when a route does not exist, then the answer is a JSON 404', async () => {
    const response = await fetch(`${app.url}/api/nothing`);
    assert.equal(response.status, 404);
    assert.equal(((await response.json()) as { error: { code: string } }).error.code, 'not_found');
  });

  it('when a route is asked with a method it does not take, then it is a JSON 405 naming the methods to use, also in Allow', async () => {
    const cases = [
      ['GET', '/api/predict', 'POST', 'POST'],
      ['PUT', '/api/feedback/', 'POST', 'POST'],
      ['POST', '/api/model', 'GET, HEAD', 'GET or HEAD'],
      ['DELETE', '/api/models/pretrained-1', 'GET, HEAD', 'GET or HEAD'],
      ['GET', '/api/models/pretrained-1/rollback', 'POST', 'POST'],
      ['POST', '/healthz', 'GET, HEAD', 'GET or HEAD'],
      ['POST', '/models', 'GET, HEAD', 'GET or HEAD'],
    ] as const;
    for (const [method, route, allow, use] of cases) {
      const before = await counts();
      const response = await fetch(`${app.url}${route}`, { method });
      assert.equal(response.status, 405, `${method} ${route}`);
      assert.equal(response.headers.get('allow'), allow, `${method} ${route}`);
      const { error } = (await response.json()) as { error: { code: string; message: string } };
      assert.equal(error.code, 'method_not_allowed');
      assert.equal(error.message, `${method} is not allowed on ${route}; use ${use}`);
      assert.deepEqual(await counts(), before);
    }
    // OPTIONS asks which methods: answered, not refused, for a route in a mounted router and for one of the app's own.
    for (const [route, allow] of [['/api/predict', 'POST'], ['/models', 'GET, HEAD']] as const) {
      const options = await fetch(`${app.url}${route}`, { method: 'OPTIONS' });
      assert.equal(options.status, 200, route);
      assert.equal(options.headers.get('allow'), allow, route);
    }
  });

  it('when the registry page is asked for a range past its end, then the 416 is a JSON error, not send\'s HTML page', async () => {
    // Found by fuzz.test.ts: res.sendFile answered its own failures in HTML.
    const response = await fetch(`${app.url}/models`, { headers: { range: 'bytes=9999999-' } });
    assert.equal(response.status, 416);
    assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
    const { error } = (await response.json()) as { error: { code: string; message: string } };
    assert.equal(typeof error.code, 'string');
    assert.equal(typeof error.message, 'string');
  });

  it('when a path is unknown, whatever the method, then it stays a 404', async () => {
    // /apimodel and /api/model/x only look like served paths: the router mounted at /api and the route /api/model do not match them.
    for (const [method, route] of [['POST', '/api/nothing'], ['GET', '/apimodel'], ['POST', '/api/model/x'], ['DELETE', '/docs/nothing'], ['OPTIONS', '/nothing']] as const) {
      const response = await fetch(`${app.url}${route}`, { method });
      assert.equal(response.status, 404, `${method} ${route}`);
      assert.equal(response.headers.get('allow'), null);
      assert.equal(((await response.json()) as { error: { code: string } }).error.code, 'not_found');
    }
  });
});
