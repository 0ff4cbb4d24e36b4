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
import { RateLimiter } from './rate-limit.js';
import { registryRouter } from './registry.js';
import { DEFAULT_MAX_CONCURRENT_DECODES, DEFAULT_MAX_QUEUED_DECODES } from './settings.js';
import type { RateLimits, TrustProxy } from './settings.js';
import { securityHeaders } from './security-headers.js';
import { trainingRouter } from './training-status.js';
import type { RegistryDeps } from './registry.js';
import type { ModelSwapDeps } from './model-swap.js';
import { createMetrics, routeLabel } from './metrics.js';

export type AppDeps = {
  logger: Logger;
  classifier: Classifier;
  pool: Pool;
  storage: Storage;
  limits: ImageLimits;
  backend: string;
  /** Handlers still running; main waits for them before closing the pool. */
  inFlight?: InFlight;
  /**
   * Bounds the uploads decoded at once (MAX_CONCURRENT_DECODES, default 4, libuv's thread pool:
   * each may take ~100 MB at MAX_IMAGE_PIXELS) and those waiting (MAX_QUEUED_DECODES, default
   * 32). main.ts makes it from the settings; a test may hold its places.
   */
  decodes?: Limiter;
  /** Start-up work still running (see health.ts). */
  pending?: () => string[];
  /** The process deploy target's swap route (see model-swap.ts); absent in Docker images. */
  modelSwap?: Omit<ModelSwapDeps, 'logger'>;
  /** The training service's TRAINING_THRESHOLD (default 10, as there): feedback answers report progress towards it. */
  trainingThreshold?: number;
  /** The appbuilder's PROBE_TOKEN: predictions whose `x-mlpl-probe` carries it are not recorded; default none (the header is ignored). */
  probeToken?: string;
  /** Predictions and feedback a client may send a minute (0: any number); default no limit, main.ts gives the settings'. */
  rateLimits?: RateLimits;
  /** Whose X-Forwarded-For names the client, for the rate limits (TRUST_PROXY); default none: the peer is the client. */
  trustProxy?: TrustProxy;
  /** Rollback from the registry: the admin token and the appbuilder; default none (rollback refused). */
  admin?: Pick<RegistryDeps, 'adminToken' | 'appbuilderUrl'>;
  /** Aborted when the process stops: answers then close their connection, and a relayed rollback lets go. */
  stopping?: AbortSignal;
  /** How long the registry's anonymous reads are remembered, ms (default READ_CACHE_MS, 5 s); 0: not at all. */
  readCacheMs?: number;
};

const limiterOf = (perMinute: number) => (perMinute > 0 ? new RateLimiter(perMinute) : undefined);

export const PUBLIC_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../public');

/** Builds the webapp without listening, so tests bind port 0 and talk real HTTP to it. */
export function createApp(deps: AppDeps): Express {
  const classifier = () => deps.classifier;
  const metrics = createMetrics(() => deps.classifier.metadata.version, deps.backend);
  const app = express();
  app.disable('x-powered-by');
  // req.ip, which the rate limits key on; express copies a list it is given.
  const trust = deps.trustProxy ?? false;
  app.set('trust proxy', Array.isArray(trust) ? [...trust] : trust);
  app.use(securityHeaders());
  app.use((req, res, next) => {
    const stop = metrics.requests.startTimer({ method: req.method });
    // Stopping: a keep-alive client would otherwise be served by this process until it is
    // killed, while new connections are refused; closing each one sends it to the successor.
    if (deps.stopping?.aborted === true) res.setHeader('Connection', 'close');
    res.on('finish', () => {
      stop({ route: routeLabel(req), status: String(res.statusCode) });
    });
    next();
  });
  app.use(healthRouter({ classifier, pool: deps.pool, storage: deps.storage, backend: deps.backend, logger: deps.logger, ...(deps.pending === undefined ? {} : { pending: deps.pending }) }));
  app.get('/metrics', async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  const feedbackListeners: (() => void)[] = [];
  app.use('/api', apiRouter({
      ...deps,
      onFeedbackStored: () => feedbackListeners.forEach((listener) => listener()),
      classifier,
      metrics,
      inFlight: deps.inFlight ?? new InFlight(),
      decodes: deps.decodes ?? new Limiter(DEFAULT_MAX_CONCURRENT_DECODES, DEFAULT_MAX_QUEUED_DECODES),
      trainingThreshold: deps.trainingThreshold ?? DEFAULT_TRAINING_THRESHOLD,
      rateLimiters: {
        predict: limiterOf(deps.rateLimits?.predictPerMinute ?? 0),
        feedback: limiterOf(deps.rateLimits?.feedbackPerMinute ?? 0),
      },
    }),
  );
  app.use('/api', trainingRouter({ pool: deps.pool, trainingThreshold: deps.trainingThreshold ?? DEFAULT_TRAINING_THRESHOLD }));
  if (deps.modelSwap !== undefined) {
    app.use(modelSwapRouter({ ...deps.modelSwap, logger: deps.logger, record: (metadata) => recordModelVersion(deps.pool, metadata) }));
  }
  app.use('/api', registryRouter({
    onFeedbackStored: (forget) => feedbackListeners.push(forget),
    pool: deps.pool,
    storage: deps.storage,
    classifier,
    logger: deps.logger,
    adminToken: deps.admin?.adminToken,
    appbuilderUrl: deps.admin?.appbuilderUrl ?? 'http://appbuilder:5000',
    ...(deps.stopping === undefined ? {} : { stopping: deps.stopping }),
    ...(deps.readCacheMs === undefined ? {} : { readCacheMs: deps.readCacheMs }),
  }));
  app.get('/models', (_req, res, next) => {
    // Without a callback, send answers its own failures (a 416 for an unsatisfiable Range) in HTML.
    res.sendFile(path.join(PUBLIC_DIR, 'models.html'), (error) => {
      if (error !== undefined && !res.headersSent) next(error);
    });
  });
  app.use(docsRouter());
  app.use(express.static(PUBLIC_DIR, { index: 'index.html', maxAge: '5m' }));
  app.use(routeFallback(app.router));
  app.use(errorHandler(deps.logger));
  return app;
}
