import { Router } from 'express';
import { pingDatabase, pingStorage, readinessChecks } from '@mlpl/shared';
import type { CheckState, Logger, Pool, Storage } from '@mlpl/shared';
import type { Classifier } from './classifier.js';

export type HealthDeps = {
  classifier: () => Classifier | undefined;
  pool: Pool;
  storage: Storage;
  backend: string;
  logger: Logger;
  /** Start-up work still running in the background (migrations, buckets): not ready until none. */
  pending?: () => string[];
};

const CHECK_TIMEOUT_MS = 2000;

/**
 * `/healthz`: the process answers. `/readyz`: it can do its whole job right now. Its checks say
 * 'ok' or 'failed' and nothing else (see readinessChecks): the driver's words go to the log.
 */
export function healthRouter(deps: HealthDeps): Router {
  const router = Router();
  const reachable = readinessChecks(
    { database: () => pingDatabase(deps.pool), storage: () => pingStorage(deps.storage) },
    { logger: deps.logger, timeoutMs: CHECK_TIMEOUT_MS },
  );
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'alive' });
  });
  router.get('/readyz', async (_req, res) => {
    const classifier = deps.classifier();
    const { database = 'failed', storage = 'failed' } = await reachable();
    // What start-up still waits for is in the log of its retries (main.ts).
    const startup: CheckState = (deps.pending?.() ?? []).length === 0 ? 'ok' : 'failed';
    const checks: Record<string, CheckState> = { model: classifier === undefined ? 'failed' : 'ok', database, storage, startup };
    const ready = Object.values(checks).every((value) => value === 'ok');
    res.status(ready ? 200 : 503).json({
      status: ready ? 'ready' : 'not ready',
      backend: deps.backend,
      modelVersion: classifier?.metadata.version ?? null,
      checks,
    });
  });
  return router;
}
