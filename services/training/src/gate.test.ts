import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { CNN_INPUT_SHAPE, CNN_NUM_CLASSES, createModel, disposeModel, initTf, seededRandom, selectDigits, splitHeldOut } from '@mlpl/shared';
import type { DigitSet, ModelMetrics } from '@mlpl/shared';
import { loadPackagedMnist } from '@mlpl/shared/mnist-package';
import { compareModels } from './evaluation.js';
import { decideGate } from './gate.js';

function metrics(accuracy: number, testCount = 1000): ModelMetrics {
  return { accuracy, testCount };
}

describe('decideGate', () => {
  test('when the candidate equals the incumbent, then it is promoted', () => {
    const decision = decideGate({
      candidate: { test: metrics(0.97), feedback: metrics(0.9, 20) },
      incumbent: { test: metrics(0.97), feedback: metrics(0.9, 20) },
      tolerance: 0.01,
    });
    assert.equal(decision.promote, true);
    assert.deepEqual(
      decision.checks.map((c) => [c.set, c.delta, c.passed]),
      [
        ['test', 0, true],
        ['feedback', 0, true],
      ],
    );
    assert.match(decision.reason, /^promoted/);
  });

  test('when the candidate is better, then it is promoted', () => {
    const decision = decideGate({ candidate: { test: metrics(0.98) }, incumbent: { test: metrics(0.95) }, tolerance: 0 });
    assert.equal(decision.promote, true);
    assert.ok(Math.abs((decision.checks[0]?.delta ?? NaN) - 0.03) < 1e-12);
  });

  test('when the candidate is worse within the tolerance, then it is promoted, a tie at the tolerance included', () => {
    const within = decideGate({ candidate: { test: metrics(0.965) }, incumbent: { test: metrics(0.97) }, tolerance: 0.01 });
    assert.equal(within.promote, true);
    // 0.89 − 0.9 is −0.010000000000000009 in floating point: still exactly one point.
    const atEdge = decideGate({ candidate: { test: metrics(0.89) }, incumbent: { test: metrics(0.9) }, tolerance: 0.01 });
    assert.equal(atEdge.promote, true);
  });

  test('when the candidate loses fewer than five digits on a small set, then that set passes however many points it is; five or more fail it', () => {
    const small = decideGate({
      candidate: { test: metrics(0.97), feedback: metrics(1 / 3, 3) },
      incumbent: { test: metrics(0.97), feedback: metrics(1, 3) },
      tolerance: 0.01,
    });
    assert.equal(small.promote, true, small.reason);
    const four = decideGate({ candidate: { feedback: metrics(0.6, 10) }, incumbent: { feedback: metrics(1, 10) }, tolerance: 0.01 });
    assert.equal(four.promote, true, four.reason);
    const five = decideGate({ candidate: { feedback: metrics(0.5, 10) }, incumbent: { feedback: metrics(1, 10) }, tolerance: 0.01 });
    assert.equal(five.promote, false);
    assert.match(five.reason, /5 of 10 digits/);
    // On the base test set the tolerance (ten digits of 1,000) is what binds, as before.
    const test = decideGate({ candidate: { test: metrics(0.959) }, incumbent: { test: metrics(0.97) }, tolerance: 0.01 });
    assert.equal(test.promote, false);
  });

  test("when the candidate is worse beyond the tolerance on 'feedback' only, then it is rejected naming 'feedback'", () => {
    const decision = decideGate({
      candidate: { test: metrics(0.975), feedback: metrics(0.8, 50) },
      incumbent: { test: metrics(0.97), feedback: metrics(0.9, 50) },
      tolerance: 0.01,
    });
    assert.equal(decision.promote, false);
    assert.deepEqual(
      decision.checks.map((c) => [c.set, c.passed]),
      [
        ['test', true],
        ['feedback', false],
      ],
    );
    assert.match(decision.reason, /'feedback'/);
    assert.doesNotMatch(decision.reason, /'test'/);
    assert.match(decision.reason, /80\.00 %/);
    assert.match(decision.reason, /90\.00 %/);
    assert.match(decision.reason, /10\.00 points below/);
    assert.match(decision.reason, /tolerance of 1\.00/);
  });

  test('when metrics are NaN or otherwise invalid, then it is rejected', () => {
    const invalid: ModelMetrics[] = [metrics(NaN), metrics(1.2), metrics(-0.1), metrics(0.9, 0), metrics(0.9, 2.5)];
    for (const bad of invalid) {
      const asCandidate = decideGate({ candidate: { test: bad }, incumbent: { test: metrics(0.5) }, tolerance: 0.01 });
      assert.equal(asCandidate.promote, false, `candidate ${JSON.stringify(bad)}`);
      assert.match(asCandidate.reason, /candidate's metrics on 'test' are invalid/);
      const asIncumbent = decideGate({ candidate: { test: metrics(0.5) }, incumbent: { test: bad }, tolerance: 0.01 });
      assert.equal(asIncumbent.promote, false, `incumbent ${JSON.stringify(bad)}`);
      const firstRun = decideGate({ candidate: { test: bad }, incumbent: {}, tolerance: 0.01 });
      assert.equal(firstRun.promote, false, `first run ${JSON.stringify(bad)}`);
    }
  });

  test('when there is no incumbent, then valid candidate metrics promote it and the checks say so', () => {
    const decision = decideGate({ candidate: { test: metrics(0.6) }, incumbent: {}, tolerance: 0.01 });
    assert.equal(decision.promote, true);
    assert.deepEqual(decision.checks, [{ set: 'test', candidate: 0.6, incumbent: null, delta: null, passed: true }]);
    assert.match(decision.reason, /no incumbent/);
  });

  test('when a set is missing for the candidate, the counts differ or there is no set, then it is rejected', () => {
    const missing = decideGate({
      candidate: { test: metrics(0.99) },
      incumbent: { test: metrics(0.97), feedback: metrics(0.9, 20) },
      tolerance: 0.01,
    });
    assert.equal(missing.promote, false);
    assert.match(missing.reason, /not evaluated on 'feedback'/);
    const differentData = decideGate({ candidate: { test: metrics(0.99, 900) }, incumbent: { test: metrics(0.97) }, tolerance: 0.01 });
    assert.equal(differentData.promote, false);
    assert.match(differentData.reason, /different data \(900 vs 1000 digits\)/);
    assert.equal(decideGate({ candidate: {}, incumbent: {}, tolerance: 0.01 }).promote, false);
  });

  test('when the tolerance is not a difference in [0, 1], then it throws', () => {
    for (const tolerance of [NaN, -0.01, 1.5, Infinity]) {
      assert.throws(() => decideGate({ candidate: { test: metrics(0.9) }, incumbent: {}, tolerance }), RangeError);
    }
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

/** One epoch, as the training service would fine-tune but from scratch; returns the model. */
async function trainQuickly(set: DigitSet, labels: Uint8Array, seed: number): Promise<tfl.LayersModel> {
  const model = createModel({ seed });
  const xs = tf.tensor4d(set.images, [set.count, ...CNN_INPUT_SHAPE]);
  const ys = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(labels, 'int32'), CNN_NUM_CLASSES), 'float32'));
  try {
    await model.fit(xs, ys, { epochs: 1, batchSize: 32, shuffle: true, verbose: 0 });
  } finally {
    tf.dispose([xs, ys]);
  }
  return model;
}

describe('the gate on real models', () => {
  before(async () => {
    await initTf();
  });

  test('when a candidate trained on shuffled labels meets one trained on true labels, then it is rejected', async () => {
    const mnist = loadPackagedMnist();
    const split = splitHeldOut(mnist.labels, 60);
    const random = seededRandom(7);
    const trainIndices = shuffled(Array.from(split.train), random).slice(0, 2000);
    const train = selectDigits(mnist, trainIndices);
    // The held-out 600 digits split into a 'test' share (50 per class) and a 'feedback' share.
    const heldOut = Array.from(split.test);
    const sets = {
      test: selectDigits(mnist, heldOut.filter((_, i) => i % 60 < 50)),
      feedback: selectDigits(mnist, heldOut.filter((_, i) => i % 60 >= 50)),
    };
    const before = tf.memory().numTensors;

    const good = await trainQuickly(train, train.labels, 1);
    const broken = await trainQuickly(train, Uint8Array.from(shuffled(Array.from(train.labels), random)), 1);
    try {
      const result = await compareModels(broken, good, sets);
      const decision = decideGate({ ...result, tolerance: 0.01 });
      assert.equal(decision.promote, false, decision.reason);
      assert.match(decision.reason, /'test'/);
      assert.match(decision.reason, /'feedback'/);
      assert.ok((result.incumbent.test?.accuracy ?? 0) > 0.7, `the true-label model reached only ${result.incumbent.test?.accuracy}`);
      assert.ok((result.candidate.test?.accuracy ?? 1) < 0.3, `the shuffled-label model reached ${result.candidate.test?.accuracy}`);

      // The same evaluation read the other way round: the good model would replace the broken one.
      const reverse = decideGate({ candidate: result.incumbent, incumbent: result.candidate, tolerance: 0.01 });
      assert.equal(reverse.promote, true, reverse.reason);
    } finally {
      [good, broken].forEach(disposeModel);
    }
    assert.equal(tf.memory().numTensors, before);
  });
});
