import type { TrainingRunRow } from '@mlpl/shared';

/**
 * Where a run's model came from, in a sentence: the version it descended from (and was judged
 * against), and the one in service when it started. The two differ only when the one in service
 * could not be loaded; then the training service's note says why.
 */

type RunLineage = Pick<TrainingRunRow, 'parentVersion' | 'servingVersion' | 'incumbentNote' | 'parameters' | 'dataCounts'>;

function modeOf(run: RunLineage): string | null {
  const mode = run.dataCounts?.mode ?? run.parameters?.['mode'];
  return typeof mode === 'string' ? mode : null;
}

/**
 * "trained from v9, which was in service"; "trained from v8: v9 was in service but could not
 * be loaded: …"; from scratch, "trained from scratch, judged against v9, …". Runs recorded
 * before the version in service was kept say only what they descended from. Null when the run
 * names neither version.
 */
export function lineageText(run: RunLineage): string | null {
  const { parentVersion: parent, servingVersion: serving } = run;
  if (parent === null) return serving === null ? null : `trained with no model to start from; ${serving} was in service`;
  const start = modeOf(run) === 'scratch' ? `trained from scratch, judged against ${parent}` : `trained from ${parent}`;
  if (serving === null) return start;
  if (serving === parent) return `${start}, which was in service`;
  return `${start}: ${serving} was in service but could not be loaded${run.incumbentNote === null ? '' : `: ${run.incumbentNote}`}`;
}
