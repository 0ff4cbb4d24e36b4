import { ALL_CLASSES, BACKGROUND, countUnusedFeedbackByClass, listRuns, newestUnusedFeedbackId } from '@mlpl/shared';
import type { Pool } from '@mlpl/shared';
import type { CycleSettings } from './cycle-types.js';

/** Whether a cycle trains now, and why (the reason is logged, or answered when it skips). */
export type Trigger = { train: boolean; reason: string };

/** Whether a cycle should train now, and why: the total rule, then seed 001's per-class rule. */
export function trainingTrigger(unusedByClass: readonly number[], settings: Pick<CycleSettings, 'threshold' | 'classThreshold' | 'classes'>): Trigger {
  const classes = settings.classes ?? ALL_CLASSES;
  const total = classes.reduce((sum, c) => sum + (unusedByClass[c] ?? 0), 0);
  if (total >= settings.threshold) return { train: true, reason: `${total} unused feedback images reached the threshold of ${settings.threshold}` };
  const { classThreshold } = settings;
  const gained = classThreshold === undefined ? undefined : classes.find((c) => (unusedByClass[c] ?? 0) >= classThreshold);
  if (gained !== undefined) {
    return { train: true, reason: `class ${gained} gained ${unusedByClass[gained]} unused images, reaching the per-class threshold of ${classThreshold}` };
  }
  return { train: false, reason: `${total} unused feedback images, fewer than the threshold of ${settings.threshold}` };
}

/**
 * The trigger as the database stands: the unused feedback counted against the thresholds,
 * and no wait after a rejection. A forced cycle trains whatever they say. Read in the
 * background (no deadline), like the rest of the cycle.
 */
export async function checkTrigger(pool: Pool, settings: CycleSettings, force: boolean): Promise<Trigger> {
  const trigger = trainingTrigger(await countUnusedFeedbackByClass(pool, BACKGROUND), settings);
  if (force) return { train: true, reason: trigger.reason };
  if (!trigger.train) return trigger;
  const waiting = await waitingAfterRejection(pool, settings.classes ?? ALL_CLASSES);
  return waiting === null ? trigger : { train: false, reason: waiting };
}

/**
 * A rejected candidate leaves its images unused, but training again on exactly the same images
 * would make the same candidate (training is deterministic) every interval. So after a
 * rejection a cycle waits for feedback newer than what that run saw; a forced cycle does not.
 */
async function waitingAfterRejection(pool: Pool, classes: readonly number[]): Promise<string | null> {
  const [last] = await listRuns(pool, 1, BACKGROUND);
  if (last?.status !== 'rejected') return null;
  const seen = last.dataCounts?.newestFeedbackId;
  if (seen === undefined || seen === null) return null;
  const newest = await newestUnusedFeedbackId(pool, classes, BACKGROUND);
  if (newest === null || newest <= seen) {
    return `run ${last.id} rejected a candidate trained on these images; waiting for new feedback (or POST /train?force=true)`;
  }
  return null;
}
