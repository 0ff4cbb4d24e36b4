import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { learntCorrections, summarise } from './learn-rounds.js';
import type { LearningReport, RoundResult, RunRecord, Sent } from './learn-rounds.js';

function run(id: number, status: RunRecord['status'], test: RunRecord['test'], trainedImageIds: number[] = []): RunRecord {
  return { id, status, modelVersion: status === 'promoted' ? `v${id}` : null, parentVersion: null, verdict: status, test, testCount: 1000, tolerance: 0.01, trainedImageIds, heldOutImageIds: [] };
}

function round(n: number, right: number | null, runs: RunRecord[], servedTest: number | null): RoundResult {
  const heldOut = right === null ? null : { right, total: 200, accuracy: right / 200, version: `v${n}` };
  return { round: n, confirmations: 5, corrections: 5, runs, version: `v${n}`, heldOut, servedTest, pending: 0, seconds: 20 };
}

function report(rounds: RoundResult[], sent: Sent[] = []): LearningReport {
  return { start: { right: 180, total: 200, accuracy: 0.9, version: 'pretrained' }, startTest: 0.98, rounds, sent, seconds: 60 };
}

describe('the learning curve against its targets', () => {
  test('when the held-out share rises 3 points and no served version falls below the floor, then every target passes', () => {
    const summary = summarise(
      report([
        round(1, 179, [run(1, 'promoted', { candidate: 0.979, incumbent: 0.98 })], 0.979),
        round(2, 186, [run(2, 'rejected', { candidate: 0.96, incumbent: 0.979 })], 0.979),
      ]),
    );
    assert.equal(summary.gainPoints.toFixed(1), '3.0');
    assert.deepEqual(summary.worst, { round: 1, deltaPoints: (179 / 200 - 0.9) * 100 });
    assert.equal(summary.testFloor?.toFixed(3), '0.970');
    assert.deepEqual(summary.passed, { gain: true, noDrop: true, testFloor: true });
  });

  test('when a round measures more than a point below the start, a served version falls below the floor and the gain is short, then each target fails', () => {
    const summary = summarise(report([round(1, 176, [run(1, 'promoted', { candidate: 0.965, incumbent: 0.98 })], 0.965), round(2, 183, [], 0.965)]));
    assert.deepEqual(summary.passed, { gain: false, noDrop: false, testFloor: false });
  });

  test('when only the last round is measured, then the worst round is that one', () => {
    const summary = summarise(report([round(1, null, [], null), round(2, 190, [], null)]));
    assert.deepEqual(summary.worst, { round: 2, deltaPoints: (190 / 200 - 0.9) * 100 });
  });

  test('when corrections were sent, then the learnt ones are those a promoted run trained on', () => {
    const digit = { index: 0, label: 1, png: Buffer.alloc(0) };
    const sent: Sent[] = [
      { digit, round: 1, predicted: 7, correction: true, imageId: 11 },
      { digit, round: 1, predicted: 1, correction: false, imageId: 12 },
      { digit, round: 1, predicted: 7, correction: true, imageId: 13 },
      { digit, round: 2, predicted: 7, correction: true, imageId: 14 },
    ];
    const rounds = [round(1, null, [run(1, 'promoted', { candidate: 1, incumbent: 1 }, [11, 12])], null), round(2, null, [run(2, 'rejected', { candidate: 1, incumbent: 1 }, [14])], null)];
    assert.deepEqual(learntCorrections(report(rounds, sent)).map((item) => item.imageId), [11]);
  });
});
