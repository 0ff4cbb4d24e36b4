import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { readEvaluation, readHistory, readRunDataCounts, readTrainingSummary } from './lineage.js';
import type { RunDataCounts } from './lineage.js';
import { upgradeMetadata } from './model-bundle.js';
import { legacyPretrainedMetadata } from './testing/legacy-metadata.js';

const PRETRAINED = new URL('../../../pretrained/metadata.json', import.meta.url);

describe('the lineage readers', () => {
  it('when a run of today is read, then its counts come back as written', () => {
    const counts: RunDataCounts = {
      mode: 'fine-tune',
      classes: [0, 1],
      newestFeedbackId: 12,
      feedbackTrained: 3,
      feedbackHeldOut: 1,
      replay: 102,
      earlierFeedbackReplayed: 2,
      test: 40,
      trainedByClass: [50, 55, 0, 0, 0, 0, 0, 0, 0, 0],
      feedbackImageIds: [10, 11, 12],
      heldOutImageIds: [9],
      replayImageIds: [1, 2],
      replaySeed: 77,
      storageFetches: 5,
      timingsMs: { load: 1, train: 2, evaluate: 3, handOver: 4, total: 10 },
    };
    assert.deepEqual(readRunDataCounts(JSON.parse(JSON.stringify(counts))), counts);
  });

  it('when a run of the first versions is read, then the fields they did not write are filled in, mode and classes from its parameters', () => {
    const first = { feedbackTrained: 8, feedbackHeldOut: 2, replay: 1000, test: 1000, feedbackImageIds: [1, 2], storageFetches: 3 };
    assert.deepEqual(readRunDataCounts(first, { mode: 'fine-tune', classes: [3, 4], seed: 42 }), {
      mode: 'fine-tune',
      classes: [3, 4],
      feedbackTrained: 8,
      earlierFeedbackReplayed: 0,
      replay: 1000,
      feedbackHeldOut: 2,
      test: 1000,
      trainedByClass: [],
      newestFeedbackId: null,
      feedbackImageIds: [1, 2],
      heldOutImageIds: [],
      replayImageIds: [],
      replaySeed: null,
      storageFetches: 3,
      timingsMs: null,
    });
    assert.equal(readRunDataCounts(null), null, 'a run that failed before selecting data');
  });

  it('when an evaluation without checks or skipped sets is read, then they are empty; without a candidate there is none', () => {
    const candidate = { test: { accuracy: 0.9, testCount: 10 } };
    assert.deepEqual(readEvaluation({ candidate, incumbent: {} }), { candidate, incumbent: {}, skipped: [], checks: [] });
    assert.equal(readEvaluation({ incumbent: {} }), null);
    assert.deepEqual(readHistory([{ epoch: 1 }, { loss: 0.3 }]), [{ epoch: 1, loss: NaN, accuracy: NaN }], 'a figure not written reads as NaN; an entry without its epoch is left out');
    assert.equal(readHistory(null), null);
  });

  it('when figures were written as null (NaN in JSON) or a check lacks its set, then they read as NaN and the check is left out', () => {
    const evaluation = readEvaluation({
      candidate: { test: { accuracy: null, testCount: 1000, perClass: [{ label: 7, precision: null, recall: 1, f1: 1, support: 3 }] } },
      incumbent: { test: { accuracy: 0.98, testCount: 1000 } },
      checks: [{ set: 'test', candidate: null, incumbent: 0.98, delta: null, passed: false }, { candidate: 0.5, passed: true }],
    });
    assert.ok(evaluation !== null);
    assert.ok(Number.isNaN(evaluation.candidate.test?.accuracy));
    assert.deepEqual(evaluation.candidate.test?.perClass, [{ label: '7', precision: NaN, recall: 1, f1: 1, support: 3 }]);
    assert.deepEqual(evaluation.checks, [{ set: 'test', candidate: NaN, incumbent: 0.98, delta: null, passed: false }]);
  });

  it('when the pretrained metadata of earlier versions is read, then it says what the metadata.json of today says', async () => {
    const today = JSON.parse(await readFile(PRETRAINED, 'utf8')) as Record<string, unknown>;
    const earlier = legacyPretrainedMetadata(today);
    assert.deepEqual(upgradeMetadata(earlier).training, today.training);
    assert.deepEqual(upgradeMetadata(today).training, today.training, 'today\'s shape reads as itself');
  });

  it('when a training object holds neither shape, then it still reads, with nothing recorded', () => {
    const summary = readTrainingSummary({});
    assert.equal(summary.baseSource, 'unknown');
    assert.deepEqual(summary.counts.trainedByClass, []);
    assert.deepEqual(summary.history, []);
  });
});
