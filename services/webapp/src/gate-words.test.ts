import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { VersionRunRow } from '@mlpl/shared';
import { gateVerdict } from './gate-words.js';
import type { GateCheck, ModelDetail } from './registry-types.js';

/** A run as listVersionRuns returns it, with the gate's checks on the sets given as [set, candidate, incumbent, digits, passed]. */
function run(status: VersionRunRow['status'], sets: [string, number, number | null, number, boolean][], tolerance: number | null = 0.01) {
  const checks: GateCheck[] = sets.map(([set, candidate, incumbent, , passed]) => ({ set, candidate, incumbent, delta: incumbent === null ? null : candidate - incumbent, passed }));
  const evaluation: NonNullable<ModelDetail['evaluation']> = {
    candidate: Object.fromEntries(sets.map(([set, accuracy, , testCount]) => [set, { accuracy, testCount }])),
    incumbent: Object.fromEntries(sets.filter(([, , incumbent]) => incumbent !== null).map(([set, , accuracy, testCount]) => [set, { accuracy: accuracy as number, testCount }])),
    checks,
  };
  const row: VersionRunRow = {
    id: 7,
    startedAt: new Date(),
    finishedAt: new Date(),
    status,
    modelVersion: 'v7',
    parentVersion: 'v3',
    parameters: tolerance === null ? { seed: 42 } : { seed: 42, tolerance },
    history: [],
    evaluation: { ...evaluation, skipped: [] },
    gateReason: "the gate's own words",
    dataCounts: null,
    error: null,
    durationMs: 1,
  };
  return gateVerdict(row, evaluation);
}

describe('the gate verdict in plain words', () => {
  it('when the candidate scored better, then it says by how many points and than which version', () => {
    const verdict = run('promoted', [['test', 0.974, 0.97, 1000, true]]);
    assert.equal(verdict.summary, 'promoted: 0.4 points better than v3 on the test set');
    assert.deepEqual({ promoted: verdict.promoted, passed: verdict.passed, against: verdict.against, tolerance: verdict.tolerance, reason: verdict.reason }, {
      promoted: true,
      passed: true,
      against: 'v3',
      tolerance: 0.01,
      reason: "the gate's own words",
    });
  });

  it('when it lost less than the tolerance, then it says it was within it, for each set, naming the version compared with once', () => {
    const verdict = run('promoted', [['test', 0.964, 0.97, 1000, true], ['feedback', 0.5, 0.5, 4, true]]);
    assert.equal(verdict.summary, 'promoted: lost 0.6 points against v3 on the test set, within the 1-point tolerance; as good on the held-out feedback');
  });

  it('when it lost more than the tolerance, then the rejection says how much, in points and digits, and leaves out the sets that passed', () => {
    const verdict = run('rejected', [['test', 0.949, 0.97, 1000, false], ['feedback', 1, 0.75, 4, true]], 0.005);
    assert.equal(verdict.summary, 'rejected: lost 2.1 points against v3 on the test set (21 of 1,000 digits), more than the 0.5-point tolerance');
    assert.equal(verdict.passed, false);
  });

  it('when it lost more than the tolerance on too few digits, then it says why that passed', () => {
    const verdict = run('promoted', [['feedback', 0.75, 1, 4, true]]);
    assert.equal(verdict.summary, 'promoted: lost 25 points against v3 on the held-out feedback (1 of 4 digits), more than the 1-point tolerance but too few digits to tell from chance');
  });

  it('when there was nothing to compare with, then it gives the accuracy alone', () => {
    const verdict = run('promoted', [['test', 0.97, null, 1000, true]]);
    assert.equal(verdict.summary, 'promoted: 97.0% on the test set, with nothing to compare it with');
    assert.equal(verdict.against, null);
  });

  it('when the gate passed but the hand-over failed, then it does not say promoted nor rejected', () => {
    const verdict = run('failed', [['test', 0.98, 0.97, 1000, true]]);
    assert.equal(verdict.summary, 'passed the gate, not released: 1 point better than v3 on the test set');
    assert.deepEqual([verdict.promoted, verdict.passed], [false, true]);
  });

  it('when the run did not record its tolerance, then the loss is told without one', () => {
    const verdict = run('promoted', [['test', 0.968, 0.97, 1000, true]], null);
    assert.equal(verdict.summary, 'promoted: lost 0.2 points against v3 on the test set (2 of 1,000 digits), which the gate allowed');
    assert.equal(verdict.tolerance, null);
  });

  it('when a set failed for a reason the numbers do not show (no loss), then the gate\'s own words are the summary', () => {
    const verdict = run('rejected', [['test', 0.98, 0.97, 1000, false]]);
    assert.equal(verdict.summary, "the gate's own words");
  });
});
