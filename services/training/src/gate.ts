import type { GateCheck, ModelMetrics } from '@mlpl/shared';

export type GateDecision = { promote: boolean; reason: string; checks: GateCheck[] };

export type GateInput = {
  candidate: Readonly<Record<string, ModelMetrics>>;
  incumbent: Readonly<Record<string, ModelMetrics>>;
  /** How much lower the candidate's accuracy may be on any set, absolute: 0.01 = one point. */
  tolerance: number;
};

/**
 * Accuracies are ratios k/n, so a difference exactly at the tolerance can come out a few ulps
 * beyond it (0.89 − 0.9 = −0.010000000000000009); this slack keeps such a tie a pass.
 */
const FLOAT_SLACK = 1e-9;

/**
 * The fewest digits, net, a candidate must lose on a set to fail it. A smaller loss cannot be
 * told from chance: even if every digit that changed went the wrong way, a one-sided sign test
 * on four digits gives p = 0.5^4 ≈ 0.06; on five, 0.03. Without this, a held-out feedback set
 * of three digits fails any candidate that changes its mind on one of them (33 points), and
 * the loop stalls on noise. On the base test set (1,000 digits at a tolerance of one point,
 * ten digits) it changes nothing.
 */
export const MIN_DIGITS_LOST = 5;

/**
 * Promote only if, on every set evaluated for both models, the candidate's accuracy is at
 * most `tolerance` below the incumbent's, or it lost fewer than MIN_DIGITS_LOST digits there
 * (too few to be told from chance). The rules beyond that, all failing safe (reject):
 * - a set present only for the candidate (no incumbent yet, or a set the incumbent was not
 *   evaluated on) has nothing to compare with: it passes if the candidate's metrics are valid;
 * - a set present only for the incumbent fails: the candidate was not shown to be no worse;
 * - invalid metrics on either side fail: accuracy not a number in [0, 1], testCount not a
 *   positive whole number, or the two models evaluated on different numbers of digits;
 * - no set at all rejects: nothing was shown.
 * The reason names every failing set with its numbers, in percent.
 */
export function decideGate(input: GateInput): GateDecision {
  const { candidate, incumbent, tolerance } = input;
  if (!(Number.isFinite(tolerance) && tolerance >= 0 && tolerance <= 1)) {
    throw new RangeError(`gate tolerance must be an accuracy difference in [0, 1], got ${tolerance}`);
  }
  const names = [...new Set([...Object.keys(candidate), ...Object.keys(incumbent)])];
  if (names.length === 0) {
    return { promote: false, reason: 'rejected: the candidate was evaluated on no set', checks: [] };
  }

  const checks: GateCheck[] = [];
  const failures: string[] = [];
  for (const set of names) {
    const mine = candidate[set];
    const theirs = incumbent[set];
    const candidateAccuracy = mine?.accuracy ?? NaN;
    const incumbentAccuracy = theirs === undefined ? null : theirs.accuracy;
    const delta = incumbentAccuracy === null ? null : candidateAccuracy - incumbentAccuracy;
    const problem = findProblem(set, mine, theirs, delta, tolerance);
    checks.push({ set, candidate: candidateAccuracy, incumbent: incumbentAccuracy, delta, passed: problem === null });
    if (problem !== null) failures.push(problem);
  }

  if (failures.length > 0) return { promote: false, reason: `rejected: ${failures.join('; ')}`, checks };
  const compared = checks.filter((check) => check.incumbent !== null);
  const reason =
    compared.length === 0
      ? `promoted: no incumbent to compare with; the candidate scored ${checks.map(describeCandidate).join(', ')}`
      : `promoted: no set lost more than ${points(tolerance)} points and ${MIN_DIGITS_LOST} digits or more against the incumbent: ${compared.map(describeComparison).join(', ')}`;
  return { promote: true, reason, checks };
}

/** Why `set` fails, as a clause naming the set and its numbers, or null when it passes. */
function findProblem(
  set: string,
  mine: ModelMetrics | undefined,
  theirs: ModelMetrics | undefined,
  delta: number | null,
  tolerance: number,
): string | null {
  if (mine === undefined) return `the candidate was not evaluated on '${set}', the incumbent was`;
  const mineInvalid = invalidMetrics(mine);
  if (mineInvalid !== null) return `the candidate's metrics on '${set}' are invalid (${mineInvalid})`;
  if (theirs === undefined || delta === null) return null;
  const theirsInvalid = invalidMetrics(theirs);
  if (theirsInvalid !== null) return `the incumbent's metrics on '${set}' are invalid (${theirsInvalid})`;
  if (mine.testCount !== theirs.testCount) {
    return `on '${set}' the models were evaluated on different data (${mine.testCount} vs ${theirs.testCount} digits)`;
  }
  const digitsLost = Math.round(-delta * mine.testCount);
  if (delta < -tolerance - FLOAT_SLACK && digitsLost >= MIN_DIGITS_LOST) {
    return (
      `on '${set}' the candidate's accuracy ${percent(mine.accuracy)} is ${points(-delta)} points below ` +
      `the incumbent's ${percent(theirs.accuracy)} (${digitsLost} of ${mine.testCount} digits), more than the tolerance of ${points(tolerance)}`
    );
  }
  return null;
}

function invalidMetrics(metrics: ModelMetrics): string | null {
  const { accuracy, testCount } = metrics;
  if (typeof accuracy !== 'number' || !(accuracy >= 0 && accuracy <= 1)) return `accuracy ${String(accuracy)}`;
  if (typeof testCount !== 'number' || !Number.isInteger(testCount) || testCount <= 0) return `testCount ${String(testCount)}`;
  return null;
}

function describeCandidate(check: GateCheck): string {
  return `${percent(check.candidate)} on '${check.set}'`;
}

function describeComparison(check: GateCheck): string {
  return `'${check.set}' (${percent(check.candidate)} vs ${percent(check.incumbent ?? NaN)})`;
}

function percent(accuracy: number): string {
  return `${(accuracy * 100).toFixed(2)} %`;
}

function points(difference: number): string {
  return (difference * 100).toFixed(2);
}
