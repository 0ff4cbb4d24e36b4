import { once } from 'node:events';
import {
  createLogger,
  createPool,
  createStorage,
  ensureBuckets,
  initTf,
  migrate,
  recordModelVersion,
  PREPROCESSING_VERSION,
  retry,
  runMain,
  settingsOrExit,
  stopOnSignals,
} from '@mlpl/shared';
import { createApp } from './app.js';
import { loadClassifier, ModelSlot } from './classifier.js';
import { createHttpServer } from './http-server.js';
import { InFlight } from './in-flight.js';
import { Limiter } from './limiter.js';
import { loadWebappSettings } from './settings.js';

async function main(): Promise<void> {
  const settings = settingsOrExit('webapp', () => loadWebappSettings(process.env));
  if (settings === undefined) return;
  const logger = createLogger({ name: 'webapp', level: settings.logLevel });
  const backend = await initTf(settings.tfjsBackend, {
    onFallback: (reason) => logger.info({ reason }, 'tfjs-node unavailable, using the wasm backend'),
  });
  logger.info({ backend }, 'tfjs backend ready');
  const classifier = new ModelSlot(await loadClassifier(settings.modelDir, PREPROCESSING_VERSION));
  logger.info({ modelVersion: classifier.metadata.version, modelDir: settings.modelDir }, 'model loaded');

  const pool = createPool(settings.database);
  const storage = createStorage(settings.storage);
  const stopping = new AbortController();
  // The model serves as soon as it is loaded: predictions need neither the database (they are
  // recorded when it is there) nor storage. Migrations and buckets are retried in the
  // background until they succeed; until then /readyz says what it waits for and feedback is a 503.
  const pending = new Set(['database migrations', 'storage buckets']);
  const inBackground = (what: string, step: () => Promise<unknown>) =>
    void retry(step, { what, logger, timeoutMs: Number.POSITIVE_INFINITY, signal: stopping.signal }).then(
      () => pending.delete(what),
      (error: unknown) => {
        if (!stopping.signal.aborted) logger.error({ err: error }, `${what} gave up`);
      },
    );

  const inFlight = new InFlight();
  const app = createApp({
    inFlight,
    decodes: new Limiter(settings.maxConcurrentDecodes, settings.maxQueuedDecodes),
    logger,
    classifier,
    pool,
    storage,
    limits: { maxBytes: settings.maxUploadBytes, maxPixels: settings.maxImagePixels },
    backend,
    pending: () => [...pending],
    trainingThreshold: settings.trainingThreshold,
    admin: { adminToken: settings.adminToken, appbuilderUrl: settings.appbuilderUrl },
    ...(settings.probeToken === undefined ? {} : { probeToken: settings.probeToken }),
    rateLimits: settings.rateLimits,
    trustProxy: settings.trustProxy,
    stopping: stopping.signal,
    ...(settings.modelSwap === undefined ? {} : { modelSwap: { ...settings.modelSwap, slot: classifier, preprocessingVersion: PREPROCESSING_VERSION } }),
  });
  // Timeouts and the connection bound: see http-server.ts.
  const server = createHttpServer(app, { maxConnections: settings.maxConnections }).listen(settings.port, settings.host);
  await once(server, 'listening');
  logger.info({ url: `http://localhost:${settings.port}` }, 'webapp listening');
  // Once migrated, the registry learns the model served (the first image's, each container's).
  inBackground('database migrations', async () => {
    await migrate(pool);
    await recordModelVersion(pool, classifier.metadata);
  });
  inBackground('storage buckets', () => ensureBuckets(storage));

  const stop = async (signal: string) => {
    logger.info({ signal }, 'stopping');
    stopping.abort();
    server.close();
    server.closeIdleConnections();
    await once(server, 'close');
    await inFlight.drained(10_000);
    await pool.end();
    classifier.dispose();
  };
  stopOnSignals(logger, stop);
}

runMain('webapp', main);
