import type { Logger } from './logger.js';

/** A readiness check's answer: only whether it passed. Why it failed is for the log. */
export type CheckState = 'ok' | 'failed';

export type Probes = Readonly<Record<string, () => Promise<unknown>>>;

/**
 * Readiness as the services answer it: each check's name and 'ok' or 'failed', nothing more.
 * A failure's own words (a driver's "connect ECONNREFUSED 10.0.3.7:3306", "Access denied for
 * user 'mlpl'@'10.0.3.9'") name addresses and accounts, and /readyz answers anyone who can
 * reach the port; they go to the log instead, once when a check starts failing or fails
 * differently, and a line when it passes again, so a probe polled every few seconds does not
 * fill the log with the same line.
 *
 * The probes run at once; with `timeoutMs`, one that has not answered by then failed.
 */
export function readinessChecks(probes: Probes, options: { logger: Logger; timeoutMs?: number }): () => Promise<Record<string, CheckState>> {
  const log = options.logger.child({ module: 'readiness' });
  const lastFailure = new Map<string, string>();

  async function run(name: string, probe: () => Promise<unknown>): Promise<CheckState> {
    let timer: NodeJS.Timeout | undefined;
    try {
      const answered = probe();
      if (options.timeoutMs === undefined) {
        await answered;
      } else {
        const ms = options.timeoutMs;
        await Promise.race([answered, new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
        })]);
      }
      if (lastFailure.delete(name)) log.info({ check: name }, `readiness check ${name} passes again`);
      return 'ok';
    } catch (error) {
      const reason = (error as Error | undefined)?.message || String(error);
      if (lastFailure.get(name) !== reason) log.warn({ check: name, err: error }, `readiness check ${name} failed: ${reason}`);
      lastFailure.set(name, reason);
      return 'failed';
    } finally {
      clearTimeout(timer);
    }
  }

  return async () => {
    const names = Object.keys(probes);
    const states = await Promise.all(names.map((name) => run(name, probes[name] as () => Promise<unknown>)));
    return Object.fromEntries(names.map((name, i) => [name, states[i] as CheckState]));
  };
}
