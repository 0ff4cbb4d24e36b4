import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkVersionName, RESERVED_VERSION_NAMES, RESERVED_VERSION_PREFIXES } from './version-name.js';

describe('checkVersionName', () => {
  it('when a name is a version training or the pretrained model uses, then it passes', () => {
    for (const name of ['v12-20250101120000', 'pretrained-1', 'v1-a', 'latest-model', 'candidates', 'previously-served', 'current2', 'A.b_c-9']) {
      assert.equal(checkVersionName(name), null, name);
    }
  });

  it('when a name is reserved by a target or by training, in any case, then it is refused naming why', () => {
    for (const name of ['latest', 'current', 'base', 'serving', 'pretrained', 'Latest', 'CURRENT']) {
      assert.match(checkVersionName(name) ?? '', /is reserved \(.+\)/, name);
    }
    assert.match(checkVersionName('latest') ?? '', /restart of the webapp starts/);
    assert.deepEqual(Object.keys(RESERVED_VERSION_NAMES).sort(), ['base', 'current', 'latest', 'pretrained', 'serving']);
  });

  it('when a name begins as the containers of an in-place swap do, then it is refused', () => {
    for (const name of ['candidate', 'candidate-v1', 'previous-1700000000000', 'Previous-x']) {
      assert.match(checkVersionName(name) ?? '', /begins with the reserved "(candidate|previous)"/, name);
    }
    assert.deepEqual(Object.keys(RESERVED_VERSION_PREFIXES).sort(), ['candidate', 'previous']);
  });

  it('when a name is no tag (a path, a leading dot, too long, not a string), then it is refused', () => {
    for (const name of ['../x', 'a/b', '.hidden', '', 'x'.repeat(65), 'a b', 42, null, undefined]) {
      assert.match(checkVersionName(name) ?? '', /1–64 letters/, String(name));
    }
  });
});
