import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { readEvaluation, readHistory, readRunDataCounts, readTrainingSummary } from './lineage.js';
import type { GateCheck, RunDataCounts } from './lineage.js';
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
      testSet: 'a'.repeat(64),
      setAsideImageIds: [13, 14],
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
      testSet: null,
      setAsideImageIds: [],
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
    assert.deepEqual(evaluation.checks, [{ kind: 'accuracy', set: 'test', candidate: NaN, incumbent: 0.98, delta: null, passed: false, summary: "'test': no valid accuracy vs 98.00 %, failed" }]);
  });

  it('when a gate check recorded before the kinds is read, then it is an accuracy check with a sentence made from its numbers', () => {
    const evaluation = readEvaluation({
      candidate: { test: { accuracy: 0.948, testCount: 1000 } },
      checks: [{ set: 'test', candidate: 0.948, incumbent: 0.97, delta: 0.948 - 0.97, passed: false }, { set: 'feedback', candidate: 0.5, passed: true }],
    });
    assert.deepEqual(evaluation?.checks, [
      { kind: 'accuracy', set: 'test', candidate: 0.948, incumbent: 0.97, delta: 0.948 - 0.97, passed: false, summary: "'test': 94.80 % vs 97.00 %, failed" },
      { kind: 'accuracy', set: 'feedback', candidate: 0.5, incumbent: null, delta: null, passed: true, summary: "'feedback': 50.00 %, passed" },
    ]);
  });

  it('when gate checks of today are read, then each keeps its kind, its sentence and its figures', () => {
    const checks: GateCheck[] = [
      {
        kind: 'worse',
        set: 'test',
        candidate: 0.95,
        incumbent: 0.97,
        delta: 0.95 - 0.97,
        passed: false,
        summary: "on 'test' the candidate is worse than the incumbent",
        mcnemar: { incumbentOnly: 30, candidateOnly: 10, pValue: 0.0011, significance: 0.05 },
      },
      { kind: 'floor', set: 'test', candidate: 0.95, incumbent: 0.975, delta: -0.025, passed: false, summary: 'below the floor', floor: { floor: 0.965, best: 0.975, bestVersion: 'v5', tolerance: 0.01 } },
      {
        kind: 'corrections',
        set: 'corrections',
        candidate: 0.9,
        incumbent: 0.95,
        delta: -0.05,
        passed: false,
        summary: 'the candidate breaks earlier corrections',
        corrections: { incumbentRight: 120, broken: 5, allowance: 2, brokenImageIds: [4, 9, 17, 21, 30] },
      },
      {
        kind: 'class',
        set: 'test',
        candidate: 0.9,
        incumbent: 0.96,
        delta: -0.06,
        passed: false,
        summary: 'classes lost more than the margin',
        classes: { margin: 0.05, minDigits: 3, classes: [{ label: '7', candidate: 0.9, incumbent: 0.96, digitsLost: 6, support: 100, passed: false }] },
      },
    ];
    const evaluation = readEvaluation(JSON.parse(JSON.stringify({ candidate: { test: { accuracy: 0.95, testCount: 1000 } }, incumbent: {}, checks })));
    assert.deepEqual(evaluation?.checks, checks);
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
