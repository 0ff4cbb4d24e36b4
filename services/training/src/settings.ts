import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { EnvReader, readDatabaseSettings, readLogLevel, readStorageSettings, readTrainingThreshold, TF_BACKEND_PREFERENCES } from '@mlpl/shared';
import type { DatabaseSettings, Env, LogLevel, StorageSettings, TfBackendPreference } from '@mlpl/shared';
import { DEFAULT_APPBUILDER_TIMEOUT_MS } from './appbuilder-client.js';
import { DEFAULT_REFUSALS_BEFORE_REVIEW } from './cycle.js';
import { DEFAULT_GATE_RULES } from './gate.js';
import { parseInterval } from './interval.js';
import type { Schedule } from './interval.js';
import { BASE_DATASETS, DEFAULT_FASHION_MNIST_DIR, DEFAULT_MNIST_BASE_URL } from './mnist-source.js';
import type { BaseDatasetName } from './mnist-source.js';
import type { TrainMode } from './train.js';

export type TrainingSettings = {
  host: string;
  port: number;
  /** Bearer token `POST /train` requires. */
  token: string;
  schedule: Schedule;
  /** Unused feedback images (of the learnt classes) that start a cycle. */
  threshold: number;
  /** Seed 001's rule: a cycle also starts when one class has this many unused images; undefined = off. */
  classThreshold: number | undefined;
  /** The gate's floor: how far below the best test accuracy a served version reached a candidate may be. */
  tolerance: number;
  /** McNemar's one-sided p below which a candidate counts as worse than the incumbent on a set. */
  significance: number;
  /** Share of the corrections the incumbent answers right that a candidate may break (at least one). */
  breakShare: number;
  /** Recall a class may lose on the test set. */
  classMargin: number;
  /** Refused runs in a row after which the unused feedback they tried is set aside for review. */
  refusalsBeforeReview: number;
  mode: TrainMode;
  dataset: BaseDatasetName;
  /** The classes learnt (seed 004's `numbers`), ascending. */
  classes: number[];
  seed: number;
  replaySize: number;
  feedbackHeldOutShare: number;
  epochs: number | undefined;
  testLimit: number | undefined;
  dropoutRate: number;
  mnistBaseUrl: string;
  fashionDir: string;
  /** The service's volume: MNIST downloads and the image cache. */
  dataDir: string;
  /** The first model, served until a run is promoted. */
  pretrainedDir: string;
  appbuilder: { url: string; token: string; timeoutMs: number };
  tfjsBackend: TfBackendPreference;
  logLevel: LogLevel;
  database: DatabaseSettings;
  storage: StorageSettings;
};

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const DEFAULT_PRETRAINED_DIR = path.join(REPO_ROOT, 'pretrained');
export const DEFAULT_DATA_DIR = path.join(REPO_ROOT, '.cache', 'training');

/**
 * `0-9`, `3,5,8` or a mix (`0-4,7`): the classes to learn. At least two, or there is nothing
 * to tell apart. Returns the sorted classes, or a string saying what is wrong.
 */
export function parseClasses(text: string): number[] | string {
  const classes = new Set<number>();
  for (const part of text.split(',').map((p) => p.trim())) {
    const match = /^(\d)(?:\s*-\s*(\d))?$/.exec(part);
    if (match === null) return `"${part}" is not a digit 0–9 or a range like 0-4`;
    const from = Number(match[1]);
    const to = match[2] === undefined ? from : Number(match[2]);
    if (to < from) return `range "${part}" runs backwards`;
    for (let c = from; c <= to; c++) classes.add(c);
  }
  if (classes.size < 2) return 'at least two classes are needed to learn anything';
  return [...classes].sort((a, b) => a - b);
}

function httpUrl(reader: EnvReader, name: string, fallback: string): string {
  const value = reader.string(name, fallback);
  try {
    const url = new URL(value);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') reader.problem(`${name} must be an http(s) URL, got "${value}"`);
  } catch {
    reader.problem(`${name} must be an http(s) URL, got "${value}"`);
  }
  return value;
}

export function loadTrainingSettings(env: Env): TrainingSettings {
  const reader = new EnvReader(env);
  const interval = reader.string('TRAINING_INTERVAL', '10s');
  const schedule = parseInterval(interval);
  if (typeof schedule === 'string') reader.problem(`TRAINING_INTERVAL ${schedule}`);
  const classes = parseClasses(reader.string('TRAINING_NUMBERS', '0-9'));
  if (typeof classes === 'string') reader.problem(`TRAINING_NUMBERS: ${classes}`);
  const settings: TrainingSettings = {
    host: reader.string('TRAINING_HOST', '0.0.0.0'),
    port: reader.port('TRAINING_PORT', 5001),
    token: reader.secret('TRAINING_TOKEN'),
    schedule: typeof schedule === 'string' ? { expression: '', description: '' } : schedule,
    threshold: readTrainingThreshold(reader),
    classThreshold: reader.optionalInt('TRAINING_CLASS_THRESHOLD', { min: 1, max: 1_000_000 }),
    tolerance: reader.number('TRAINING_TOLERANCE', { default: DEFAULT_GATE_RULES.tolerance, min: 0, max: 1 }),
    significance: reader.number('TRAINING_GATE_SIGNIFICANCE', { default: DEFAULT_GATE_RULES.significance, min: 0.000001, max: 1 }),
    breakShare: reader.number('TRAINING_GATE_BREAK_SHARE', { default: DEFAULT_GATE_RULES.breakShare, min: 0, max: 1 }),
    classMargin: reader.number('TRAINING_GATE_CLASS_MARGIN', { default: DEFAULT_GATE_RULES.classMargin, min: 0, max: 1 }),
    refusalsBeforeReview: reader.int('TRAINING_REFUSALS_BEFORE_REVIEW', { default: DEFAULT_REFUSALS_BEFORE_REVIEW, min: 1, max: 1000 }),
    mode: reader.oneOf('TRAINING_MODE', ['fine-tune', 'scratch'], 'fine-tune'),
    dataset: reader.oneOf('TRAINING_DATASET', BASE_DATASETS, 'mnist'),
    classes: typeof classes === 'string' ? [] : classes,
    seed: reader.int('TRAINING_SEED', { default: 42, min: 0, max: 2 ** 32 - 1 }),
    replaySize: reader.int('TRAINING_REPLAY_SIZE', { default: 1000, min: 0, max: 100_000 }),
    feedbackHeldOutShare: reader.number('TRAINING_HELD_OUT_SHARE', { default: 0.2, min: 0, max: 0.9 }),
    epochs: reader.optionalInt('TRAINING_EPOCHS', { min: 1, max: 200 }),
    testLimit: reader.optionalInt('TRAINING_TEST_LIMIT', { min: 1, max: 1_000_000 }),
    dropoutRate: reader.number('TRAINING_DROPOUT', { default: 0, min: 0, max: 0.9 }),
    mnistBaseUrl: httpUrl(reader, 'MNIST_BASE_URL', DEFAULT_MNIST_BASE_URL),
    fashionDir: reader.string('FASHION_MNIST_DIR', DEFAULT_FASHION_MNIST_DIR),
    dataDir: reader.string('DATA_DIR', DEFAULT_DATA_DIR),
    pretrainedDir: reader.string('PRETRAINED_DIR', DEFAULT_PRETRAINED_DIR),
    appbuilder: {
      url: httpUrl(reader, 'APPBUILDER_URL', 'http://appbuilder:5000/'),
      token: reader.secret('APPBUILDER_TOKEN'),
      timeoutMs: reader.int('APPBUILDER_TIMEOUT_MS', { default: DEFAULT_APPBUILDER_TIMEOUT_MS, min: 1000, max: 3_600_000 }),
    },
    tfjsBackend: reader.oneOf('TFJS_BACKEND', TF_BACKEND_PREFERENCES, 'auto'),
    logLevel: readLogLevel(reader),
    database: readDatabaseSettings(reader),
    storage: readStorageSettings(reader),
  };
  reader.done();
  return settings;
}
