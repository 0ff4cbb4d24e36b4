import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { CNN_INPUT_SHAPE, CNN_NUM_CLASSES, MNIST_PIXELS } from '@mlpl/shared';
import type { ClassMetrics, DigitSet, Evaluation, ModelMetrics } from '@mlpl/shared';
import type { JudgedSet, Outcomes } from './gate.js';

/** Digits per `model.predict` call: 256 × 784 floats is 0.8 MB of input, small on any backend. */
export const DEFAULT_EVAL_BATCH_SIZE = 256;

/**
 * Probabilities are clipped to [1e-7, 1] before the logarithm, the epsilon tfjs-layers uses in
 * its own cross-entropy, so one confidently wrong digit gives a loss of about 16, not Infinity.
 */
const LOSS_EPSILON = 1e-7;

export type EvaluateOptions = {
  batchSize?: number;
  /**
   * The classes the model was trained to tell apart (the `numbers` setting); default all ten.
   * Digits of other classes are left out, the prediction is the most probable of these
   * classes, and `perClass` lists only these. The confusion matrix stays 10×10.
   */
  classes?: readonly number[];
};

/**
 * Accuracy, confusion matrix and per-class precision / recall / F1 from two label arrays.
 * `confusionMatrix[t][p]` counts digits of true class t predicted as p. A ratio with nothing
 * to count (0/0: precision of a class never predicted, recall of a class absent from the
 * labels, F1 when precision + recall is 0) is defined as 0, never NaN, so the metrics stay
 * valid JSON and comparable; `support` (true digits of the class) says when it means "no data".
 * An empty input gives accuracy 0 with testCount 0: callers that gate on it check testCount.
 */
export function metricsFromPredictions(
  labels: ArrayLike<number>,
  predicted: ArrayLike<number>,
  numClasses = CNN_NUM_CLASSES,
  classes: readonly number[] = range(numClasses),
): ModelMetrics {
  if (labels.length !== predicted.length) {
    throw new Error(`${labels.length} labels but ${predicted.length} predictions`);
  }
  const confusionMatrix = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  let correct = 0;
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i] ?? -1;
    const guess = predicted[i] ?? -1;
    const row = confusionMatrix[label];
    if (row === undefined || !(guess >= 0 && guess < numClasses && Number.isInteger(guess))) {
      throw new Error(`digit ${i}: label ${label} / prediction ${guess} is not a class 0–${numClasses - 1}`);
    }
    row[guess] = (row[guess] ?? 0) + 1;
    if (label === guess) correct++;
  }

  const perClass: ClassMetrics[] = classes.map((c) => {
    const truePositives = confusionMatrix[c]?.[c] ?? 0;
    const support = sum(confusionMatrix[c] ?? []);
    const predictedAs = sum(confusionMatrix.map((row) => row[c] ?? 0));
    const precision = ratio(truePositives, predictedAs);
    const recall = ratio(truePositives, support);
    return { label: String(c), precision, recall, f1: ratio(2 * precision * recall, precision + recall), support };
  });
  return { accuracy: ratio(correct, labels.length), testCount: labels.length, perClass, confusionMatrix };
}

/**
 * Predicts `set` in batches (each batch's tensors freed before the next) and returns
 * accuracy, mean cross-entropy loss (natural log, of the model's probability for the true
 * class), the confusion matrix and per-class metrics, as `metricsFromPredictions` defines them.
 */
export async function evaluateModel(model: tfl.LayersModel, set: DigitSet, options: EvaluateOptions = {}): Promise<ModelMetrics> {
  return (await evaluateDigits(model, set, options)).metrics;
}

/** `evaluateModel`'s figures and, digit by digit, whether the model got it right (−1: a class left out). */
export async function evaluateDigits(model: tfl.LayersModel, set: DigitSet, options: EvaluateOptions = {}): Promise<{ metrics: ModelMetrics; outcomes: Outcomes }> {
  const batchSize = options.batchSize ?? DEFAULT_EVAL_BATCH_SIZE;
  if (!(Number.isInteger(batchSize) && batchSize > 0)) throw new Error(`batchSize must be a positive integer, got ${batchSize}`);
  const classes = options.classes ?? range(CNN_NUM_CLASSES);
  if (classes.length === 0 || !classes.every((c) => Number.isInteger(c) && c >= 0 && c < CNN_NUM_CLASSES)) {
    throw new Error(`classes must be a non-empty list of classes 0–${CNN_NUM_CLASSES - 1}, got [${classes.join(', ')}]`);
  }
  const wanted = new Set(classes);

  const labels: number[] = [];
  const predicted: number[] = [];
  const outcomes: Outcomes = new Int8Array(set.count).fill(-1);
  let lossSum = 0;
  for (let start = 0; start < set.count; start += batchSize) {
    const end = Math.min(start + batchSize, set.count);
    const output = tf.tidy(() => {
      const pixels = set.images.subarray(start * MNIST_PIXELS, end * MNIST_PIXELS);
      return model.predict(tf.tensor4d(pixels, [end - start, ...CNN_INPUT_SHAPE])) as tf.Tensor;
    });
    let probabilities: Float32Array;
    try {
      probabilities = (await output.data()) as Float32Array;
    } finally {
      output.dispose();
    }
    for (let i = start; i < end; i++) {
      const label = set.labels[i] ?? -1;
      if (!wanted.has(label)) continue;
      const row = probabilities.subarray((i - start) * CNN_NUM_CLASSES, (i - start + 1) * CNN_NUM_CLASSES);
      const guess = argmaxOf(row, classes);
      labels.push(label);
      predicted.push(guess);
      outcomes[i] = guess === label ? 1 : 0;
      lossSum -= Math.log(Math.min(1, Math.max(LOSS_EPSILON, row[label] ?? 0)));
    }
  }
  const metrics = metricsFromPredictions(labels, predicted, CNN_NUM_CLASSES, classes);
  return { metrics: { ...metrics, loss: labels.length > 0 ? lossSum / labels.length : 0 }, outcomes };
}

/** An evaluation before the gate has checked it. */
export type ModelComparison = Omit<Evaluation, 'checks'>;

/**
 * Evaluates both models on the same named sets in one call, so the gate compares like with
 * like, digit by digit. Empty sets are omitted and listed in `skipped`: an accuracy of 0/0
 * would be noise. With no incumbent (the first run) `incumbent` is empty. `judged` is what
 * the gate reads; `comparison` what the run records.
 */
export async function compareModels(
  candidate: tfl.LayersModel,
  incumbent: tfl.LayersModel | null,
  sets: Readonly<Record<string, DigitSet>>,
  options: EvaluateOptions = {},
): Promise<{ comparison: ModelComparison; judged: Record<string, JudgedSet> }> {
  const comparison: ModelComparison = { candidate: {}, incumbent: {}, skipped: [] };
  const judged: Record<string, JudgedSet> = {};
  for (const [name, set] of Object.entries(sets)) {
    if (set.count === 0) {
      comparison.skipped.push(name);
      continue;
    }
    const mine = await evaluateDigits(candidate, set, options);
    const theirs = incumbent === null ? null : await evaluateDigits(incumbent, set, options);
    comparison.candidate[name] = mine.metrics;
    if (theirs !== null) comparison.incumbent[name] = theirs.metrics;
    judged[name] = { candidate: mine.metrics, incumbent: theirs?.metrics ?? null, candidateOutcomes: mine.outcomes, incumbentOutcomes: theirs?.outcomes ?? null };
  }
  return { comparison, judged };
}

/** Index (a class) of the largest of `row` among `classes`; ties go to the first listed. */
function argmaxOf(row: Float32Array, classes: readonly number[]): number {
  let best = classes[0] ?? 0;
  for (const c of classes) {
    if ((row[c] ?? -Infinity) > (row[best] ?? -Infinity)) best = c;
  }
  return best;
}

function ratio(numerator: number, denominator: number): number {
  return denominator === 0 ? 0 : numerator / denominator;
}

function sum(values: readonly number[]): number {
  return values.reduce((total, value) => total + value, 0);
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
