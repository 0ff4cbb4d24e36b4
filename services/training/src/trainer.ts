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
};

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
  /** Newest first, at most RECENT_CYCLES. */
  recent(): CycleSummary[];
};

export const RECENT_CYCLES = 20;

export function createTrainer(deps: TrainerDeps): Trainer {
  const cycle = deps.runCycle ?? runCycle;
  const recent: CycleSummary[] = [];
  let running: Promise<CycleResult> | undefined;

  const trainer: Trainer = {
    baseData: { state: 'waiting' },
    get busy() {
      return running !== undefined;
    },
    async idle() {
      await running?.catch(() => undefined);
    },
    recent: () => [...recent],
    async run(trigger, options = {}) {
      if (running !== undefined) return 'busy';
      const startedAt = new Date();
      const started = performance.now();
      const base = trainer.baseData;
      running =
        base.state === 'ready'
          ? cycle({ ...deps, settings: { ...deps.settings, baseSource: base.source } }, options)
          : Promise.resolve({ status: 'skipped', reason: `the base data is not registered yet (${base.state})` });
      try {
        const result = await running;
        recent.unshift({
          trigger,
          startedAt: startedAt.toISOString(),
          seconds: Math.round(performance.now() - started) / 1000,
          status: result.status,
          reason: result.reason,
          ...('runId' in result && result.runId !== undefined ? { runId: result.runId } : {}),
          ...(result.status === 'promoted' ? { version: result.version } : {}),
        });
        recent.splice(RECENT_CYCLES);
        return result;
      } finally {
        running = undefined;
      }
    },
  };
  return trainer;
}
