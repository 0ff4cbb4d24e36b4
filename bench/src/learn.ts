/**
 * bench/learn: the learning curve of the whole pipeline on digits that are not MNIST. On the
 * stack of `npm run stack` (process deploy target, TRAINING_THRESHOLD = --per-round), digits
 * rendered from Debian's handwriting fonts (scripts/src/font-digits.ts) are split into a pool
 * and a held-out half. Round after round, --per-round pool digits are predicted through
 * /api/predict and confirmed or corrected through /api/feedback as the page does; the round
 * waits for the training run they start and, when it is promoted, for its version to serve;
 * then the held-out half is measured through /api/predict. Printed: the curve, the test-set
 * accuracy of the version in service beside it (from the runs' evaluations), and the curve
 * against the targets: +3 points after the last round, no round more than 1 point below the
 * start, test-set accuracy never below the floor (the best any served version reached, minus
 * the gate's tolerance).
 *
 * Usage: npm run bench:learn [-- --rounds 8] [--per-round 10] [--seed 1] [--per-font 4]
 *        [--mix mixed|seeded|wrong-first] [--json]
 */
import { parseArgs } from 'node:util';
import { fontDigitSet, HANDWRITING_FONTS, splitPoolAndHeldOut } from '../../scripts/dist/font-digits.js';
import { MIXES, runRounds, summarise } from '../../scripts/dist/learn-rounds.js';
import type { LearningReport, LearningSummary, Mix, RoundResult } from '../../scripts/dist/learn-rounds.js';
import { waitForBaseData } from '../../scripts/dist/loop-support.js';
import { startTestStack } from '../../scripts/dist/loop-fixtures.js';

type Options = { seed: number; rounds: number; perRound: number; perFont: number; mix: Mix; json: boolean };

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      seed: { type: 'string', default: '1' },
      rounds: { type: 'string', default: '8' },
      'per-round': { type: 'string', default: '10' },
      'per-font': { type: 'string', default: '4' },
      mix: { type: 'string', default: 'mixed' },
      json: { type: 'boolean', default: false },
    },
  });
  const whole = (name: string, text: string, min: number) => {
    const value = Number(text);
    if (!Number.isInteger(value) || value < min) throw new Error(`--${name} must be a whole number ≥ ${min}, got ${text}`);
    return value;
  };
  const mix = MIXES.find((name) => name === values.mix);
  if (mix === undefined) throw new Error(`--mix must be one of ${MIXES.join(', ')}, got ${values.mix}`);
  return {
    seed: whole('seed', values.seed, 0),
    rounds: whole('rounds', values.rounds, 1),
    perRound: whole('per-round', values['per-round'], 1),
    // Two at least: the split puts half of each font's variants of each digit on either side.
    perFont: whole('per-font', values['per-font'], 2),
    mix,
    json: values.json,
  };
}

const percent = (fraction: number | null) => (fraction === null ? '—' : `${(fraction * 100).toFixed(1)} %`);
const signed = (pointsValue: number) => `${pointsValue >= 0 ? '+' : '−'}${Math.abs(pointsValue).toFixed(1)}`;

function roundLine(result: RoundResult, start: number): string {
  const runs = result.runs.map((run) => `run ${run.id} ${run.verdict}`).join('; ') || 'no run';
  const heldOut = result.heldOut === null ? '—' : `${percent(result.heldOut.accuracy)} (${result.heldOut.right}/${result.heldOut.total})`;
  const delta = result.heldOut === null ? '—' : signed((result.heldOut.accuracy - start) * 100);
  return `| ${result.round} | ${result.confirmations}/${result.corrections} | ${result.version} | ${runs} | ${heldOut} | ${delta} | ${percent(result.servedTest)} |`;
}

function printReport(report: LearningReport, summary: LearningSummary, options: Options, wallSeconds: number): void {
  const { start } = report;
  console.log('\n| round | sent (confirmed/corrected) | version served | training run | held-out accuracy | Δ vs start (points) | test-set accuracy |');
  console.log('|---:|---:|---|---|---:|---:|---:|');
  console.log(`| start | — | ${start.version} | — | ${percent(start.accuracy)} (${start.right}/${start.total}) | 0.0 | ${percent(report.startTest)} |`);
  for (const round of report.rounds) console.log(roundLine(round, start.accuracy));
  const verdict = (ok: boolean) => (ok ? 'pass' : 'FAIL');
  const worst = summary.worst === null ? '—' : `round ${summary.worst.round} at ${signed(summary.worst.deltaPoints)} points`;
  console.log(
    `\nheld-out ${percent(summary.start)} → ${percent(summary.end)} after ${report.rounds.length} rounds of ${options.perRound}: ` +
      `${signed(summary.gainPoints)} points (target +3: ${verdict(summary.passed.gain)}); ` +
      `worst round vs start ${worst} (target ≥ −1: ${verdict(summary.passed.noDrop)}); ` +
      `test-set accuracy lowest ${percent(summary.lowestServedTest)}, floor ${percent(summary.testFloor)} ` +
      `(best served − tolerance ${(summary.tolerance * 100).toFixed(1)} points: ${verdict(summary.passed.testFloor)})`,
  );
  const testCount = report.rounds.flatMap((round) => round.runs).find((run) => run.testCount !== null)?.testCount;
  console.log(`(test-set accuracy: the version in service on the base test set of ${testCount ?? '?'} digits, as the training runs measured it)`);
  console.log(`wall time ${(wallSeconds / 60).toFixed(1)} min (rounds ${(report.seconds / 60).toFixed(1)} min, ${(report.seconds / Math.max(1, report.rounds.length)).toFixed(0)} s a round with its measurement)`);
}

async function main(): Promise<void> {
  const started = performance.now();
  const options = parseOptions();
  // With --json, stdout holds the JSON alone; the progress goes to stderr.
  const say = options.json ? (line: string) => console.error(line) : (line: string) => console.log(line);
  say(
    `bench/learn: ${HANDWRITING_FONTS.length} handwriting fonts × 10 digits × ${options.perFont} variants (seed ${options.seed}), ` +
      `${options.rounds} round${options.rounds === 1 ? '' : 's'} of ${options.perRound} (${options.mix}), TRAINING_THRESHOLD ${options.perRound}, process deploy target`,
  );
  // The set renders while the stack starts: both take most of a minute.
  const [{ stack, cleanup }, digits] = await Promise.all([
    startTestStack({ deploy: 'process', threshold: options.perRound, env: { LOG_LEVEL: 'warn' } }),
    fontDigitSet({ seed: options.seed, perFontAndDigit: options.perFont }),
  ]);
  try {
    const { pool, heldOut } = splitPoolAndHeldOut(digits, options.seed);
    await waitForBaseData(stack);
    say(`pool ${pool.length} digits, held-out ${heldOut.length}; stack ready after ${((performance.now() - started) / 1000).toFixed(0)} s`);
    const report = await runRounds(stack, { pool, heldOut }, {
      rounds: options.rounds,
      perRound: options.perRound,
      mix: options.mix,
      measure: 'every-round',
      onRound: (result) =>
        say(
          `round ${result.round}: ${result.confirmations} confirmed, ${result.corrections} corrected; ` +
            `${result.runs.map((run) => `run ${run.id} ${run.verdict}`).join('; ') || 'no run'}; ` +
            `held-out ${percent(result.heldOut?.accuracy ?? null)}; ${result.seconds.toFixed(0)} s`,
        ),
    });
    const summary = summarise(report);
    const wallSeconds = (performance.now() - started) / 1000;
    if (options.json) {
      const rounds = report.rounds;
      console.log(JSON.stringify({ options, start: report.start, startTest: report.startTest, rounds, summary, wallSeconds }, null, 2));
    } else printReport(report, summary, options, wallSeconds);
  } finally {
    await cleanup();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
