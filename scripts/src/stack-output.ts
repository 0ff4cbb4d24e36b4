/** A training run as the training service's /status lists it (the last 10, newest first). */
export type RunView = { id: number; status: string; modelVersion: string | null; gateReason: string | null; error: string | null };

/**
 * The run's outcome in words: `promoted v3-… (reason)`, `rejected (reason) — what happens next`,
 * `failed (error) — what happens next`. The gate's reason starts with its verdict, said once.
 */
function outcome(run: RunView): string {
  const version = run.modelVersion === null ? '' : ` ${run.modelVersion}`;
  const why = (run.error ?? run.gateReason)?.replace(new RegExp(`^${run.status}:\\s*`), '') ?? null;
  const next = NEXT[run.status];
  return `${run.status}${version}${why === null ? '' : ` (${why})`}${next === undefined ? '' : ` — ${next}`}`;
}

const NEXT: Record<string, string> = {
  rejected: 'the model in service stays; training tries again once new feedback arrives (or at once: POST /train?force=true, see services/training/README.md)',
  failed: 'its feedback stays unused; the next check tries again (the reason is in logs/training.log)',
};

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
  #serving: string | undefined;

  /**
   * The lines to print for one /status answer; `serving`: the version the webapp serves now,
   * for the summary and, when it changes (a rollout, a rollback), a line of its own.
   */
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
      this.#serving = serving;
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
    if (serving !== undefined && this.#serving !== undefined && serving !== this.#serving) lines.push(`the webapp now serves ${serving} (was ${this.#serving})`);
    if (serving !== undefined) this.#serving = serving;
    return lines;
  }
}
