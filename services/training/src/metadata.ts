import { ALL_CLASSES, MNIST_CLASSES, PREPROCESSING_VERSION } from '@mlpl/shared';
import type { EpochLog, Evaluation, ModelMetadata, RunDataCounts, TrainMode } from '@mlpl/shared';
import type { CycleSettings } from './cycle-types.js';

export type MetadataInput = {
  version: string;
  /** When the version was named: the cycle's clock. */
  created: Date;
  parent: string;
  settings: CycleSettings;
  mode: TrainMode;
  history: EpochLog[];
  counts: RunDataCounts;
  evaluation: Evaluation;
};

/** A candidate's metadata.json: serving's input contract and the lineage the registry shows (lineage.ts's TrainingSummary). */
export function buildMetadata(input: MetadataInput): ModelMetadata {
  const { settings, evaluation } = input;
  const test = evaluation.candidate['test'];
  if (test === undefined) throw new Error('the candidate was not evaluated on the test set');
  // The exact image ids stay with the run; the bundle says how many.
  const { feedbackImageIds, heldOutImageIds, replayImageIds, timingsMs, ...rest } = input.counts;
  // The stage timings as they stand now: the live clock goes on (hand-over, total) after the
  // bundle is written, and the metadata returned must stay what the bundle holds.
  const counts = { ...rest, timingsMs: timingsMs === null ? null : { ...timingsMs } };
  return {
    version: input.version,
    created: input.created.toISOString(),
    parent: input.parent,
    input: { shape: [28, 28, 1], dtype: 'float32', range: [0, 1], polarity: 'white-on-black' },
    preprocessing: { version: PREPROCESSING_VERSION },
    labels: Array.from({ length: MNIST_CLASSES }, (_, i) => String(i)),
    training: {
      mode: input.mode,
      seed: settings.seed,
      baseSource: settings.baseSource,
      classes: [...(settings.classes ?? ALL_CLASSES)],
      epochs: input.history.length,
      history: input.history,
      counts,
      evaluation: evaluation.candidate,
    },
    metrics: test,
  };
}
