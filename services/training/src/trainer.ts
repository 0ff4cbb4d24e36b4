import { runCycle } from './cycle.js';
import type { CycleDeps, CycleOptions, CycleResult, CycleSettings } from './cycle.js';
import type { RegistrationProgress } from './registration.js';

export const CYCLE_TRIGGERS = ['schedule', 'request', 'command'] as const;
export type CycleTrigger = (typeof CYCLE_TRIGGERS)[number];

/** One cycle as `/status` shows it: no model, no bundle bytes. */
export type CycleSummary = {
  trigger: CycleTrigger;
  startedAt: string;
  seconds: number;
  status: CycleResult['status'];
  reason: string;
  runId?: number;
  version?: string;
};

export type BaseDataState =
  | { state: 'waiting' }
  | { state: 'registering'; progress?: RegistrationProgress }
  | { state: 'ready'; source: string; registered: number; seconds: number }
  | { state: 'failed'; error: string };

/** What the trainer needs to run a cycle, less the base source, which registration decides. */
export type TrainerDeps = Omit<CycleDeps, 'settings'> & {
  settings: Omit<CycleSettings, 'baseSource'>;
  /** Default runCycle. */
  runCycle?: typeof runCycle;
  /** Default Date.now; tests move time. */
  clock?: () => number;
};

/**
 * After failed cycles, scheduled ones wait 30 s, 1 min, 2 min… up to 15 min before training
 * again: a failure (appbuilder down, storage gone) would otherwise cost a whole training every
 * interval. Requested and command cycles do not wait; any success resets the count.
 */
export const FAILURE_BACKOFF_MS = { first: 30_000, max: 15 * 60_000 } as const;

export function backoffMs(failures: number): number {
  return failures === 0 ? 0 : Math.min(FAILURE_BACKOFF_MS.first * 2 ** (failures - 1), FAILURE_BACKOFF_MS.max);
}

export type Trainer = {
  /**
   * Runs one cycle now unless one is running in this process ('busy'); other processes are kept
   * out by the database lock inside runCycle. Never throws.
   */
  run(trigger: CycleTrigger, options?: CycleOptions): Promise<CycleResult | 'busy'>;
  readonly busy: boolean;
  /** Resolves when no cycle is running (at once when idle). */
  idle(): Promise<void>;
  baseData: BaseDataState;
  /** Cycles that did something (trained, or failed), newest first, at most RECENT_CYCLES. */
  recent(): CycleSummary[];
  /** The latest cycle of any outcome, skips included: when the service last looked, and why it did nothing. */
  lastCheck(): CycleSummary | null;
};

export const RECENT_CYCLES = 20;

export function createTrainer(deps: TrainerDeps): Trainer {
  const cycle = deps.runCycle ?? runCycle;
  const clock = deps.clock ?? Date.now;
  const recent: CycleSummary[] = [];
  let last: CycleSummary | null = null;
  let running: Promise<CycleResult> | undefined;
  let failures = 0;
  let lastFailure = 0;

  const trainer: Trainer = {
    baseData: { state: 'waiting' },
    get busy() {
      return running !== undefined;
    },
    async idle() {
      await running?.catch(() => undefined);
    },
    recent: () => [...recent],
    lastCheck: () => last,
    async run(trigger, options = {}) {
      if (running !== undefined) return 'busy';
      const startedAt = new Date(clock());
      const started = performance.now();
      const base = trainer.baseData;
      const waitUntil = lastFailure + backoffMs(failures);
      if (trigger === 'schedule' && clock() < waitUntil) {
        return { status: 'skipped', reason: `backing off after ${failures} failed cycle(s) until ${new Date(waitUntil).toISOString()}` };
      }
      running =
        base.state === 'ready'
          ? cycle({ ...deps, settings: { ...deps.settings, baseSource: base.source } }, options)
          : Promise.resolve({ status: 'skipped', reason: `the base data is not registered yet (${base.state})` });
      try {
        const result = await running;
        if (result.status === 'failed') {
          failures++;
          lastFailure = clock();
        } else if (result.status !== 'skipped') {
          failures = 0;
        }
        last = {
          trigger,
          startedAt: startedAt.toISOString(),
          seconds: Math.round(performance.now() - started) / 1000,
          status: result.status,
          reason: result.reason,
          ...('runId' in result && result.runId !== undefined ? { runId: result.runId } : {}),
          ...(result.status === 'promoted' ? { version: result.version } : {}),
        };
        // Skips (every interval, mostly "below the threshold") would push real cycles out.
        if (result.status !== 'skipped') {
          recent.unshift(last);
          recent.splice(RECENT_CYCLES);
        }
        return result;
      } finally {
        running = undefined;
      }
    },
  };
  return trainer;
}
