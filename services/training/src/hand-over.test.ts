import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { checkVersionName } from '@mlpl/shared';
import { versionFor } from './hand-over.js';

describe('versionFor', () => {
  test('when a run is named, then its version is v<run>-<UTC stamp> and passes the check every entry point applies', () => {
    assert.equal(versionFor(12, new Date('2025-01-02T03:04:05.678Z')), 'v12-20250102030405');
    for (const runId of [1, 99, 123_456_789_012]) {
      for (const at of [new Date(0), new Date('2099-12-31T23:59:59Z')]) assert.equal(checkVersionName(versionFor(runId, at)), null);
    }
  });
});
