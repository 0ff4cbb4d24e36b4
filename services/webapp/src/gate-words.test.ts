import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { VersionRunRow } from '@mlpl/shared';
import { gateVerdict } from './gate-words.js';
import type { GateCheck, ModelDetail } from './registry-types.js';

/**
 * The verdict of a run as listVersionRuns returns it, judged against v3 by `checks`; each set's
 * figures are its first check's, on `digits[set]` digits (1,000 when not given).
 */
function judged(status: VersionRunRow['status'], checks: GateCheck[], { tolerance = 0.01 as number | null, digits = {} as Record<string, number> } = {}) {
  const sets = [...new Set(checks.map((check) => check.set))];
  const first = (set: string) => checks.find((check) => check.set === set) as GateCheck;
  const testCount = (set: string) => digits[set] ?? 1000;
  const evaluation: NonNullable<ModelDetail['evaluation']> = {
    candidate: Object.fromEntries(sets.map((set) => [set, { accuracy: first(set).candidate, testCount: testCount(set) }])),
    incumbent: Object.fromEntries(sets.flatMap((set) => (first(set).incumbent === null ? [] : [[set, { accuracy: first(set).incumbent as number, testCount: testCount(set) }]]))),
    checks,
  };
  const row: VersionRunRow = {
    id: 7,
    startedAt: new Date(),
    finishedAt: new Date(),
    status,
    modelVersion: 'v7',
    parentVersion: 'v3',
    servingVersion: 'v3',
    incumbentNote: null,
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

/** A run recorded before the checks had kinds (read as 'accuracy' checks): one per set, given as [set, candidate, incumbent, digits, passed]. */
function run(status: VersionRunRow['status'], sets: [string, number, number | null, number, boolean][], tolerance: number | null = 0.01) {
  const checks: GateCheck[] = sets.map(([set, candidate, incumbent, , passed]) => ({
    kind: 'accuracy',
    set,
    candidate,
    incumbent,
    delta: incumbent === null ? null : candidate - incumbent,
    passed,
    summary: 'made up by the reader',
  }));
  return judged(status, checks, { tolerance, digits: Object.fromEntries(sets.map(([set, , , n]) => [set, n])) });
}

describe('the gate verdict in plain words, for runs recorded before the checks had kinds (accuracy within a tolerance)', () => {
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

/** Today's checks, as training's gate.ts writes them (their sentences shortened: the verdict is made from the figures). */
const check = {
  worse: (set: string, candidate: number, incumbent: number, incumbentOnly: number, candidateOnly: number, pValue: number): GateCheck => ({
    kind: 'worse',
    set,
    candidate,
    incumbent,
    delta: candidate - incumbent,
    passed: !(incumbentOnly > candidateOnly && pValue < 0.05),
    summary: `McNemar on '${set}'`,
    mcnemar: { incumbentOnly, candidateOnly, pValue, significance: 0.05 },
  }),
  floor: (candidate: number, best: number): GateCheck => ({
    kind: 'floor',
    set: 'test',
    candidate,
    incumbent: best,
    delta: candidate - best,
    passed: candidate >= best - 0.01,
    summary: 'the floor',
    floor: { floor: best - 0.01, best, bestVersion: 'v5', tolerance: 0.01 },
  }),
  corrections: (incumbentRight: number, brokenImageIds: number[], allowance: number): GateCheck => ({
    kind: 'corrections',
    set: 'corrections',
    candidate: 0.9,
    incumbent: 0.95,
    delta: -0.05,
    passed: brokenImageIds.length <= allowance,
    summary: 'the corrections',
    corrections: { incumbentRight, broken: brokenImageIds.length, allowance, brokenImageIds },
  }),
  class: (changes: [string, number, number, number][]): GateCheck => {
    const classes = changes.map(([label, incumbent, candidate, support]) => {
      const digitsLost = Math.round((incumbent - candidate) * support);
      return { label, candidate, incumbent, digitsLost, support, passed: !(incumbent - candidate > 0.05 && digitsLost >= 3) };
    });
    return { kind: 'class', set: 'test', candidate: 0.9, incumbent: 0.96, delta: -0.06, passed: classes.every((c) => c.passed), summary: 'the classes', classes: { margin: 0.05, minDigits: 3, classes } };
  },
};

describe('the gate verdict in plain words, from the figures of today\'s checks', () => {
  it('when every check passed, then it says how the candidate did on the test set and that all checks passed', () => {
    const verdict = judged('promoted', [
      check.worse('test', 0.974, 0.97, 10, 14, 0.77),
      check.worse('feedback', 0.9, 0.85, 0, 1, 1),
      check.floor(0.974, 0.975),
      check.corrections(120, [4], 2),
      check.class([['7', 0.96, 0.95, 100]]),
    ]);
    assert.equal(verdict.summary, 'promoted: 0.4 points better than v3 on the test set; all 5 checks passed');
    assert.deepEqual([verdict.passed, verdict.against, verdict.tolerance], [true, 'v3', 0.01]);
  });

  it('when it lost on the test set but not significantly, then it says so with McNemar\'s p', () => {
    const verdict = judged('promoted', [check.worse('test', 0.964, 0.97, 14, 8, 0.14), check.floor(0.964, 0.97)]);
    assert.equal(verdict.summary, "promoted: lost 0.6 points against v3 on the test set, not significantly worse (McNemar's p = 0.14); all 2 checks passed");
  });

  it('when McNemar\'s test and the corrections failed, then the rejection gives both reasons with their numbers, and leaves out the checks that passed', () => {
    const verdict = judged('rejected', [
      check.worse('test', 0.95, 0.97, 30, 10, 0.0011),
      check.worse('feedback', 0.9, 0.9, 1, 1, 1),
      check.floor(0.95, 0.955),
      check.corrections(120, [4, 9, 17, 21, 30], 2),
    ]);
    assert.equal(verdict.passed, false);
    assert.equal(
      verdict.summary,
      "rejected: worse than v3 on the test set: only v3 was right on 30 digits, only the candidate on 10 (McNemar's p = 0.0011, below 0.05); "
        + 'breaks 5 of the 120 labelled digits v3 answers right, more than the 2 allowed',
    );
  });

  it('when the floor and a class failed, then it names the best served version, the floor, the classes and the digits they lost', () => {
    const verdict = judged('rejected', [
      check.worse('test', 0.95, 0.955, 12, 7, 0.18),
      check.floor(0.95, 0.975),
      check.class([['7', 0.96, 0.9, 100], ['9', 0.95, 0.88, 100], ['1', 0.99, 0.98, 100]]),
    ]);
    assert.equal(
      verdict.summary,
      'rejected: test accuracy 95.00%, below the floor of 96.50% (v5 reached 97.50%, less the 1-point tolerance); '
        + 'recall fell by more than the 5-point margin on digit 7, from 96.0% to 90.0% (6 of 100 digits), and on digit 9, from 95.0% to 88.0% (7 of 100 digits)',
    );
  });

  it('when a check failed on measurements its figures cannot explain, then its own sentence is its reason', () => {
    const invalid: GateCheck = { kind: 'worse', set: 'test', candidate: NaN, incumbent: 0.97, delta: null, passed: false, summary: "the candidate's accuracy on 'test' is invalid (NaN)" };
    const verdict = judged('rejected', [invalid, check.floor(0.97, 0.97)]);
    assert.equal(verdict.summary, "rejected: the candidate's accuracy on 'test' is invalid (NaN)");
  });

  it('when there was no model to compare with, then it gives the accuracy alone and no version it was judged against', () => {
    const alone: GateCheck = { kind: 'worse', set: 'test', candidate: 0.97, incumbent: null, delta: null, passed: true, summary: "'test': 97.00 %, no incumbent to compare with" };
    const noFloor: GateCheck = { kind: 'floor', set: 'test', candidate: 0.97, incumbent: null, delta: null, passed: true, summary: 'no floor yet' };
    const verdict = judged('promoted', [alone, noFloor]);
    assert.equal(verdict.summary, 'promoted: 97.0% on the test set, with nothing to compare it with; all 2 checks passed');
    assert.equal(verdict.against, null);
  });
});
