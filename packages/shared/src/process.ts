import type { Logger } from './logger.js';
import { SettingsError } from './settings.js';

/**
 * Runs `stop` once, on the first SIGTERM or SIGINT. A stop that fails is logged and sets exit
 * code 1; the process then ends when nothing keeps it alive.
 */
export function stopOnSignals(logger: Pick<Logger, 'error'>, stop: (signal: string) => Promise<void>): void {
  let stopping = false;
  const run = (signal: string) => {
    // SIGINT from a terminal reaches a whole process group, often with a SIGTERM behind it: stop once.
    if (stopping) return;
    stopping = true;
    void stop(signal).catch((error: unknown) => {
      logger.error({ err: error }, 'unclean stop');
      process.exitCode = 1;
    });
  };
  process.once('SIGTERM', () => run('SIGTERM'));
  process.once('SIGINT', () => run('SIGINT'));
}

/**
 * Runs a service's `main`: a failure before it is up is printed and exits 1, since open pool
 * connections would keep a half-started process alive; the orchestrator restarts it.
 */
export function runMain(service: string, main: () => Promise<void>): void {
  main().catch((error: unknown) => {
    console.error(`${service} failed to start:`, error);
    process.exit(1);
  });
}

/**
 * Reads a service's settings once; when they are bad, prints the one message naming every
 * problem, sets exit code 78 (EX_CONFIG) and returns undefined, so `main` just returns.
 */
export function settingsOrExit<T>(service: string, load: () => T): T | undefined {
  try {
    return load();
  } catch (error) {
    if (!(error instanceof SettingsError)) throw error;
    console.error(`${service}: ${error.message}`);
    process.exitCode = 78; // EX_CONFIG
    return undefined;
  }
}
