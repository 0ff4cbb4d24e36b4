import { Router } from 'express';
import { pingDatabase, pingStorage } from '@mlpl/shared';
import type { Pool, Storage } from '@mlpl/shared';
import type { Classifier } from './classifier.js';

export type HealthDeps = {
  classifier: () => Classifier | undefined;
  pool: Pool;
  storage: Storage;
  backend: string;
  /** Start-up work still running in the background (migrations, buckets): not ready until none. */
  pending?: () => string[];
};

const CHECK_TIMEOUT_MS = 2000;

async function check(probe: () => Promise<void>): Promise<'ok' | string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
  });
  try {
    await Promise.race([probe(), timeout]);
    return 'ok';
  } catch (error) {
    return (error as Error).message || String(error);
  } finally {
    clearTimeout(timer);
  }
}

/** `/healthz`: the process answers. `/readyz`: it can do its whole job right now. */
export function healthRouter(deps: HealthDeps): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'alive' });
  });
  router.get('/readyz', async (_req, res) => {
    const classifier = deps.classifier();
    const [database, storage] = await Promise.all([check(() => pingDatabase(deps.pool)), check(() => pingStorage(deps.storage))]);
    const pending = deps.pending?.() ?? [];
    const checks = { model: classifier === undefined ? 'not loaded' : 'ok', database, storage, startup: pending.length === 0 ? 'ok' : `waiting for ${pending.join(', ')}` };
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
