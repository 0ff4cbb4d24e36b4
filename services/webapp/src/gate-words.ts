import { numberParameter } from '@mlpl/shared';
import type { TrainingRunRow } from '@mlpl/shared';
import type { GateCheck, GateVerdict, ModelDetail } from './registry-types.js';

/**
 * The gate's verdict in plain words, built from the numbers the training run recorded (its
 * checks and their figures, the digits each set held, its tolerance), never from the gate's own
 * text, which stays beside it as `reason`. Where the figures cannot say why (invalid metrics,
 * sets of different sizes), a check's own sentence (its `summary`) stands in for it; for runs
 * recorded before the checks had kinds, the gate's own text.
 */

/** Accuracies are ratios k/n: differences this small are float noise, not a change. */
const FLOAT_SLACK = 1e-9;

/**
 * How the page and people name the sets the training service evaluates on. Feedback:
 * corrections and confirmations alike; 'corrections' is every label people sent, trained on or not.
 */
const SET_NAMES: Record<string, string> = { test: 'the test set', feedback: 'the held-out feedback', corrections: 'the labelled digits' };

const setName = (set: string) => SET_NAMES[set] ?? `the “${set}” set`;

/** A number of percentage points as few digits as it needs: 0.6, 2.1, 12.5, 1, 0.05. */
function pointsText(fraction: number): string {
  const value = Math.abs(fraction) * 100;
  return String(Number(value.toFixed(value < 0.1 ? 2 : 1)));
}

const pointsWord = (text: string) => (text === '1' ? 'point' : 'points');
const percentText = (fraction: number, digits = 1) => `${(fraction * 100).toFixed(digits)}%`;
const whole = (n: number) => n.toLocaleString('en');
const digits = (n: number) => `${whole(n)} ${n === 1 ? 'digit' : 'digits'}`;

/** McNemar's p as people read it: two significant digits, tiny ones as a bound. */
function pValueText(p: number): string {
  return p < 0.001 ? 'p < 0.001' : `p = ${Number(p.toPrecision(2))}`;
}

function digitsText(delta: number, testCount: number | undefined): string {
  if (testCount === undefined || !Number.isInteger(testCount) || testCount <= 0) return '';
  return ` (${Math.round(Math.abs(delta) * testCount).toLocaleString('en')} of ${testCount.toLocaleString('en')} digits)`;
}

/**
 * One set's result under the gate of runs recorded before the checks had kinds (a set's
 * accuracy within the tolerance), or null when the numbers do not explain it. `against` names
 * the version compared with; the summary names it in its first comparison only.
 */
function accuracyClause(check: GateCheck, testCount: number | undefined, tolerance: number | null, against: string | null): string | null {
  const where = setName(check.set);
  if (check.incumbent === null || check.delta === null) {
    return check.passed && Number.isFinite(check.candidate) ? `${percentText(check.candidate)} on ${where}, with nothing to compare it with` : null;
  }
  const delta = check.delta;
  if (Math.abs(delta) <= FLOAT_SLACK) return check.passed ? `as good${against === null ? '' : ` as ${against}`} on ${where}` : null;
  const points = pointsText(delta);
  if (delta > 0) return check.passed ? `${points} ${pointsWord(points)} better${against === null ? '' : ` than ${against}`} on ${where}` : null;
  const lost = `lost ${points} ${pointsWord(points)}${against === null ? '' : ` against ${against}`} on ${where}`;
  if (tolerance === null) return `${lost}${digitsText(delta, testCount)}, ${check.passed ? 'which the gate allowed' : 'more than the gate allowed'}`;
  const allowed = `the ${pointsText(tolerance)}-point tolerance`;
  if (-delta <= tolerance + FLOAT_SLACK) return check.passed ? `${lost}, within ${allowed}` : null;
  // Beyond the tolerance yet passed: the gate lets a loss of too few digits to tell from chance through.
  return check.passed ? `${lost}${digitsText(delta, testCount)}, more than ${allowed} but too few digits to tell from chance` : `${lost}${digitsText(delta, testCount)}, more than ${allowed}`;
}

/** How a candidate that passed did on a set against `vs` (a 'worse' check): the headline of a passed verdict. */
function headline(check: GateCheck, vs: string): string | null {
  const where = setName(check.set);
  if (check.incumbent === null || check.delta === null) {
    return Number.isFinite(check.candidate) ? `${percentText(check.candidate)} on ${where}, with nothing to compare it with` : null;
  }
  if (Math.abs(check.delta) <= FLOAT_SLACK) return `as good as ${vs} on ${where}`;
  const points = pointsText(check.delta);
  if (check.delta > 0) return `${points} ${pointsWord(points)} better than ${vs} on ${where}`;
  const lost = `lost ${points} ${pointsWord(points)} against ${vs} on ${where}`;
  return check.mcnemar === undefined ? lost : `${lost}, not significantly worse (McNemar's ${pValueText(check.mcnemar.pValue)})`;
}

/** Why a check of today's gate failed, from its figures; its own sentence when it has none (invalid measurements). */
function failure(check: GateCheck, vs: string): string {
  const where = setName(check.set);
  if (check.kind === 'worse' && check.mcnemar !== undefined) {
    const { incumbentOnly, candidateOnly, pValue, significance } = check.mcnemar;
    return `worse than ${vs} on ${where}: only ${vs} was right on ${digits(incumbentOnly)}, only the candidate on ${whole(candidateOnly)} (McNemar's ${pValueText(pValue)}, below ${significance})`;
  }
  if (check.kind === 'floor' && check.floor !== undefined) {
    const { floor, best, bestVersion, tolerance } = check.floor;
    const points = pointsText(tolerance);
    return `test accuracy ${percentText(check.candidate, 2)}, below the floor of ${percentText(floor, 2)} (${bestVersion} reached ${percentText(best, 2)}, less the ${points}-point tolerance)`;
  }
  if (check.kind === 'corrections' && check.corrections !== undefined) {
    const { broken, incumbentRight, allowance } = check.corrections;
    return `breaks ${whole(broken)} of the ${whole(incumbentRight)} labelled digits ${vs} answers right, more than the ${whole(allowance)} allowed`;
  }
  if (check.kind === 'class' && check.classes !== undefined) {
    const failing = check.classes.classes.filter((c) => !c.passed);
    if (failing.length > 0) {
      const each = failing.map((c) => `on digit ${c.label}, from ${percentText(c.incumbent)} to ${percentText(c.candidate)} (${c.digitsLost} of ${digits(c.support)})`);
      return `recall fell by more than the ${pointsText(check.classes.margin)}-point margin ${each.join(', and ')}`;
    }
  }
  return check.summary;
}

/** The tolerance the run was trained with (`TRAINING_TOLERANCE`, kept in its parameters; today's gate also keeps it with the floor). */
function toleranceOf(run: TrainingRunRow, checks: GateCheck[]): number | null {
  return numberParameter(run.parameters, 'tolerance') ?? checks.find((check) => check.floor !== undefined)?.floor?.tolerance ?? null;
}

/** What a run recorded of its evaluation as the pages show it, or null when it recorded none (it failed before, or predates the record). */
export function evaluationOf(run: TrainingRunRow | undefined): ModelDetail['evaluation'] {
  const evaluation = run?.evaluation;
  if (evaluation === null || evaluation === undefined) return null;
  return { candidate: evaluation.candidate, incumbent: evaluation.incumbent, checks: evaluation.checks };
}

/** The clauses of a verdict under the gate of runs recorded before the kinds; null when the numbers do not explain it. */
function accuracyClauses(checks: GateCheck[], passed: boolean, evaluation: ModelDetail['evaluation'], tolerance: number | null, vs: string): string[] | null {
  const shown = passed ? checks : checks.filter((check) => !check.passed);
  const firstCompared = shown.find((check) => check.incumbent !== null);
  const clauses = shown.map((check) => accuracyClause(check, evaluation?.candidate[check.set]?.testCount, tolerance, check === firstCompared ? vs : null));
  return clauses.length > 0 && clauses.every((text) => text !== null) ? (clauses as string[]) : null;
}

/**
 * Today's gate: a rejection gives each failed check's reason; a pass, how the candidate did on
 * the test set (or the first set compared) and that every check passed.
 */
function checkClauses(checks: GateCheck[], passed: boolean, vs: string): string[] {
  if (!passed) return checks.filter((check) => !check.passed).map((check) => failure(check, vs));
  const main = checks.find((check) => check.kind === 'worse' && check.set === 'test') ?? checks.find((check) => check.kind === 'worse');
  const how = main === undefined ? null : headline(main, vs);
  const all = checks.length === 1 ? 'its one check passed' : `all ${checks.length} checks passed`;
  return how === null ? [all] : [how, all];
}

export function gateVerdict(run: TrainingRunRow, evaluation: ModelDetail['evaluation']): GateVerdict {
  const checks = evaluation?.checks ?? [];
  const tolerance = toleranceOf(run, checks);
  // The floor compares with the best served version, not with the one the run was judged against.
  const compared = checks.some((check) => check.kind !== 'floor' && check.incumbent !== null);
  const against = compared ? run.parentVersion : null;
  const vs = against ?? 'the model in service then';
  // A run names its version only once the gate has let it through; 'failed' then means the hand-over failed.
  const passed = checks.length > 0 ? checks.every((check) => check.passed) : run.status === 'promoted';
  const verdict = run.status === 'promoted' ? 'promoted' : !passed ? 'rejected' : run.status === 'running' ? 'passed the gate, being released' : 'passed the gate, not released';
  const recordedBefore = checks.every((check) => check.kind === 'accuracy');
  const clauses = checks.length === 0 ? null : recordedBefore ? accuracyClauses(checks, passed, evaluation, tolerance, vs) : checkClauses(checks, passed, vs);
  return {
    promoted: run.status === 'promoted',
    passed,
    reason: run.gateReason,
    summary: clauses === null ? (run.gateReason ?? verdict) : `${verdict}: ${clauses.join('; ')}`,
    against,
    tolerance,
  };
}
