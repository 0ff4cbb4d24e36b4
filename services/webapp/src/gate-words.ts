import { numberParameter } from '@mlpl/shared';
import type { TrainingRunRow } from '@mlpl/shared';
import type { GateCheck, GateVerdict, ModelDetail } from './registry-types.js';

/**
 * The gate's verdict in plain words, built from the numbers the training run recorded (its
 * checks, the digits each set held, its tolerance), never from the gate's own text, which
 * stays beside it as `reason`. Only where the numbers cannot say why (invalid metrics, sets
 * of different sizes) does the summary fall back to that text.
 */

/** Accuracies are ratios k/n: differences this small are float noise, not a change. */
const FLOAT_SLACK = 1e-9;

/** How the page and people name the sets the training service evaluates on. Feedback: corrections and confirmations alike. */
const SET_NAMES: Record<string, string> = { test: 'the test set', feedback: 'the held-out feedback' };

const setName = (set: string) => SET_NAMES[set] ?? `the “${set}” set`;

/** A number of percentage points as few digits as it needs: 0.6, 2.1, 12.5, 1, 0.05. */
function pointsText(fraction: number): string {
  const value = Math.abs(fraction) * 100;
  return String(Number(value.toFixed(value < 0.1 ? 2 : 1)));
}

const pointsWord = (text: string) => (text === '1' ? 'point' : 'points');

function digitsText(delta: number, testCount: number | undefined): string {
  if (testCount === undefined || !Number.isInteger(testCount) || testCount <= 0) return '';
  return ` (${Math.round(Math.abs(delta) * testCount).toLocaleString('en')} of ${testCount.toLocaleString('en')} digits)`;
}

/**
 * One set's result as a clause, or null when the numbers do not explain it. `against` names
 * the version compared with; the summary names it in its first comparison only.
 */
function clause(check: GateCheck, testCount: number | undefined, tolerance: number | null, against: string | null): string | null {
  const where = setName(check.set);
  if (check.incumbent === null || check.delta === null) {
    return check.passed && Number.isFinite(check.candidate) ? `${(check.candidate * 100).toFixed(1)}% on ${where}, with nothing to compare it with` : null;
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

/** The tolerance the run was trained with (`TRAINING_TOLERANCE`, kept in its parameters). */
function toleranceOf(run: TrainingRunRow): number | null {
  return numberParameter(run.parameters, 'tolerance');
}

/** What a run recorded of its evaluation as the pages show it, or null when it recorded none (it failed before, or predates the record). */
export function evaluationOf(run: TrainingRunRow | undefined): ModelDetail['evaluation'] {
  const evaluation = run?.evaluation;
  if (evaluation === null || evaluation === undefined) return null;
  return { candidate: evaluation.candidate, incumbent: evaluation.incumbent, checks: evaluation.checks };
}

export function gateVerdict(run: TrainingRunRow, evaluation: ModelDetail['evaluation']): GateVerdict {
  const checks = evaluation?.checks ?? [];
  const tolerance = toleranceOf(run);
  const against = checks.some((check) => check.incumbent !== null) ? run.parentVersion : null;
  // A run names its version only once the gate has let it through; 'failed' then means the hand-over failed.
  const passed = checks.length > 0 ? checks.every((check) => check.passed) : run.status === 'promoted';
  const verdict = run.status === 'promoted' ? 'promoted' : !passed ? 'rejected' : run.status === 'running' ? 'passed the gate, being released' : 'passed the gate, not released';
  const shown = passed ? checks : checks.filter((check) => !check.passed);
  const firstCompared = shown.find((check) => check.incumbent !== null);
  const clauses = shown.map((check) =>
    clause(check, evaluation?.candidate[check.set]?.testCount, tolerance, check === firstCompared ? (against ?? 'the model in service then') : null),
  );
  const explained = clauses.length > 0 && clauses.every((text) => text !== null);
  return {
    promoted: run.status === 'promoted',
    passed,
    reason: run.gateReason,
    summary: explained ? `${verdict}: ${clauses.join('; ')}` : (run.gateReason ?? verdict),
    against,
    tolerance,
  };
}
