import path from 'node:path';
import { fileURLToPath } from 'node:url';
import express from 'express';
import type { Express } from 'express';
import { DEFAULT_TRAINING_THRESHOLD, errorHandler, recordModelVersion, routeFallback } from '@mlpl/shared';
import type { ImageLimits, Logger, Pool, Storage } from '@mlpl/shared';
import { apiRouter } from './api.js';
import type { Classifier } from './classifier.js';
import { docsRouter } from './docs.js';
import { healthRouter } from './health.js';
import { InFlight } from './in-flight.js';
import { Limiter } from './limiter.js';
import { modelSwapRouter } from './model-swap.js';
import { registryRouter } from './registry.js';
import { securityHeaders } from './security-headers.js';
import { trainingRouter } from './training-status.js';
import type { RegistryDeps } from './registry.js';
import type { ModelSwapDeps } from './model-swap.js';
import { createMetrics } from './metrics.js';

export type AppDeps = {
  logger: Logger;
  classifier: Classifier;
  pool: Pool;
  storage: Storage;
  limits: ImageLimits;
  backend: string;
  /** Handlers still running; main waits for them before closing the pool. */
  inFlight?: InFlight;
  /** Uploads decoded at once (default 4, libuv's thread pool): each may take ~100 MB at MAX_IMAGE_PIXELS. */
  maxConcurrentDecodes?: number;
  /** Start-up work still running (see health.ts). */
  pending?: () => string[];
  /** The process deploy target's swap route (see model-swap.ts); absent in Docker images. */
  modelSwap?: Omit<ModelSwapDeps, 'logger'>;
  /** The training service's TRAINING_THRESHOLD (default 10, as there): feedback answers report progress towards it. */
  trainingThreshold?: number;
  /** Rollback from the registry: the admin token and the appbuilder; default none (rollback refused). */
  admin?: Pick<RegistryDeps, 'adminToken' | 'appbuilderUrl'>;
  /** Aborted when the process stops: answers then close their connection, and a relayed rollback lets go. */
  stopping?: AbortSignal;
  /** How long the registry's anonymous reads are remembered, ms (default READ_CACHE_MS, 5 s); 0: not at all. */
  readCacheMs?: number;
};

export const PUBLIC_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../public');

/** Builds the webapp without listening, so tests bind port 0 and talk real HTTP to it. */
export function createApp(deps: AppDeps): Express {
  const classifier = () => deps.classifier;
  const metrics = createMetrics(() => deps.classifier.metadata.version, deps.backend);
  const app = express();
  app.disable('x-powered-by');
  app.use(securityHeaders());
  app.use((req, res, next) => {
    const stop = metrics.requests.startTimer({ method: req.method });
    // Stopping: a keep-alive client would otherwise be served by this process until it is
    // killed, while new connections are refused; closing each one sends it to the successor.
    if (deps.stopping?.aborted === true) res.setHeader('Connection', 'close');
    res.on('finish', () => {
      // originalUrl, not baseUrl + route: express restores baseUrl when an error leaves a
      // router, which would file failed requests under another route. No route has parameters.
      const route = req.route === undefined ? 'unmatched' : (req.originalUrl.split('?')[0] ?? '');
      stop({ route, status: String(res.statusCode) });
    });
    next();
  });
  app.use(healthRouter({ classifier, pool: deps.pool, storage: deps.storage, backend: deps.backend, logger: deps.logger, ...(deps.pending === undefined ? {} : { pending: deps.pending }) }));
  app.get('/metrics', async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  app.use('/api', apiRouter({
      ...deps,
      classifier,
      metrics,
      inFlight: deps.inFlight ?? new InFlight(),
      decodes: new Limiter(deps.maxConcurrentDecodes ?? 4),
      trainingThreshold: deps.trainingThreshold ?? DEFAULT_TRAINING_THRESHOLD,
    }),
  );
  app.use('/api', trainingRouter({ pool: deps.pool, trainingThreshold: deps.trainingThreshold ?? DEFAULT_TRAINING_THRESHOLD }));
  if (deps.modelSwap !== undefined) {
    app.use(modelSwapRouter({ ...deps.modelSwap, logger: deps.logger, record: (metadata) => recordModelVersion(deps.pool, metadata) }));
  }
  app.use('/api', registryRouter({
    pool: deps.pool,
    storage: deps.storage,
    classifier,
    logger: deps.logger,
    adminToken: deps.admin?.adminToken,
    appbuilderUrl: deps.admin?.appbuilderUrl ?? 'http://appbuilder:5000',
    ...(deps.stopping === undefined ? {} : { stopping: deps.stopping }),
    ...(deps.readCacheMs === undefined ? {} : { readCacheMs: deps.readCacheMs }),
  }));
  app.get('/models', (_req, res) => {
    res.sendFile(path.join(PUBLIC_DIR, 'models.html'));
  });
  app.use(docsRouter());
  app.use(express.static(PUBLIC_DIR, { index: 'index.html', maxAge: '5m' }));
  app.use(routeFallback(app.router));
  app.use(errorHandler(deps.logger));
  return app;
}
