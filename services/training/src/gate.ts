import type { ClassChange, GateCheck, ModelMetrics } from '@mlpl/shared';

/**
 * The gate: a candidate is promoted only if it is no worse than the model in service, in four
 * ways, each a check with its numbers in the run record:
 * - worse: on every evaluated set but the corrections (the base test set, the held-out
 *   feedback), McNemar's exact test on the digits the two models disagree on does not show
 *   the candidate worse at the significance (one-sided: more digits only the incumbent got
 *   right than only the candidate, beyond chance);
 * - floor: its test accuracy is not below the best test accuracy any served version reached on
 *   the same test set, less the tolerance, so versions cannot drift down a little at a time;
 * - corrections: of the corrections the incumbent answers right, it breaks (gets wrong) no more
 *   than the allowance;
 * - class: no class's recall on the test set falls by more than the margin (and by at least
 *   `CLASS_MIN_DIGITS` digits, so a class of a handful of digits does not fail on one).
 * Everything fails safe: a missing or invalid measurement rejects.
 */

export type GateRules = {
  /** The floor's slack below the best served test accuracy: 0.01 = one point (TRAINING_TOLERANCE). */
  tolerance: number;
  /** McNemar's one-sided p below which the candidate counts as worse (TRAINING_GATE_SIGNIFICANCE). */
  significance: number;
  /** Share of the corrections the incumbent answers right that the candidate may break (TRAINING_GATE_BREAK_SHARE); at least one. */
  breakShare: number;
  /** Recall a class may lose on the test set (TRAINING_GATE_CLASS_MARGIN): 0.05 = five points. */
  classMargin: number;
};

export const DEFAULT_GATE_RULES: GateRules = { tolerance: 0.01, significance: 0.05, breakShare: 0.02, classMargin: 0.05 };

/** A class fails only when it lost at least this many digits: on a test set of 200, one digit of a class is 5 points. */
export const CLASS_MIN_DIGITS = 3;

/** Per digit of a set: 1 answered right, 0 wrong, −1 not evaluated (a class the model does not learn). */
export type Outcomes = Int8Array;

/** One evaluated set, both models: their figures and, digit by digit, which they got right. */
export type JudgedSet = {
  candidate: ModelMetrics;
  incumbent: ModelMetrics | null;
  candidateOutcomes: Outcomes;
  incumbentOutcomes: Outcomes | null;
};

export type GateInput = {
  /** By set name: 'test' (the fixed base test set), 'feedback' (held-out corrections), 'corrections' (every correction). */
  sets: Readonly<Record<string, JudgedSet>>;
  /** Image ids of the 'corrections' set, in order: named in the record when broken. */
  correctionIds?: readonly number[];
  /** The best test accuracy a served version reached on this test set; null when none was scored. */
  best: { version: string; accuracy: number } | null;
  rules: GateRules;
};

export type GateDecision = { promote: boolean; reason: string; checks: GateCheck[] };

/** The set every correction is in: trained on, so judged by what breaks, not by McNemar. */
export const CORRECTIONS_SET = 'corrections';
const TEST_SET = 'test';

/**
 * Accuracies are ratios k/n, so a difference exactly at the tolerance can come out a few ulps
 * beyond it (0.89 − 0.9 = −0.010000000000000009); this slack keeps such a tie a pass.
 */
const FLOAT_SLACK = 1e-9;

export function decideGate(input: GateInput): GateDecision {
  checkRules(input.rules);
  const names = Object.keys(input.sets);
  if (names.length === 0) return { promote: false, reason: 'rejected: the candidate was evaluated on no set', checks: [] };
  const checks: GateCheck[] = [];
  for (const set of names) {
    const judged = input.sets[set] as JudgedSet;
    const invalid = invalidSet(set, judged);
    if (invalid !== null) {
      checks.push({ kind: 'worse', set, candidate: judged.candidate.accuracy, incumbent: judged.incumbent?.accuracy ?? null, delta: null, passed: false, summary: invalid });
      continue;
    }
    if (set === CORRECTIONS_SET) checks.push(correctionsCheck(judged, input.correctionIds ?? [], input.rules.breakShare));
    else checks.push(worseCheck(set, judged, input.rules.significance));
  }
  const test = input.sets[TEST_SET];
  if (test === undefined) {
    checks.push({ kind: 'floor', set: TEST_SET, candidate: NaN, incumbent: null, delta: null, passed: false, summary: 'the candidate was not evaluated on the test set' });
  } else {
    checks.push(floorCheck(test.candidate, input.best, input.rules.tolerance));
    if (test.incumbent !== null) checks.push(classCheck(test.candidate, test.incumbent, input.rules.classMargin));
  }
  const failed = checks.filter((check) => !check.passed);
  if (failed.length > 0) return { promote: false, reason: `rejected: ${failed.map((check) => check.summary).join('; ')}`, checks };
  return { promote: true, reason: `promoted: ${checks.map((check) => check.summary).join('; ')}`, checks };
}

function checkRules(rules: GateRules): void {
  const within = (value: number, low: number, high: number) => Number.isFinite(value) && value >= low && value <= high;
  if (!within(rules.tolerance, 0, 1)) throw new RangeError(`gate tolerance must be an accuracy difference in [0, 1], got ${rules.tolerance}`);
  if (!within(rules.significance, 0, 1) || rules.significance === 0) throw new RangeError(`gate significance must be in (0, 1], got ${rules.significance}`);
  if (!within(rules.breakShare, 0, 1)) throw new RangeError(`gate break share must be in [0, 1], got ${rules.breakShare}`);
  if (!within(rules.classMargin, 0, 1)) throw new RangeError(`gate class margin must be in [0, 1], got ${rules.classMargin}`);
}

/** Why a set's measurements cannot be judged, or null. */
function invalidSet(set: string, judged: JudgedSet): string | null {
  const bad = (who: string, metrics: ModelMetrics) => {
    const { accuracy, testCount } = metrics;
    if (typeof accuracy !== 'number' || !(accuracy >= 0 && accuracy <= 1)) return `the ${who}'s accuracy on '${set}' is invalid (${String(accuracy)})`;
    if (typeof testCount !== 'number' || !Number.isInteger(testCount) || testCount <= 0) return `the ${who}'s digit count on '${set}' is invalid (${String(testCount)})`;
    return null;
  };
  const mine = bad('candidate', judged.candidate);
  if (mine !== null) return mine;
  if (judged.incumbent === null) return null;
  const theirs = bad('incumbent', judged.incumbent);
  if (theirs !== null) return theirs;
  if (judged.candidate.testCount !== judged.incumbent.testCount || judged.candidateOutcomes.length !== judged.incumbentOutcomes?.length) {
    return `on '${set}' the models were evaluated on different data (${judged.candidate.testCount} vs ${judged.incumbent.testCount} digits)`;
  }
  return null;
}

/** Digits only the incumbent got right (b) and only the candidate got right (c). */
export function disagreements(candidate: Outcomes, incumbent: Outcomes): { incumbentOnly: number; candidateOnly: number } {
  let incumbentOnly = 0;
  let candidateOnly = 0;
  for (let i = 0; i < candidate.length; i++) {
    const mine = candidate[i];
    const theirs = incumbent[i];
    if (mine === -1 || theirs === -1) continue;
    if (theirs === 1 && mine === 0) incumbentOnly++;
    if (mine === 1 && theirs === 0) candidateOnly++;
  }
  return { incumbentOnly, candidateOnly };
}

/**
 * McNemar's exact test, one-sided: the probability of `incumbentOnly` or more of the n
 * disagreements going the incumbent's way if each were a fair coin (Binomial(n, ½) upper
 * tail). Summed in log space so 1,000 disagreements do not underflow.
 */
export function mcnemarPValue(incumbentOnly: number, candidateOnly: number): number {
  const n = incumbentOnly + candidateOnly;
  if (n === 0 || incumbentOnly === 0) return 1;
  const logFactorial = new Float64Array(n + 1);
  for (let k = 2; k <= n; k++) logFactorial[k] = (logFactorial[k - 1] ?? 0) + Math.log(k);
  let p = 0;
  for (let k = incumbentOnly; k <= n; k++) {
    p += Math.exp((logFactorial[n] ?? 0) - (logFactorial[k] ?? 0) - (logFactorial[n - k] ?? 0) - n * Math.LN2);
  }
  return Math.min(1, p);
}

function worseCheck(set: string, judged: JudgedSet, significance: number): GateCheck {
  const candidate = judged.candidate.accuracy;
  if (judged.incumbent === null || judged.incumbentOutcomes === null) {
    return { kind: 'worse', set, candidate, incumbent: null, delta: null, passed: true, summary: `'${set}': ${percent(candidate)}, no incumbent to compare with` };
  }
  const incumbent = judged.incumbent.accuracy;
  const { incumbentOnly, candidateOnly } = disagreements(judged.candidateOutcomes, judged.incumbentOutcomes);
  const pValue = mcnemarPValue(incumbentOnly, candidateOnly);
  const passed = !(incumbentOnly > candidateOnly && pValue < significance);
  const figures = `${percent(candidate)} vs ${percent(incumbent)}; only the incumbent right on ${incumbentOnly}, only the candidate on ${candidateOnly}, McNemar p = ${pValue.toPrecision(2)}`;
  return {
    kind: 'worse',
    set,
    candidate,
    incumbent,
    delta: candidate - incumbent,
    passed,
    summary: passed ? `'${set}' not worse (${figures})` : `on '${set}' the candidate is worse than the incumbent (${figures} < ${significance})`,
    mcnemar: { incumbentOnly, candidateOnly, pValue, significance },
  };
}

function floorCheck(test: ModelMetrics, best: GateInput['best'], tolerance: number): GateCheck {
  const candidate = test.accuracy;
  if (best === null) {
    return { kind: 'floor', set: TEST_SET, candidate, incumbent: null, delta: null, passed: true, summary: 'no served version was scored on this test set: no floor yet' };
  }
  const floor = best.accuracy - tolerance;
  const passed = candidate >= floor - FLOAT_SLACK;
  const figures = `the best served, ${best.version}, reached ${percent(best.accuracy)}; floor ${percent(floor)} with a tolerance of ${points(tolerance)} points`;
  return {
    kind: 'floor',
    set: TEST_SET,
    candidate,
    incumbent: best.accuracy,
    delta: candidate - best.accuracy,
    passed,
    summary: passed ? `test accuracy ${percent(candidate)} at or above the floor (${figures})` : `test accuracy ${percent(candidate)} is below the floor (${figures})`,
    floor: { floor, best: best.accuracy, bestVersion: best.version, tolerance },
  };
}

function correctionsCheck(judged: JudgedSet, ids: readonly number[], breakShare: number): GateCheck {
  const candidate = judged.candidate.accuracy;
  if (judged.incumbentOutcomes === null || judged.incumbent === null) {
    return { kind: 'corrections', set: CORRECTIONS_SET, candidate, incumbent: null, delta: null, passed: true, summary: `corrections: ${percent(candidate)}, no incumbent to compare with` };
  }
  let incumbentRight = 0;
  const brokenImageIds: number[] = [];
  judged.incumbentOutcomes.forEach((theirs, i) => {
    if (theirs !== 1) return;
    incumbentRight++;
    if (judged.candidateOutcomes[i] === 0) brokenImageIds.push(ids[i] ?? -1);
  });
  const broken = brokenImageIds.length;
  const allowance = Math.max(1, Math.floor(breakShare * incumbentRight));
  const passed = broken <= allowance;
  const figures = `${broken} of the ${incumbentRight} corrections the incumbent answers right are wrong now; allowed ${allowance}`;
  return {
    kind: 'corrections',
    set: CORRECTIONS_SET,
    candidate,
    incumbent: judged.incumbent.accuracy,
    delta: candidate - judged.incumbent.accuracy,
    passed,
    summary: passed ? `corrections kept (${figures})` : `the candidate breaks earlier corrections (${figures}: images ${brokenImageIds.slice(0, 10).join(', ')}${broken > 10 ? ', …' : ''})`,
    corrections: { incumbentRight, broken, allowance, brokenImageIds },
  };
}

function classCheck(candidate: ModelMetrics, incumbent: ModelMetrics, margin: number): GateCheck {
  const theirs = new Map((incumbent.perClass ?? []).map((c) => [c.label, c]));
  const classes: ClassChange[] = (candidate.perClass ?? []).flatMap((mine) => {
    const other = theirs.get(mine.label);
    if (other === undefined || mine.support !== other.support || mine.support === 0) return [];
    const digitsLost = Math.round((other.recall - mine.recall) * mine.support);
    const passed = !(other.recall - mine.recall > margin + FLOAT_SLACK && digitsLost >= CLASS_MIN_DIGITS);
    return [{ label: mine.label, candidate: mine.recall, incumbent: other.recall, digitsLost, support: mine.support, passed }];
  });
  if (classes.length === 0) {
    return { kind: 'class', set: TEST_SET, candidate: NaN, incumbent: null, delta: null, passed: false, summary: 'no per-class figures to compare on the test set' };
  }
  const worst = classes.reduce((a, b) => (b.candidate - b.incumbent < a.candidate - a.incumbent ? b : a));
  const failing = classes.filter((c) => !c.passed);
  const rule = `margin ${points(margin)} points and ${CLASS_MIN_DIGITS} digits`;
  return {
    kind: 'class',
    set: TEST_SET,
    candidate: worst.candidate,
    incumbent: worst.incumbent,
    delta: worst.candidate - worst.incumbent,
    passed: failing.length === 0,
    summary:
      failing.length === 0
        ? `no class lost more than the ${rule} (most: ${worst.label}, ${percent(worst.incumbent)} → ${percent(worst.candidate)})`
        : `classes lost more than the ${rule}: ${failing.map((c) => `${c.label} ${percent(c.incumbent)} → ${percent(c.candidate)} (${c.digitsLost} of ${c.support})`).join(', ')}`,
    classes: { margin, minDigits: CLASS_MIN_DIGITS, classes },
  };
}

function percent(accuracy: number): string {
  return `${(accuracy * 100).toFixed(2)} %`;
}

function points(difference: number): string {
  return (difference * 100).toFixed(2);
}
