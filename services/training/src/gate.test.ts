import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { CNN_INPUT_SHAPE, CNN_NUM_CLASSES, createModel, disposeModel, initTf, seededRandom, selectDigits, splitHeldOut } from '@mlpl/shared';
import type { DigitSet, ModelMetrics } from '@mlpl/shared';
import { loadPackagedMnist } from '@mlpl/shared/mnist-package';
import { compareModels, metricsFromPredictions } from './evaluation.js';
import { DEFAULT_GATE_RULES, decideGate, mcnemarPValue } from './gate.js';
import type { GateInput, JudgedSet } from './gate.js';

/**
 * A set judged from two answer strings: per digit, '1' right, '0' wrong. Labels are spread over
 * the ten classes; a wrong answer is the next class, so per-class recall follows the strings.
 */
function judged(candidate: string, incumbent: string | null): JudgedSet {
  const labels = Array.from(candidate, (_, i) => i % 10);
  const answers = (rights: string) => Array.from(rights, (right, i) => (right === '1' ? (labels[i] ?? 0) : ((labels[i] ?? 0) + 1) % 10));
  const outcomes = (rights: string) => Int8Array.from(rights, (right) => (right === '1' ? 1 : 0));
  return {
    candidate: metricsFromPredictions(labels, answers(candidate)),
    incumbent: incumbent === null ? null : metricsFromPredictions(labels, answers(incumbent)),
    candidateOutcomes: outcomes(candidate),
    incumbentOutcomes: incumbent === null ? null : outcomes(incumbent),
  };
}

const rules = DEFAULT_GATE_RULES;
const ones = (n: number) => '1'.repeat(n);
const check = (input: GateInput, kind: string, set?: string) => {
  const found = decideGate(input).checks.find((c) => c.kind === kind && (set === undefined || c.set === set));
  assert.ok(found !== undefined, `a '${kind}' check`);
  return found;
};

describe("McNemar's exact test", () => {
  test('when the disagreements are counted, then p is the binomial upper tail', () => {
    assert.equal(mcnemarPValue(0, 0), 1);
    assert.equal(mcnemarPValue(0, 7), 1);
    assert.equal(mcnemarPValue(5, 0), 1 / 32);
    assert.equal(mcnemarPValue(4, 0), 1 / 16);
    // P(X ≥ 8 | n = 10) = (45 + 10 + 1) / 1024
    assert.ok(Math.abs(mcnemarPValue(8, 2) - 56 / 1024) < 1e-12);
    // Large counts stay finite and in [0, 1].
    const p = mcnemarPValue(560, 440);
    assert.ok(p > 0 && p < 0.001, String(p));
    assert.ok(Math.abs(mcnemarPValue(500, 500) - 0.5) < 0.02);
  });
});

describe('decideGate', () => {
  test('when the candidate answers what the incumbent does and better, then every check passes and the reason lists them', () => {
    const decision = decideGate({
      sets: { test: judged('1111111111' + '1111111110', '1111111111' + '1111111100'), feedback: judged('1111', '0111') },
      best: { version: 'v1', accuracy: 0.9 },
      rules,
    });
    assert.equal(decision.promote, true, decision.reason);
    assert.deepEqual(decision.checks.map((c) => `${c.kind}:${c.set}`), ['worse:test', 'worse:feedback', 'floor:test', 'class:test']);
    assert.ok(decision.checks.every((c) => c.passed && c.summary.length > 0));
    assert.match(decision.reason, /^promoted: /);
  });

  test('when the candidate loses digits the incumbent got right beyond chance, then McNemar rejects it; a few lost are chance', () => {
    // 5 lost, none gained: p = 1/32 < 0.05.
    const worse = check({ sets: { test: judged('00000' + ones(95), ones(100)) }, best: null, rules }, 'worse', 'test');
    assert.equal(worse.passed, false);
    assert.deepEqual({ ...worse.mcnemar }, { incumbentOnly: 5, candidateOnly: 0, pValue: 1 / 32, significance: 0.05 });
    assert.match(worse.summary, /worse than the incumbent/);
    // 4 lost: p = 1/16, not shown worse; nor 8 lost against 6 gained.
    assert.equal(check({ sets: { test: judged('0000' + ones(96), ones(100)) }, best: null, rules }, 'worse').passed, true);
    assert.equal(check({ sets: { test: judged('00000000' + ones(86) + '111111', ones(94) + '000000') }, best: null, rules }, 'worse').passed, true);
    // A stricter significance lets 5 of 5 pass.
    assert.equal(check({ sets: { test: judged('00000' + ones(95), ones(100)) }, best: null, rules: { ...rules, significance: 0.01 } }, 'worse').passed, true);
  });

  test('when the candidate is no worse than the incumbent but below the best served version less the tolerance, then the floor rejects it', () => {
    // Both at 90 %; the best served version reached 95 %: floor 94 %.
    const input: GateInput = { sets: { test: judged('0' + ones(9), '0' + ones(9)) }, best: { version: 'v3', accuracy: 0.95 }, rules };
    const floor = check(input, 'floor');
    assert.equal(floor.passed, false);
    assert.equal(check(input, 'worse').passed, true, 'no worse than the incumbent');
    assert.deepEqual(floor.floor, { floor: 0.95 - 0.01, best: 0.95, bestVersion: 'v3', tolerance: 0.01 });
    assert.match(decideGate(input).reason, /below the floor.*v3/);
    // At the floor exactly (a float tie) passes; with no version scored there is no floor.
    assert.equal(check({ ...input, best: { version: 'v3', accuracy: 0.91 } }, 'floor').passed, true);
    assert.equal(check({ ...input, best: null }, 'floor').passed, true);
  });

  test('when the candidate gets wrong corrections the incumbent answers right, then beyond the allowance it is rejected and the images are named', () => {
    const ids = Array.from({ length: 60 }, (_, i) => 100 + i);
    const twoBroken = { sets: { test: judged(ones(10), ones(10)), corrections: judged('00' + ones(58), ones(60)) }, correctionIds: ids, best: null, rules };
    const corrections = check(twoBroken, 'corrections');
    assert.equal(corrections.passed, false);
    assert.deepEqual({ ...corrections.corrections }, { incumbentRight: 60, broken: 2, allowance: 1, brokenImageIds: [100, 101] });
    assert.match(corrections.summary, /images 100, 101/);
    assert.equal(decideGate(twoBroken).checks.some((c) => c.kind === 'worse' && c.set === 'corrections'), false, 'corrections are not judged by McNemar');
    // One broken is the allowance (at least one); corrections the incumbent got wrong do not count.
    assert.equal(check({ ...twoBroken, sets: { ...twoBroken.sets, corrections: judged('0' + ones(59), ones(60)) } }, 'corrections').passed, true);
    assert.equal(check({ ...twoBroken, sets: { ...twoBroken.sets, corrections: judged('00' + ones(58), '00' + ones(58)) } }, 'corrections').passed, true);
    // A larger share allows more.
    assert.equal(check({ ...twoBroken, rules: { ...rules, breakShare: 0.05 } }, 'corrections').passed, true);
  });

  test('when one class loses more recall than the margin, then the class check rejects it, even if the set as a whole passes', () => {
    // 200 digits, 20 per class; class 3 loses 4 of its 20 (20 points) and the candidate gains 3 elsewhere.
    const incumbent = Array.from({ length: 200 }, (_, i) => (i % 10 !== 3 && i < 40 ? '0' : '1')).join('');
    const candidate = Array.from({ length: 200 }, (_, i) => (i % 10 === 3 && i < 40 ? '0' : i < 40 ? (i < 4 ? '1' : '0') : '1')).join('');
    const input: GateInput = { sets: { test: judged(candidate, incumbent) }, best: null, rules };
    const classes = check(input, 'class');
    assert.equal(classes.passed, false, classes.summary);
    assert.equal(check(input, 'worse').passed, true, 'the set as a whole is no worse');
    const three = classes.classes?.classes.find((c) => c.label === '3');
    assert.deepEqual(three && { lost: three.digitsLost, passed: three.passed }, { lost: 4, passed: false });
    assert.match(classes.summary, /3 100\.00 % → 80\.00 %/);
    // Two digits of a class is under the digit minimum, however many points it is.
    const two = Array.from({ length: 200 }, (_, i) => (i % 10 === 3 && i < 20 ? '0' : '1')).join('');
    assert.equal(check({ ...input, sets: { test: judged(two, ones(200)) } }, 'class').passed, true);
  });

  test('when a measurement is missing or invalid, then the gate fails safe', () => {
    assert.equal(decideGate({ sets: {}, best: null, rules }).promote, false);
    const noTest = decideGate({ sets: { feedback: judged('1', '1') }, best: null, rules });
    assert.equal(noTest.promote, false);
    assert.match(noTest.reason, /not evaluated on the test set/);
    const set = judged(ones(10), ones(10));
    for (const accuracy of [NaN, -0.1, 1.5]) {
      assert.equal(decideGate({ sets: { test: { ...set, candidate: { ...set.candidate, accuracy } } }, best: null, rules }).promote, false);
    }
    const different = { ...set, incumbent: { ...(set.incumbent as ModelMetrics), testCount: 9 } };
    assert.match(decideGate({ sets: { test: different }, best: null, rules }).reason, /different data/);
    assert.throws(() => decideGate({ sets: { test: set }, best: null, rules: { ...rules, tolerance: 2 } }), RangeError);
    assert.throws(() => decideGate({ sets: { test: set }, best: null, rules: { ...rules, significance: 0 } }), RangeError);
  });

  test('when there is no incumbent, then the candidate is judged by the floor alone', () => {
    const first = decideGate({ sets: { test: judged(ones(9) + '0', null) }, best: null, rules });
    assert.equal(first.promote, true, first.reason);
    assert.equal(decideGate({ sets: { test: judged(ones(5) + '00000', null) }, best: { version: 'pretrained-1', accuracy: 0.99 }, rules }).promote, false);
  });
});

function shuffled<T>(values: readonly T[], random: () => number): T[] {
  const copy = [...values];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
  }
  return copy;
}

/** `epochs` epochs on `set` with `labels`, from `start`'s weights or fresh ones; returns the model. */
async function trainQuickly(set: DigitSet, labels: Uint8Array, seed: number, start?: tfl.LayersModel, epochs = 1): Promise<tfl.LayersModel> {
  const model = createModel({ seed });
  if (start !== undefined) tf.tidy(() => model.setWeights(start.getWeights()));
  const xs = tf.tensor4d(set.images, [set.count, ...CNN_INPUT_SHAPE]);
  const ys = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(labels, 'int32'), CNN_NUM_CLASSES), 'float32'));
  try {
    await model.fit(xs, ys, { epochs, batchSize: 32, shuffle: true, verbose: 0 });
  } finally {
    tf.dispose([xs, ys]);
  }
  return model;
}

describe('the gate on real models built to fail it', () => {
  let mnist: DigitSet;
  let train: DigitSet;
  let sets: { test: DigitSet; feedback: DigitSet; corrections: DigitSet };
  let good: tfl.LayersModel;
  const random = seededRandom(7);

  before(async () => {
    await initTf();
    mnist = loadPackagedMnist();
    const split = splitHeldOut(mnist.labels, 70);
    train = selectDigits(mnist, shuffled(Array.from(split.train), random).slice(0, 2000));
    // The held-out 700 digits: 'test' (50 per class), 'feedback' (10 per class), 'corrections' (10 per class).
    const heldOut = Array.from(split.test);
    sets = {
      test: selectDigits(mnist, heldOut.filter((_, i) => i % 70 < 50)),
      feedback: selectDigits(mnist, heldOut.filter((_, i) => i % 70 >= 50 && i % 70 < 60)),
      corrections: selectDigits(mnist, heldOut.filter((_, i) => i % 70 >= 60)),
    };
    good = await trainQuickly(train, train.labels, 1, undefined, 2);
  });
  after(() => disposeModel(good));

  async function judge(candidate: tfl.LayersModel) {
    const { judged: judgedSets } = await compareModels(candidate, good, sets);
    const best = { version: 'good', accuracy: judgedSets.test?.incumbent?.accuracy ?? NaN };
    const ids = Array.from({ length: sets.corrections.count }, (_, i) => i + 1);
    return { judged: judgedSets, decision: decideGate({ sets: judgedSets, correctionIds: ids, best, rules }) };
  }

  test('when a candidate trained on shuffled labels meets one trained on true labels, then McNemar, the floor and the classes reject it, and the other way round passes', async () => {
    const before = tf.memory().numTensors;
    const broken = await trainQuickly(train, Uint8Array.from(shuffled(Array.from(train.labels), random)), 1);
    try {
      const { judged: result, decision } = await judge(broken);
      assert.equal(decision.promote, false, decision.reason);
      const failed = decision.checks.filter((c) => !c.passed).map((c) => `${c.kind}:${c.set}`);
      for (const expected of ['worse:test', 'worse:feedback', 'floor:test', 'class:test', 'corrections:corrections']) assert.ok(failed.includes(expected), `${expected} in ${failed.join(', ')}`);
      assert.ok((result.test?.incumbent?.accuracy ?? 0) > 0.8, `the true-label model reached only ${result.test?.incumbent?.accuracy}`);
      assert.ok((result.test?.candidate.accuracy ?? 1) < 0.3, `the shuffled-label model reached ${result.test?.candidate.accuracy}`);

      const swap = (set: JudgedSet): JudgedSet => ({ candidate: set.incumbent as ModelMetrics, incumbent: set.candidate, candidateOutcomes: set.incumbentOutcomes as Int8Array, incumbentOutcomes: set.candidateOutcomes });
      const reverse = decideGate({ sets: Object.fromEntries(Object.entries(result).map(([name, set]) => [name, swap(set)])), best: null, rules });
      assert.equal(reverse.promote, true, reverse.reason);
    } finally {
      disposeModel(broken);
    }
    assert.equal(tf.memory().numTensors, before);
  });

  test('when a candidate is fine-tuned to answer earlier corrections wrongly, then the corrections check rejects it by name', async () => {
    // The corrections relabelled one class on: the candidate learns them wrong, the test set barely moves.
    const wrongLabels = Uint8Array.from(sets.corrections.labels, (label) => (label + 1) % 10);
    const mixed = selectDigits(train, Array.from({ length: 300 }, (_, i) => i));
    const set: DigitSet = {
      images: Float32Array.from([...mixed.images, ...Array.from({ length: 8 }, () => Array.from(sets.corrections.images)).flat()]),
      labels: Uint8Array.from([...mixed.labels, ...Array.from({ length: 8 }, () => Array.from(wrongLabels)).flat()]),
      count: mixed.count + 8 * sets.corrections.count,
    };
    const flipper = await trainQuickly(set, set.labels, 2, good, 3);
    try {
      const { decision } = await judge(flipper);
      const corrections = decision.checks.find((c) => c.kind === 'corrections');
      assert.equal(corrections?.passed, false, decision.reason);
      assert.ok((corrections?.corrections?.broken ?? 0) > 10, `broke ${corrections?.corrections?.broken}`);
      assert.equal(decision.promote, false);
    } finally {
      disposeModel(flipper);
    }
  });

  test('when a candidate is fine-tuned until it drops a class, then the class check names that class', async () => {
    // Every 3 in the training data labelled 8: the candidate stops answering 3.
    const labels = Uint8Array.from(train.labels, (label) => (label === 3 ? 8 : label));
    const dropper = await trainQuickly(train, labels, 3, good, 2);
    try {
      const { decision } = await judge(dropper);
      const classes = decision.checks.find((c) => c.kind === 'class');
      assert.equal(classes?.passed, false, decision.reason);
      const three = classes?.classes?.classes.find((c) => c.label === '3');
      assert.equal(three?.passed, false, classes?.summary);
      assert.ok((three?.candidate ?? 1) < 0.5, `the 3s' recall fell only to ${three?.candidate}`);
      assert.match(classes?.summary ?? '', /\b3 \d/);
      assert.equal(decision.promote, false);
    } finally {
      disposeModel(dropper);
    }
  });
});
