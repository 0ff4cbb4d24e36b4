import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fontDigitSet, splitPoolAndHeldOut } from './font-digits.js';
import { learntCorrections, measure, runRounds } from './learn-rounds.js';
import type { Digit } from './loop-support.js';
import { waitForBaseData } from './loop-support.js';
import { startTestStack } from './loop-fixtures.js';
import type { Stack } from './stack.js';

/**
 * The direction of learning, on a small version of bench/learn: the whole stack (process
 * deploy target), digits rendered from handwriting fonts, three rounds of ten labels sent as
 * the page sends them. Afterwards the model answers the digits it was corrected on, and the
 * held-out half of the font set is answered no worse than before. It fails if training learns
 * nothing (the corrections stay wrong: each was wrong when sent) or makes things worse (the
 * held-out share falls).
 */

const SEED = 1;
/** Two variants of each digit in each font: 240 digits, 120 in the pool and 120 held out. */
const PER_FONT_AND_DIGIT = 2;
const ROUNDS = 3;
const PER_ROUND = 10;

/**
 * Share of the learnt corrections the model must answer right afterwards. A promoted run
 * trains on each correction for every epoch and replays it in later runs, so a model that
 * learnt them answers nearly all right (8 of 8 in the run measured when this was written); one that did
 * not learn answers none (each was wrong when sent). 70 % leaves room for a digit or two whose
 * font the fine-tune does not take to, and stays far from what a model that learnt nothing scores.
 */
const LEARNT_SHARE = 0.7;

/**
 * The held-out half must not fall at all: training is repeatable here (dropout 0, seeded
 * replay and shifts), and with the replay distilled from the model in service it rose 109 → 111
 * of 120 (before distillation, 109 → 115 with a dip below the start on the way in the bench).
 */

describe('learning from feedback on handwriting-font digits', () => {
  let stack: Stack;
  let cleanup: () => Promise<void>;
  let pool: Digit[];
  let heldOut: Digit[];

  before(async () => {
    // The set renders (about ten seconds) while the stack starts.
    const [started, digits] = await Promise.all([startTestStack({ deploy: 'process' }), fontDigitSet({ seed: SEED, perFontAndDigit: PER_FONT_AND_DIGIT })]);
    ({ stack, cleanup } = started);
    ({ pool, heldOut } = splitPoolAndHeldOut(digits, SEED));
    await waitForBaseData(stack);
  });

  after(async () => {
    await cleanup?.();
  });

  test(`when ${ROUNDS} rounds of ${PER_ROUND} confirmations and corrections arrive, then the corrected digits are answered right and the held-out share did not fall`, async (t) => {
    // Corrections first: the pool's errors are few (the model answers 90–93 % of these fonts right), and they are what must be learnt.
    const report = await runRounds(stack, { pool, heldOut }, { rounds: ROUNDS, perRound: PER_ROUND, mix: 'wrong-first', measure: 'end' });
    for (const round of report.rounds) {
      t.diagnostic(
        `round ${round.round}: ${round.confirmations} confirmed, ${round.corrections} corrected; ` +
          `${round.runs.map((run) => `run ${run.id} ${run.verdict}`).join('; ')}; ${round.seconds.toFixed(0)} s`,
      );
    }
    const end = report.rounds[report.rounds.length - 1]?.heldOut;
    assert.ok(end !== undefined && end !== null, 'the held-out set was measured after the last round');
    t.diagnostic(`held-out: ${report.start.right}/${report.start.total} → ${end.right}/${end.total}; ${report.seconds.toFixed(0)} s of rounds`);

    const promoted = report.rounds.flatMap((round) => round.runs).filter((run) => run.status === 'promoted');
    assert.ok(promoted.length > 0, `a run was promoted: ${JSON.stringify(report.rounds.map((round) => round.runs.map((run) => run.verdict)))}`);
    const corrections = report.sent.filter((item) => item.correction);
    const learnt = learntCorrections(report);
    const now = await measure(stack.urls.webapp, learnt.map((item) => item.digit));
    t.diagnostic(`corrections: ${corrections.length} sent, ${learnt.length} trained on by a promoted run (the rest held out by training to evaluate on), ${now.right} of those answered right now`);
    // Fewer than five would make the share below a coin toss of a digit or two.
    assert.ok(learnt.length >= 5, `at least 5 corrections were learnt (${learnt.length} of ${corrections.length} sent)`);
    assert.ok(now.right >= LEARNT_SHARE * learnt.length, `at least ${LEARNT_SHARE * 100} % of the learnt corrections are answered right (${now.right}/${learnt.length})`);
    assert.ok(end.right >= report.start.right, `the held-out share did not fall (${report.start.right} → ${end.right} of ${end.total})`);
  });
});
