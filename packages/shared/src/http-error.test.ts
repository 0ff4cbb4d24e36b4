import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { errorHandler, HttpError, toHttpError, unavailable } from './http-error.js';
import { BundleError } from './model-bundle.js';
import { ImageRejectedError } from './preprocess.js';

type Answer = { status?: number; body?: unknown };

/** Runs the error middleware on `error` and returns what it answered and logged. */
function handle(error: unknown, headersSent = false) {
  const logged: { level: string; fields: Record<string, unknown>; message: string }[] = [];
  const log = (level: string) => (fields: Record<string, unknown>, message: string) => void logged.push({ level, fields, message });
  const answer: Answer = {};
  const removed: string[] = [];
  const res = { headersSent, removeHeader: (name: string) => void removed.push(name), status: (code: number) => ((answer.status = code), { json: (body: unknown) => (answer.body = body) }) };
  errorHandler({ error: log('error'), debug: log('debug') })(error, { path: '/x' }, res, () => undefined);
  return { answer, logged, removed };
}

describe('the error middleware', () => {
  it('when a handler throws an HttpError, then its status, code and message are the answer, logged at debug', () => {
    const { answer, logged } = handle(new HttpError(409, 'busy', 'try again'));
    assert.deepEqual(answer, { status: 409, body: { error: { code: 'busy', message: 'try again' } } });
    assert.deepEqual(logged.map((entry) => entry.level), ['debug']);
  });

  it('when anything else is thrown, then it is a 500 that says nothing more, logged as an error with its cause', () => {
    const error = new Error('secret detail');
    const { answer, logged } = handle(error);
    assert.deepEqual(answer, { status: 500, body: { error: { code: 'internal_error', message: 'internal error' } } });
    assert.equal(logged[0]?.level, 'error');
    assert.equal(logged[0]?.fields['err'], error);
  });

  it('when a type was set for an answer that failed, then the error answer drops it and is JSON', () => {
    // Found by fuzz.test.ts: send sets text/html for models.html, then fails with a 416 for a bad Range.
    const { answer, removed } = handle(Object.assign(new Error('Range Not Satisfiable'), { status: 416 }));
    assert.deepEqual(removed, ['Content-Type']);
    assert.deepEqual(answer, { status: 416, body: { error: { code: 'bad_request', message: 'Range Not Satisfiable' } } });
  });

  it('when the answer has begun, then it is only logged', () => {
    const { answer, logged } = handle(new Error('late'), true);
    assert.deepEqual(answer, {});
    assert.equal(logged.length, 1);
  });

  it('when the shared errors with a meaning for the client are thrown, then each has its status', () => {
    const cases: [unknown, number, string][] = [
      [new ImageRejectedError('image_too_large', 'big'), 413, 'image_too_large'],
      [new ImageRejectedError('unsupported_image', 'text'), 415, 'unsupported_image'],
      [new ImageRejectedError('blank_image', 'blank'), 422, 'blank_image'],
      [new BundleError('invalid_metadata', 'no version'), 422, 'invalid_metadata'],
      [Object.assign(new Error('Unexpected end of JSON input'), { status: 400 }), 400, 'bad_request'],
      [Object.assign(new Error('payload too large'), { status: 413 }), 413, 'bad_request'],
      [Object.assign(new Error('upstream'), { status: 502 }), 500, 'internal_error'],
      [null, 500, 'internal_error'],
    ];
    for (const [error, status, code] of cases) {
      const http = toHttpError(error);
      assert.deepEqual([http.status, http.code], [status, code], String(error));
    }
  });

  it('when the database or storage fails, then it is a 503 saying what did not happen, with the failure as cause', () => {
    const cause = new Error('ECONNREFUSED');
    const error = unavailable('database', cause, 'the correction was not recorded');
    assert.deepEqual([error.status, error.code, error.message], [503, 'database_unavailable', 'the database is unavailable; the correction was not recorded, try again']);
    assert.equal(error.cause, cause);
  });
});
