import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bearerMatches, requireBearer } from './auth.js';
import { HttpError } from './http-error.js';

/** Runs the middleware on a request with `authorization` and returns what it passed on and the headers it set. */
function check(tokens: Record<string, string | undefined>, authorization?: string) {
  const headers: Record<string, string> = {};
  let passed: unknown = 'not called';
  requireBearer(tokens)({ headers: { authorization } }, { setHeader: (name, value) => (headers[name] = value) }, (error) => (passed = error));
  return { passed, headers };
}

describe('bearer tokens', () => {
  it('when the header is exactly "Bearer <token>", then it matches, and nothing else does', () => {
    assert.equal(bearerMatches('Bearer s3cret-token', 's3cret-token'), true);
    for (const header of [undefined, '', 's3cret-token', 'Basic s3cret-token', 'bearer s3cret-token', 'Bearer s3cret-tokenx', 'Bearer s3cret']) {
      assert.equal(bearerMatches(header, 's3cret-token'), false, String(header));
    }
  });

  it('when a request carries any one of the tokens that are set, then it passes', () => {
    const tokens = { APPBUILDER_TOKEN: 'builder-token', ADMIN_TOKEN: 'admin-token' };
    assert.equal(check(tokens, 'Bearer builder-token').passed, undefined);
    assert.equal(check(tokens, 'Bearer admin-token').passed, undefined);
  });

  it('when it carries none, then it is a 401 with WWW-Authenticate, naming only the settings that are set', () => {
    const { passed, headers } = check({ APPBUILDER_TOKEN: 'builder-token', ADMIN_TOKEN: undefined }, 'Bearer admin-token');
    assert.ok(passed instanceof HttpError);
    assert.deepEqual([passed.status, passed.code, passed.message], [401, 'unauthorized', 'a valid "Authorization: Bearer <APPBUILDER_TOKEN>" header is required']);
    assert.deepEqual(headers, { 'WWW-Authenticate': 'Bearer' });
    const both = check({ APPBUILDER_TOKEN: 'builder-token', ADMIN_TOKEN: 'admin-token' }).passed as HttpError;
    assert.match(both.message, /<APPBUILDER_TOKEN or ADMIN_TOKEN>/);
  });

  it('when no token is set, then every request is refused and no token is asked for', () => {
    const { passed, headers } = check({ ADMIN_TOKEN: undefined }, 'Bearer undefined');
    assert.ok(passed instanceof HttpError);
    assert.deepEqual([passed.status, passed.code], [401, 'unauthorized']);
    assert.match(passed.message, /ADMIN_TOKEN is not set/);
    assert.deepEqual(headers, {});
  });
});
