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
  /** The version it was judged against (the one it descended from: see the run's lineage); null when there was none. */
  against: string | null;
  /**
   * TRAINING_TOLERANCE (0.01 = one point): today, the floor's slack below the best test accuracy
   * a served version reached; for runs recorded before the checks had kinds, the largest loss
   * allowed on a set. Null when the run did not record it.
   */
  tolerance: number | null;
};

/**
 * Which versions a run's model came from: `parentVersion` (in the summaries) is the one it
 * descended from and was judged against; `servingVersion` the one in service when its run
 * started. They differ only when the one in service could not be loaded.
 */
export type Lineage = {
  /** The version in service when the run started, per the deployment records; null for a model no run made, or a run recorded before runs kept it. */
  servingVersion: string | null;
  /** Why the run started from another version than the one in service, as the training service recorded it; null when it did not. */
  incumbentNote: string | null;
  /** Both in a sentence: "trained from v9, which was in service", "trained from v8: v9 was in service but could not be loaded: …"; null when no run made it. */
  lineage: string | null;
};

export type ModelSummary = Lineage & {
  version: string;
  /** The version it descended from (fine-tuned from, or judged against when trained from scratch); null for the first model. */
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

/**
 * What the registry's answers leave out, so the pages can say so: live counts are of recent
 * predictions only, and only the newest records are read (an anonymous page must not read
 * tables that grow without end).
 */
export type RegistryWindow = {
  /** Live counts (`live`, `liveByClass`) are of the predictions made in the last this many days… */
  liveDays: number;
  /** …that is, since this time. */
  liveSince: string;
  /** At most this many builds, deployments and training runs are read, newest first. */
  recordLimit: number;
  /** Some were left out: versions older than those may show no image, run or time in service. */
  recordsTruncated: boolean;
};

export type ModelList = { serving: string; models: ModelSummary[]; window: RegistryWindow };

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
  window: RegistryWindow;
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
  /** Predictions of the last this many days (1 for minutes, 30 for hours, 365 for days)… */
  days: number;
  /** …that is, since this time. */
  since: string;
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
export type TrainingRunSummary = Lineage & {
  id: number;
  status: 'running' | 'promoted' | 'rejected' | 'failed';
  startedAt: string;
  finishedAt: string | null;
  /** The version it descended from (fine-tuned from) and was judged against. */
  parentVersion: string | null;
  /** The version it made; null when it made none (rejected, failed before its gate, still training). */
  modelVersion: string | null;
  /** The gate's verdict in plain words (see gate-words.ts), as in a version's `gate.summary`; null before the gate, or when the run failed before it. */
  verdict: string | null;
  /** Why it failed, as the training service recorded it; null unless it failed. */
  error: string | null;
  /** The gate's checks with their figures (see lineage.ts in @mlpl/shared); null before the gate. */
  checks: GateCheck[] | null;
  /**
   * What a refused run set aside for review: the unused labelled digits it tried, when it was one
   * refusal too many in a row (`refusalsInARow`: TRAINING_REFUSALS_BEFORE_REVIEW as the run had
   * it; null when not recorded). Null when it set none aside.
   */
  setAside: { images: number; refusalsInARow: number | null } | null;
};

/**
 * Labelled digits set aside for review: after TRAINING_REFUSALS_BEFORE_REVIEW refusals in a
 * row, training stops trying the unused ones the refused runs tried, until a person reviews
 * them (a review page is to come: issue "people in the loop").
 */
export type SetAsideFeedback = {
  total: number;
  /** Per class (index = label). */
  byClass: number[];
  /** The runs that set them aside, newest first, with how many of theirs are still aside. */
  runs: { id: number; finishedAt: string | null; images: number; refusalsInARow: number | null }[];
  /** In words, for the pages; null when none is set aside. */
  summary: string | null;
};

/** Where training stands: `GET /api/training`, which the draw page polls. */
export type TrainingStatus = {
  /** Labelled digits no run has used yet (corrections and confirmations), counted as the training service's trigger counts them: those set aside for review left out. */
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
  /** Labelled digits set aside for review, not counted in `pending`. */
  setAside: SetAsideFeedback;
};

export type TrainingRunList = { runs: TrainingRunSummary[] };
