import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from './logger.js';

/**
 * Retries `fn` with a fixed delay until it succeeds or `timeoutMs` has passed, then rethrows
 * the last error. For dependencies that start alongside a service (database, storage).
 */
export async function retry<T>(
  fn: () => Promise<T>,
  options: { what: string; logger?: Logger; timeoutMs?: number; delayMs?: number; signal?: AbortSignal },
): Promise<T> {
  const { timeoutMs = 120_000, delayMs = 2000 } = options;
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (Date.now() + delayMs > deadline || options.signal?.aborted === true) throw error;
      options.logger?.warn({ err: error, attempt }, `${options.what} failed, retrying in ${delayMs} ms`);
      // Rejects at once when `signal` aborts: a stopping service does not wait out the delay.
      await sleep(delayMs, undefined, options.signal === undefined ? {} : { signal: options.signal });
    }
  }
}
