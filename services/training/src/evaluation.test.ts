import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { CNN_INPUT_SHAPE, CNN_NUM_CLASSES, createModel, disposeModel, initTf, selectDigits, splitHeldOut } from '@mlpl/shared';
import type { DigitSet } from '@mlpl/shared';
import { loadPackagedMnist } from '@mlpl/shared/mnist-package';
import { compareModels, evaluateModel, metricsFromPredictions } from './evaluation.js';

function assertClose(actual: number, expected: number, what: string, tolerance = 1e-12): void {
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: ${actual} is not ${expected}`);
}

describe('metricsFromPredictions', () => {
  // Four classes: 2 is in the labels but never predicted, 3 is predicted once but never a label.
  const labels = [0, 0, 0, 1, 1, 2, 2];
  const predicted = [0, 0, 1, 1, 3, 0, 1];

  test('when given a crafted example, then the confusion matrix is [true][predicted] counts', () => {
    const metrics = metricsFromPredictions(labels, predicted, 4);
    assert.deepEqual(metrics.confusionMatrix, [
      [2, 1, 0, 0],
      [0, 1, 0, 1],
      [1, 1, 0, 0],
      [0, 0, 0, 0],
    ]);
    assertClose(metrics.accuracy, 3 / 7, 'accuracy');
    assert.equal(metrics.testCount, 7);
    assert.equal(metrics.loss, undefined);
  });

  test('when a class is never predicted or never a label, then its 0/0 ratios are 0', () => {
    const perClass = metricsFromPredictions(labels, predicted, 4).perClass ?? [];
    // By hand: class 0 TP 2 of 3 predicted, 3 true; class 1 TP 1 of 3 predicted, 2 true,
    // F1 = 2·(1/3)(1/2) / (1/3 + 1/2) = 0.4; class 2 never predicted; class 3 has no support.
    const expected = [
      { label: '0', precision: 2 / 3, recall: 2 / 3, f1: 2 / 3, support: 3 },
      { label: '1', precision: 1 / 3, recall: 1 / 2, f1: 0.4, support: 2 },
      { label: '2', precision: 0, recall: 0, f1: 0, support: 2 },
      { label: '3', precision: 0, recall: 0, f1: 0, support: 0 },
    ];
    assert.equal(perClass.length, expected.length);
    expected.forEach((want, i) => {
      const got = perClass[i];
      assert.ok(got !== undefined);
      assert.equal(got.label, want.label);
      assert.equal(got.support, want.support);
      assertClose(got.precision, want.precision, `precision of ${want.label}`);
      assertClose(got.recall, want.recall, `recall of ${want.label}`);
      assertClose(got.f1, want.f1, `f1 of ${want.label}`);
    });
  });

  test('when given no digits, then accuracy is 0 with testCount 0 and nothing is NaN', () => {
    const metrics = metricsFromPredictions([], []);
    assert.equal(metrics.accuracy, 0);
    assert.equal(metrics.testCount, 0);
    assert.equal(metrics.perClass?.length, 10);
    assert.ok(metrics.perClass?.every((c) => c.precision === 0 && c.recall === 0 && c.f1 === 0));
  });

  test('when lengths differ or a class is out of range, then it throws', () => {
    assert.throws(() => metricsFromPredictions([0, 1], [0]), /2 labels but 1 predictions/);
    assert.throws(() => metricsFromPredictions([0, 10], [0, 1]), /not a class 0–9/);
    assert.throws(() => metricsFromPredictions([0, 1], [0, 1.5]), /not a class/);
  });
});

describe('evaluateModel on a real model', () => {
  let digits: DigitSet;
  let model: tfl.LayersModel;

  before(async () => {
    await initTf('wasm');
    const mnist = loadPackagedMnist();
    // The last 50 of every class: 500 digits, balanced, so chance accuracy is 10 %.
    digits = selectDigits(mnist, splitHeldOut(mnist.labels, 50).test);
    model = createModel({ seed: 1 });
  });

  after(() => {
    disposeModel(model);
  });

  test('when the model is untrained, then accuracy is near chance and supports sum to 500', async () => {
    const metrics = await evaluateModel(model, digits);
    assert.equal(metrics.testCount, 500);
    assert.ok(metrics.accuracy >= 0.02 && metrics.accuracy <= 0.25, `accuracy ${metrics.accuracy} is not near chance`);
    assert.equal(metrics.perClass?.length, 10);
    assert.equal((metrics.perClass ?? []).reduce((total, c) => total + c.support, 0), 500);
    assert.ok(metrics.perClass?.every((c) => c.support === 50));
    assert.equal(metrics.confusionMatrix?.flat().reduce((a, b) => a + b, 0), 500);
    // Untrained softmax outputs are near uniform: cross-entropy near ln 10 ≈ 2.30.
    assert.ok(metrics.loss !== undefined && metrics.loss > 1.5 && metrics.loss < 4, `loss ${metrics.loss}`);
  });

  test('when compared with argmax of one model.predict, then the metrics are equal', async () => {
    // 64 does not divide 500, so the last batch is a partial one.
    const metrics = await evaluateModel(model, digits, { batchSize: 64 });
    const predicted = tf.tidy(() => {
      const x = tf.tensor4d(digits.images, [digits.count, ...CNN_INPUT_SHAPE]);
      return Array.from(tf.argMax(model.predict(x) as tf.Tensor, 1).dataSync());
    });
    const expected = metricsFromPredictions(digits.labels, predicted);
    const { loss, ...rest } = metrics;
    assert.deepEqual(rest, expected);

    // Keras' categorical cross-entropy as tfjs computes it, on the same digits.
    const keras = tf.tidy(() => {
      const x = tf.tensor4d(digits.images, [digits.count, ...CNN_INPUT_SHAPE]);
      const y = tf.cast(tf.oneHot(tf.tensor1d(digits.labels, 'int32'), CNN_NUM_CLASSES), 'float32');
      const [evaluatedLoss] = model.evaluate(x, y, { batchSize: 500 }) as tf.Scalar[];
      return evaluatedLoss?.dataSync()[0] ?? NaN;
    });
    assert.ok(loss !== undefined);
    assertClose(loss, keras, 'loss', 1e-4);
  });

  test('when classes are restricted, then other digits are left out and only those classes are predicted', async () => {
    const metrics = await evaluateModel(model, digits, { classes: [3, 7] });
    assert.equal(metrics.testCount, 100);
    assert.deepEqual(
      metrics.perClass?.map((c) => [c.label, c.support]),
      [
        ['3', 50],
        ['7', 50],
      ],
    );
    const matrix = metrics.confusionMatrix ?? [];
    assert.equal(matrix.length, 10);
    const predictedOther = matrix.flatMap((row) => row.filter((_, p) => p !== 3 && p !== 7));
    assert.ok(predictedOther.every((n) => n === 0));
    await assert.rejects(evaluateModel(model, digits, { classes: [] }), /non-empty/);
    await assert.rejects(evaluateModel(model, digits, { batchSize: 0 }), /batchSize/);
  });

  test('when evaluated and compared, then no tensor is left behind', async () => {
    const incumbent = createModel({ seed: 2 });
    const before = tf.memory().numTensors;
    await evaluateModel(model, digits, { batchSize: 100 });
    await compareModels(model, incumbent, { test: digits });
    assert.equal(tf.memory().numTensors, before);
    disposeModel(incumbent);
  });
});

describe('compareModels', () => {
  let digits: DigitSet;

  before(async () => {
    await initTf('wasm');
    const mnist = loadPackagedMnist();
    digits = selectDigits(mnist, splitHeldOut(mnist.labels, 10).test);
  });

  test('when given named sets, then both models are evaluated on each and empty sets are skipped', async () => {
    const candidate = createModel({ seed: 3 });
    const incumbent = createModel({ seed: 4 });
    const empty: DigitSet = { images: new Float32Array(0), labels: new Uint8Array(0), count: 0 };
    const feedback = selectDigits(digits, [0, 15, 30, 45]);
    const { comparison: result, judged } = await compareModels(candidate, incumbent, { test: digits, feedback, extra: empty });
    assert.deepEqual(Object.keys(result.candidate), ['test', 'feedback']);
    assert.deepEqual(Object.keys(result.incumbent), ['test', 'feedback']);
    assert.deepEqual(result.skipped, ['extra']);
    assert.equal(result.candidate.test?.testCount, 100);
    assert.equal(result.incumbent.feedback?.testCount, 4);
    assert.deepEqual(result.candidate.test, await evaluateModel(candidate, digits));
    assert.deepEqual(result.incumbent.test, await evaluateModel(incumbent, digits));
    // Digit by digit, for the gate: as many outcomes as digits, as many right as the accuracy says.
    const outcomes = judged.test?.candidateOutcomes ?? new Int8Array();
    assert.equal(outcomes.length, 100);
    assert.equal(outcomes.filter((o) => o === 1).length, Math.round((result.candidate.test?.accuracy ?? NaN) * 100));
    assert.equal(judged.feedback?.incumbentOutcomes?.length, 4);

    const { comparison: firstRun, judged: firstJudged } = await compareModels(candidate, null, { test: digits });
    assert.equal(firstJudged.test?.incumbentOutcomes, null);
    assert.deepEqual(Object.keys(firstRun.candidate), ['test']);
    assert.deepEqual(firstRun.incumbent, {});
    [candidate, incumbent].forEach(disposeModel);
  });
});
