import type { RowDataPacket } from 'mysql2/promise';
import { numberParameter, toRunRow } from '@mlpl/shared';
import type { TrainingRunRow } from '@mlpl/shared';
import { predict, score, sendFeedback, servedVersion } from './loop-support.js';
import type { Digit, Prediction } from './loop-support.js';
import { waitUntil } from './service-process.js';
import type { Stack } from './stack.js';

/**
 * Rounds of feedback on a running stack, as people on the draw page give it, and what the
 * pipeline learns from them: each round predicts `perRound` pool digits through /api/predict,
 * confirms or corrects each through /api/feedback with the prediction's id (as the page does),
 * waits for the training run those labels start and the version it makes, and measures a
 * held-out set through /api/predict. For bench/learn (the curve) and learn.test (its direction).
 */

/**
 * Which pool digits a round sends. 'seeded': the next ones in the pool's seeded order, whatever
 * the model says of them. 'mixed': up to half corrections (digits the model in service gets
 * wrong), the rest confirmations, so a round has both while the model still errs. 'wrong-first':
 * as many corrections as there are, topped up with confirmations.
 */
export const MIXES = ['seeded', 'mixed', 'wrong-first'] as const;
export type Mix = (typeof MIXES)[number];

export type Sent = { digit: Digit; round: number; predicted: number; correction: boolean; imageId: number };

/** What a training run recorded, as far as the curve needs it. */
export type RunRecord = {
  id: number;
  status: TrainingRunRow['status'];
  modelVersion: string | null;
  parentVersion: string | null;
  /** The gate's verdict in a few words: "promoted", "rejected: feedback −3.1 pts", "failed: …". */
  verdict: string;
  /** Accuracy on the base test set, in [0, 1]; null where the run did not evaluate that model. */
  test: { candidate: number | null; incumbent: number | null };
  /** Digits in the base test set it evaluated on; null where it evaluated none. */
  testCount: number | null;
  /** TRAINING_TOLERANCE the run was gated with; null if it did not record it. */
  tolerance: number | null;
  /** Feedback image ids it trained on, and those it held out to evaluate on. */
  trainedImageIds: number[];
  heldOutImageIds: number[];
};

export type Accuracy = { right: number; total: number; accuracy: number; version: string };

export type RoundResult = {
  round: number;
  confirmations: number;
  corrections: number;
  /** The runs that finished during the round: one, unless a scheduler check split the round. */
  runs: RunRecord[];
  /** The version in service once the round settled. */
  version: string;
  /** Null where the round was not measured (LearnOptions.measure 'end'). */
  heldOut: Accuracy | null;
  /** Test-set accuracy of the version in service, as the round's last run measured it; null before any run. */
  servedTest: number | null;
  /** Labels no run has used once the round settled (/api/training's pending). */
  pending: number;
  seconds: number;
};

export type LearningReport = {
  start: Accuracy;
  /** The starting model's test-set accuracy, as the first run measured it (its incumbent). */
  startTest: number | null;
  rounds: RoundResult[];
  sent: Sent[];
  seconds: number;
};

export type LearnOptions = {
  rounds: number;
  perRound: number;
  mix: Mix;
  /** Measure the held-out set after every round (the curve) or only after the last. */
  measure: 'every-round' | 'end';
  /** How long a round may wait for its run and version; default 5 minutes. */
  roundTimeoutMs?: number;
  onRound?: (result: RoundResult) => void;
};

/** How many of `digits` the webapp answers right now, through /api/predict. */
export async function measure(webapp: string, digits: Digit[]): Promise<Accuracy> {
  const { right, version } = await score(webapp, digits);
  return { right, total: digits.length, accuracy: digits.length === 0 ? 0 : right / digits.length, version };
}

type Chosen = { digit: Digit; prediction: Prediction };

/** Picks the round's digits from the front of `queue` (see Mix), each predicted once; returns them and the queue without them. */
export async function chooseRound(webapp: string, queue: readonly Digit[], perRound: number, mix: Mix): Promise<{ chosen: Chosen[]; rest: Digit[] }> {
  const correctionsWanted = mix === 'seeded' ? 0 : mix === 'mixed' ? Math.ceil(perRound / 2) : perRound;
  const chosen: Chosen[] = [];
  const skipped: Chosen[] = [];
  let corrections = 0;
  for (const digit of queue) {
    if (chosen.length === perRound) break;
    const prediction = await predict(webapp, digit.png);
    const wrong = prediction.digit !== digit.label;
    const take = mix === 'seeded' || (wrong ? corrections < correctionsWanted : chosen.length - corrections < perRound - correctionsWanted);
    if (take) {
      chosen.push({ digit, prediction });
      if (wrong) corrections++;
    } else skipped.push({ digit, prediction });
  }
  // Too few of one kind: top up with the others in their order (their predictions still hold: nothing trains meanwhile).
  for (const item of skipped) {
    if (chosen.length === perRound) break;
    chosen.push(item);
  }
  const taken = new Set(chosen.map((item) => item.digit));
  return { chosen, rest: queue.filter((digit) => !taken.has(digit)) };
}

/**
 * Waits until the training scheduler's next check is at least `windowMs` away. A round's
 * labels are then all in before that check: after a rejected run the first new label starts a
 * run at the next check, which would otherwise train on part of the round.
 */
async function betweenChecks(stack: Stack, windowMs: number): Promise<void> {
  const status = (await (await fetch(`${stack.urls.training}/status`, { signal: AbortSignal.timeout(5000) })).json()) as { nextCheck: string | null };
  if (status.nextCheck === null) return;
  const wait = new Date(status.nextCheck).getTime() - Date.now();
  // 300 ms past the check: the check reads the database at once, before any of our labels.
  if (wait < windowMs) await new Promise((resolve) => setTimeout(resolve, Math.max(0, wait) + 300));
}

async function sendRound(webapp: string, chosen: Chosen[], round: number): Promise<Sent[]> {
  const sent: Sent[] = [];
  for (const { digit, prediction } of chosen) {
    const answer = await sendFeedback(webapp, digit.png, digit.label, prediction.predictionId);
    if (answer.status !== 201 || answer.body.id === undefined) throw new Error(`feedback for digit ${digit.index} answered ${answer.status}: ${JSON.stringify(answer.body)}`);
    sent.push({ digit, round, predicted: prediction.digit, correction: prediction.digit !== digit.label, imageId: answer.body.id });
  }
  return sent;
}

const points = (fraction: number) => `${fraction >= 0 ? '+' : '−'}${Math.abs(fraction * 100).toFixed(1)} pts`;

/** The gate's verdict in a few words, from its checks where they say it, else from its text. */
function verdictOf(run: TrainingRunRow): string {
  if (run.status === 'running' || run.status === 'promoted') return run.status;
  if (run.status === 'failed') return `failed: ${(run.error ?? 'no reason recorded').slice(0, 80)}`;
  const failing = (run.evaluation?.checks ?? []).filter((check) => !check.passed);
  if (failing.length > 0) return `rejected: ${failing.map((check) => `${check.set} ${check.delta === null ? 'invalid' : points(check.delta)}`).join(', ')}`;
  return (run.gateReason ?? 'rejected').slice(0, 100);
}

export function runRecord(run: TrainingRunRow): RunRecord {
  return {
    id: run.id,
    status: run.status,
    modelVersion: run.modelVersion,
    parentVersion: run.parentVersion,
    verdict: verdictOf(run),
    test: { candidate: run.evaluation?.candidate['test']?.accuracy ?? null, incumbent: run.evaluation?.incumbent['test']?.accuracy ?? null },
    testCount: run.evaluation?.candidate['test']?.testCount ?? null,
    tolerance: numberParameter(run.parameters, 'tolerance'),
    trainedImageIds: run.dataCounts?.feedbackImageIds ?? [],
    heldOutImageIds: run.dataCounts?.heldOutImageIds ?? [],
  };
}

/**
 * Runs after `afterId`, oldest first, read from the database: /status and /api/training/runs
 * carry the verdict but not the accuracies, which the curve needs for rejected runs too.
 */
async function runsAfter(stack: Stack, afterId: number): Promise<TrainingRunRow[]> {
  const connection = await stack.database.connection();
  try {
    const [rows] = await connection.query<RowDataPacket[]>('SELECT * FROM training_runs WHERE id > ? ORDER BY id', [afterId]);
    return rows.map(toRunRow);
  } finally {
    await connection.end();
  }
}

async function lastRunId(stack: Stack): Promise<number> {
  const connection = await stack.database.connection();
  try {
    const [rows] = await connection.query<RowDataPacket[]>('SELECT COALESCE(MAX(id), 0) AS id FROM training_runs');
    return Number(rows[0]?.id ?? 0);
  } finally {
    await connection.end();
  }
}

type TrainingProgress = { pending: number; threshold: number; waitsForNewLabels: boolean };

async function trainingProgress(webapp: string): Promise<TrainingProgress> {
  return (await (await fetch(`${webapp}/api/training`, { signal: AbortSignal.timeout(5000) })).json()) as TrainingProgress;
}

/**
 * Waits until the labels sent have done what they will: the run they started has finished,
 * a promoted version serves, and training would not start another run (fewer labels pending
 * than the threshold, or waiting for new ones after a rejection). Returns the runs that finished.
 */
async function settle(stack: Stack, afterId: number, timeoutMs: number): Promise<{ runs: TrainingRunRow[]; pending: number }> {
  const deadline = Date.now() + timeoutMs;
  const left = () => Math.max(1000, deadline - Date.now());
  let runs: TrainingRunRow[] = [];
  let seen = 0;
  for (;;) {
    await waitUntil(`training run after run ${afterId} (number ${seen + 1} of this round) to finish`, left(), async () => {
      runs = await runsAfter(stack, afterId);
      return runs.length > seen && runs.every((run) => run.status !== 'running');
    }, undefined, 500);
    seen = runs.length;
    const last = runs[runs.length - 1];
    if (last?.status === 'promoted' && last.modelVersion !== null) {
      const version = last.modelVersion;
      await waitUntil(`${version} to serve`, left(), async () => (await servedVersion(stack.urls.webapp)) === version);
    }
    const progress = await trainingProgress(stack.urls.webapp);
    if (progress.pending < progress.threshold || progress.waitsForNewLabels) return { runs, pending: progress.pending };
    if (Date.now() > deadline) throw new Error(`the round did not settle within ${timeoutMs} ms: ${progress.pending} labels still pending`);
  }
}

/** Test-set accuracy of the version in service after these runs, or `before` when none evaluated it. */
function servedTestAfter(runs: RunRecord[], before: number | null): number | null {
  let served = before;
  for (const run of runs) {
    if (run.status === 'promoted') served = run.test.candidate ?? served;
    else served = run.test.incumbent ?? served;
  }
  return served;
}

/**
 * Measures the held-out set, then runs `options.rounds` rounds from the front of `pool` (in
 * its order), each settling before the next: the learning curve on this stack.
 */
export async function runRounds(stack: Stack, sets: { pool: Digit[]; heldOut: Digit[] }, options: LearnOptions): Promise<LearningReport> {
  const started = performance.now();
  const webapp = stack.urls.webapp;
  if (sets.pool.length < options.rounds * options.perRound) {
    throw new Error(`the pool holds ${sets.pool.length} digits; ${options.rounds} rounds of ${options.perRound} need ${options.rounds * options.perRound}`);
  }
  const start = await measure(webapp, sets.heldOut);
  const rounds: RoundResult[] = [];
  const sent: Sent[] = [];
  let queue = sets.pool;
  let startTest: number | null = null;
  let servedTest: number | null = null;
  for (let round = 1; round <= options.rounds; round++) {
    const roundStarted = performance.now();
    const { chosen, rest } = await chooseRound(webapp, queue, options.perRound, options.mix);
    queue = rest;
    // Ten labels take well under a second to send; two seconds leaves room on a busy machine.
    await betweenChecks(stack, 2000);
    const afterId = await lastRunId(stack);
    const roundSent = await sendRound(webapp, chosen, round);
    sent.push(...roundSent);
    const settled = await settle(stack, afterId, options.roundTimeoutMs ?? 300_000);
    const runs = settled.runs.map(runRecord);
    startTest ??= runs.find((run) => run.test.incumbent !== null)?.test.incumbent ?? null;
    servedTest = servedTestAfter(runs, servedTest ?? startTest);
    const measured = options.measure === 'every-round' || round === options.rounds ? await measure(webapp, sets.heldOut) : null;
    const result: RoundResult = {
      round,
      confirmations: roundSent.filter((item) => !item.correction).length,
      corrections: roundSent.filter((item) => item.correction).length,
      runs,
      version: measured?.version ?? (await servedVersion(webapp)),
      heldOut: measured,
      servedTest,
      pending: settled.pending,
      seconds: (performance.now() - roundStarted) / 1000,
    };
    rounds.push(result);
    options.onRound?.(result);
  }
  return { start, startTest, rounds, sent, seconds: (performance.now() - started) / 1000 };
}

/** The corrections sent (digits the model got wrong then) that a promoted run trained on: what the model should now answer right. */
export function learntCorrections(report: LearningReport): Sent[] {
  const trained = new Set(report.rounds.flatMap((round) => round.runs.filter((run) => run.status === 'promoted').flatMap((run) => run.trainedImageIds)));
  return report.sent.filter((item) => item.correction && trained.has(item.imageId));
}

export type LearningTargets = {
  /** Held-out gain after the last round, percentage points. */
  gainPoints: number;
  /** How far below the start any round may measure, percentage points. */
  maxDropPoints: number;
};

/** The issue's targets: +3 points after 8 rounds of 10, no round more than 1 point below the start. */
export const DEFAULT_TARGETS: LearningTargets = { gainPoints: 3, maxDropPoints: 1 };

/** The default TRAINING_TOLERANCE, for runs that did not record theirs. */
const DEFAULT_TOLERANCE = 0.01;

export type LearningSummary = {
  start: number;
  end: number;
  gainPoints: number;
  /** The measured round furthest below the start (or least above it). */
  worst: { round: number; deltaPoints: number } | null;
  /** Best test-set accuracy any served version reached, minus the gate's tolerance. */
  testFloor: number | null;
  lowestServedTest: number | null;
  tolerance: number;
  passed: { gain: boolean; noDrop: boolean; testFloor: boolean };
};

/** The curve against the targets; test-set accuracy against its floor (a test accuracy of each version that served). */
export function summarise(report: LearningReport, targets: LearningTargets = DEFAULT_TARGETS): LearningSummary {
  const measured = report.rounds.filter((round): round is RoundResult & { heldOut: Accuracy } => round.heldOut !== null);
  const start = report.start.accuracy;
  const end = measured[measured.length - 1]?.heldOut.accuracy ?? start;
  const deltas = measured.map((round) => ({ round: round.round, deltaPoints: (round.heldOut.accuracy - start) * 100 }));
  const worst = deltas.reduce<(typeof deltas)[number] | null>((low, item) => (low === null || item.deltaPoints < low.deltaPoints ? item : low), null);
  const tolerance = report.rounds.flatMap((round) => round.runs).find((run) => run.tolerance !== null)?.tolerance ?? DEFAULT_TOLERANCE;
  const served = [report.startTest, ...report.rounds.map((round) => round.servedTest)].filter((value): value is number => value !== null);
  const testFloor = served.length === 0 ? null : Math.max(...served) - tolerance;
  const lowestServedTest = served.length === 0 ? null : Math.min(...served);
  // Accuracies are k/n: a value exactly at the floor can come out a few ulps below it.
  const slack = 1e-9;
  return {
    start,
    end,
    gainPoints: (end - start) * 100,
    worst,
    testFloor,
    lowestServedTest,
    tolerance,
    passed: {
      gain: (end - start) * 100 >= targets.gainPoints - slack,
      noDrop: worst === null || worst.deltaPoints >= -targets.maxDropPoints - slack,
      testFloor: testFloor === null || lowestServedTest === null || lowestServedTest >= testFloor - slack,
    },
  };
}
