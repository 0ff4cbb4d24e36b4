/** A training run as the training service's /status lists it (the last 10, newest first). */
export type RunView = { id: number; status: string; modelVersion: string | null; gateReason: string | null; error: string | null };

/** The run's outcome in words: `promoted v3-… (reason)`, `rejected (reason)`, `failed (error)`. */
function outcome(run: RunView): string {
  const version = run.modelVersion === null ? '' : ` ${run.modelVersion}`;
  const why = run.error ?? run.gateReason;
  return `${run.status}${version}${why === null ? '' : ` (${why})`}`;
}

/**
 * What the stack prints about training runs, from successive /status answers. A run is told
 * twice at most: `running` (no version or gate reason: a running run may carry the gate's
 * verdict while its image is built and rolled out, which is not its result yet), then its
 * outcome once it has one. The runs already there at the first answer (a restart) are summed
 * up in one line, not told again as if new.
 */
export class RunReport {
  readonly #told = new Map<number, 'running' | 'done'>();
  #first = true;

  /** The lines to print for one /status answer; `serving`: the version the webapp serves, for the summary. */
  lines(runs: readonly RunView[], serving?: string): string[] {
    const oldestFirst = [...runs].sort((a, b) => a.id - b.id);
    const lines: string[] = [];
    if (this.#first) {
      this.#first = false;
      const earlier = oldestFirst.filter((run) => run.status !== 'running');
      for (const run of earlier) this.#told.set(run.id, 'done');
      const last = earlier.at(-1);
      const served = serving === undefined ? '' : `; serving ${serving}`;
      lines.push(last === undefined ? `no training runs yet${served}` : `earlier training runs: 1–${last.id}, the last ${outcome(last)}${served}`);
    }
    for (const run of oldestFirst) {
      const told = this.#told.get(run.id);
      if (run.status === 'running') {
        if (told === undefined) lines.push(`training run ${run.id}: running`);
        this.#told.set(run.id, 'running');
      } else if (told !== 'done') {
        lines.push(`training run ${run.id}: ${outcome(run)}`);
        this.#told.set(run.id, 'done');
      }
    }
    return lines;
  }
}
