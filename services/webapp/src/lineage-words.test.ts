import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lineageText } from './lineage-words.js';

const run = (parentVersion: string | null, servingVersion: string | null, { incumbentNote = null as string | null, mode = 'fine-tune' } = {}) => ({
  parentVersion,
  servingVersion,
  incumbentNote,
  parameters: { mode },
  dataCounts: null,
});

describe('where a run\'s model came from, in words', () => {
  it('when it started from the version in service, then it says so', () => {
    assert.equal(lineageText(run('v9', 'v9')), 'trained from v9, which was in service');
  });

  it('when the version in service could not be loaded, then it names both and gives the training service\'s note', () => {
    assert.equal(
      lineageText(run('v8', 'v9', { incumbentNote: 'v9, in service, could not be loaded (NoSuchKey); started from and judged against v8' })),
      'trained from v8: v9 was in service but could not be loaded: v9, in service, could not be loaded (NoSuchKey); started from and judged against v8',
    );
    assert.equal(lineageText(run('v8', 'v9')), 'trained from v8: v9 was in service but could not be loaded');
  });

  it('when it was trained from scratch, then the version it names is the one it was judged against', () => {
    assert.equal(lineageText(run('v9', 'v9', { mode: 'scratch' })), 'trained from scratch, judged against v9, which was in service');
  });

  it('when the run was recorded before runs kept the version in service, then it says only what it descended from', () => {
    assert.equal(lineageText(run('v9', null)), 'trained from v9');
    assert.equal(lineageText(run(null, null)), null);
  });
});
