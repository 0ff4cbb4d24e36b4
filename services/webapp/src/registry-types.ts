import type { DataCounts, EpochLog, Evaluation, FeedbackKind, GateCheck, ModelMetrics } from '@mlpl/shared';

export type { EpochLog, FeedbackKind, GateCheck };

/**
 * The JSON the model registry serves under `/api/models…` and `/api/corrections…`, and the
 * `/models` page reads. Times are ISO 8601 strings; rates are fractions in [0, 1].
 */

export type LiveCounts = {
  /** Predictions this version served (health-gate probes excluded). */
  predictions: number;
  /** Predictions of this version people sent feedback on (labelled), whatever the label. The name predates the page's words: corrections and confirmations alike. */
  corrections: number;
  /** Of those, how many people labelled another digit than the model said (corrections): the people's verdict "wrong". */
  wrong: number;
  /** wrong ÷ predictions; null without predictions. */
  errorRate: number | null;
};

/**
 * One span of time a version was the one in service. `basis` says how it is known:
 * 'deployment' from the appbuilder's records (until the next deployment), 'first-start' for
 * the first model a webapp loaded, which no deployment put there: from its earliest record
 * (first load or first prediction) until the first deployment.
 */
export type ServicePeriod = { from: string; until: string | null; basis: 'deployment' | 'first-start' };

export type GateVerdict = {
  /** The run was promoted: its version was handed over to be built. */
  promoted: boolean;
  /** The gate let it through (every check passed); a run that passed may still have failed to hand its version over. */
  passed: boolean;
  /** The gate's own words, as the training service recorded them. */
  reason: string | null;
  /** The verdict in plain words, made from the recorded numbers: "promoted: 0.4 points better than v3 on the test set". */
  summary: string;
  /** The version it was measured against (the one in service when it trained); null when there was none. */
  against: string | null;
  /** The largest accuracy loss the gate allowed on a set (0.01 = one point); null when the run did not record it. */
  tolerance: number | null;
};

export type ModelSummary = {
  version: string;
  /** The version it was fine-tuned from; null for the first model or one trained from scratch. */
  parentVersion: string | null;
  /** The training run that made it; null for the pretrained model. */
  runId: number | null;
  createdAt: string | null;
  /** 'serving' now, 'retired' (served before), 'built' (never deployed), 'unreleased' (named by a run whose hand-over failed; never built). */
  state: 'serving' | 'retired' | 'built' | 'unreleased';
  /** Accuracy on the base test set as the run evaluated it (null when unknown). */
  testAccuracy: number | null;
  gate: GateVerdict | null;
  image: string | null;
  digest: string | null;
  served: ServicePeriod[];
  live: LiveCounts;
};

export type ModelList = { serving: string; models: ModelSummary[] };

/** One evaluated set: accuracy, loss, digit count, per-class precision/recall/F1, confusion matrix. */
export type SetEvaluation = ModelMetrics;

export type ModelDetail = ModelSummary & {
  parameters: unknown;
  /** Per epoch: training loss/accuracy and validation loss/accuracy. */
  history: EpochLog[];
  /** Per evaluated set ('test', 'feedback'): the candidate's and the incumbent's figures, and the gate's checks. */
  evaluation: Pick<Evaluation, 'candidate' | 'incumbent' | 'checks'> | null;
  /** What it was trained on: counts by class and by source; the exact ids at `/api/models/{version}/training-images`. */
  trainingData: {
    mode: DataCounts['mode'];
    byClass: number[];
    bySource: Record<string, number>;
    heldOutFeedback: number;
    test: number;
    /**
     * bySource.feedback in two: labels trained on for the first time (unused until this run) and
     * labels earlier runs trained on, replayed so a fine-tune does not unlearn them. Both null
     * where not recorded apart: from scratch (every label trains) and the pretrained model.
     */
    newFeedback: number | null;
    earlierFeedback: number | null;
  } | null;
  /** Live error rate by predicted digit (index 0–9). */
  liveByClass: LiveCounts[];
};

export type TrainingImages = {
  version: string;
  /** Image ids (rows of `images`) the version was trained on: feedback, and base images (all of a split for a run from scratch and the pretrained model). */
  feedback: number[];
  replay: number[];
  heldOut: number[];
};

/** Live error rate over time: one point per version per bucket. */
export type ErrorRateSeries = {
  bucket: 'minute' | 'hour' | 'day';
  points: { version: string; start: string; predictions: number; wrong: number; errorRate: number | null }[];
};

export type Correction = {
  id: number;
  createdAt: string;
  label: number;
  predictedDigit: number | null;
  /** 'correction': the person said another digit than the model; 'confirmation': the same one; 'unlinked': sent without a prediction. */
  kind: FeedbackKind;
  modelVersion: string | null;
  /** GET it for the image bytes. */
  imageUrl: string;
};

/** The newest feedback (of one kind when asked), and how many there are of each kind in all. */
export type CorrectionList = { corrections: Correction[]; counts: Record<FeedbackKind, number> };

/** A training run as the pages tell it: what it made, or why it made nothing. */
export type TrainingRunSummary = {
  id: number;
  status: 'running' | 'promoted' | 'rejected' | 'failed';
  startedAt: string;
  finishedAt: string | null;
  /** The version in service when it started: fine-tuned from and measured against. */
  parentVersion: string | null;
  /** The version it made; null when it made none (rejected, failed before its gate, still training). */
  modelVersion: string | null;
  /** The gate's verdict in plain words (see gate-words.ts), as in a version's `gate.summary`; null before the gate, or when the run failed before it. */
  verdict: string | null;
  /** Why it failed, as the training service recorded it; null unless it failed. */
  error: string | null;
};

/** Where training stands: `GET /api/training`, which the draw page polls. */
export type TrainingStatus = {
  /** Labelled digits no run has used yet (corrections and confirmations), counted as the training service's trigger counts them. */
  pending: number;
  /** TRAINING_THRESHOLD: at this many a run starts at the training service's next check. */
  threshold: number;
  /**
   * True after a rejected run while no label has come in since: the training service does not
   * train on the same labels twice, so the next run waits for a new one, whatever `pending` says.
   */
  waitsForNewLabels: boolean;
  /** The newest run, finished or not; null before the first. */
  lastRun: TrainingRunSummary | null;
};

export type TrainingRunList = { runs: TrainingRunSummary[] };
