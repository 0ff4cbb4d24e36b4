import { once } from 'node:events';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import cron from 'node-cron';
import { createLogger, createPool, createStorage, ensureBuckets, initTf, migrate, retry, runMain, settingsOrExit, stopOnSignals } from '@mlpl/shared';
import type { Logger } from '@mlpl/shared';
import { createTrainingApp } from './app.js';
import { ensureBaseData } from './base-data.js';
import { createImageCache } from './image-cache.js';
import { createIncumbentSource } from './incumbent.js';
import { loadTrainingSettings } from './settings.js';
import type { TrainingSettings } from './settings.js';
import { createTrainer } from './trainer.js';
import type { Trainer } from './trainer.js';

const USAGE = `usage: node dist/main.js [--once | --full]
  (no option)  run the service: register the base data, then a cycle every TRAINING_INTERVAL
  --once       register the base data, run one cycle as configured, print its result, exit
  --full       the same, training from scratch on all data, whatever the threshold`;

type Command = 'serve' | 'once' | 'full';

function parseCommand(args: string[]): Command | undefined {
  if (args.length === 0) return 'serve';
  if (args.length === 1 && args[0] === '--once') return 'once';
  if (args.length === 1 && args[0] === '--full') return 'full';
  return undefined;
}

/** Wait between registration attempts while the database or storage refuses, in ms. */
const REGISTRATION_RETRY_MS = 10_000;

/** Registers the base data, retrying until it succeeds or `signal` stops it. */
async function registerUntilDone(trainer: Trainer, settings: TrainingSettings, deps: Parameters<typeof ensureBaseData>[0], signal: AbortSignal): Promise<void> {
  for (;;) {
    trainer.baseData = { state: 'registering' };
    try {
      const result = await ensureBaseData(deps, {
        dataset: settings.dataset,
        cacheDir: path.join(settings.dataDir, 'downloads'),
        mnistBaseUrl: settings.mnistBaseUrl,
        fashionDir: settings.fashionDir,
        signal,
        onProgress: (progress) => (trainer.baseData = { state: 'registering', progress }),
      });
      trainer.baseData = { state: 'ready', source: result.source, registered: result.registered, seconds: Math.round(result.seconds * 10) / 10 };
      return;
    } catch (error) {
      if (signal.aborted) throw error;
      trainer.baseData = { state: 'failed', error: (error as Error).message };
      deps.logger.warn({ err: error }, `base data registration failed; retrying in ${REGISTRATION_RETRY_MS / 1000} s`);
      // Rejects at once when the service is told to stop.
      await sleep(REGISTRATION_RETRY_MS, undefined, { signal });
    }
  }
}

function publicSettings(settings: TrainingSettings): Record<string, unknown> {
  return {
    interval: settings.schedule.description,
    threshold: settings.threshold,
    classThreshold: settings.classThreshold ?? null,
    tolerance: settings.tolerance,
    mode: settings.mode,
    dataset: settings.dataset,
    classes: settings.classes,
    replaySize: settings.replaySize,
    heldOutShare: settings.feedbackHeldOutShare,
    appbuilder: settings.appbuilder.url,
  };
}

async function main(): Promise<void> {
  const command = parseCommand(process.argv.slice(2));
  if (command === undefined) {
    console.error(USAGE);
    process.exitCode = 64; // EX_USAGE
    return;
  }
  const settings = settingsOrExit('training', () => loadTrainingSettings(process.env));
  if (settings === undefined) return;
  const logger = createLogger({ name: 'training', level: settings.logLevel });
  const backend = await initTf(settings.tfjsBackend, {
    onFallback: (reason) => logger.info({ reason }, 'tfjs-node unavailable, using the wasm backend'),
  });
  logger.info({ backend, schedule: settings.schedule.description }, 'tfjs backend ready');

  const pool = createPool(settings.database);
  const storage = createStorage(settings.storage);
  await retry(() => migrate(pool), { what: 'database migrations', logger });
  await retry(() => ensureBuckets(storage), { what: 'storage buckets', logger });

  const incumbents = createIncumbentSource({ pool, storage, pretrainedDir: settings.pretrainedDir, logger });
  const trainer = createTrainer({
    pool,
    storage,
    logger,
    appbuilder: settings.appbuilder,
    cacheDir: path.join(settings.dataDir, 'images'),
    cache: createImageCache(storage, path.join(settings.dataDir, 'images')),
    incumbent: () => incumbents.current(),
    settings: {
      threshold: settings.threshold,
      ...(settings.classThreshold === undefined ? {} : { classThreshold: settings.classThreshold }),
      classes: settings.classes,
      tolerance: settings.tolerance,
      significance: settings.significance,
      breakShare: settings.breakShare,
      classMargin: settings.classMargin,
      refusalsBeforeReview: settings.refusalsBeforeReview,
      seed: settings.seed,
      mode: settings.mode,
      replaySize: settings.replaySize,
      feedbackHeldOutShare: settings.feedbackHeldOutShare,
      dropoutRate: settings.dropoutRate,
      ...(settings.epochs === undefined ? {} : { epochs: settings.epochs }),
      ...(settings.testLimit === undefined ? {} : { testLimit: settings.testLimit }),
    },
  });
  const stopping = new AbortController();
  const registrationDeps = { pool, storage, logger };

  if (command !== 'serve') {
    try {
      await registerUntilDone(trainer, settings, registrationDeps, stopping.signal);
      const result = await trainer.run('command', command === 'full' ? { mode: 'scratch', force: true } : {});
      const summary = result === 'busy' ? { status: 'busy' } : { ...result, bundle: undefined, metadata: undefined };
      console.log(JSON.stringify(summary));
      process.exitCode = result !== 'busy' && result.status === 'failed' ? 1 : 0;
    } finally {
      await pool.end();
      incumbents.dispose();
    }
    return;
  }

  await serve({
    settings,
    logger,
    trainer,
    pool,
    stopping,
    register: () => registerUntilDone(trainer, settings, registrationDeps, stopping.signal),
    release: async () => {
      await pool.end();
      incumbents.dispose();
    },
  });
}

type ServeDeps = {
  settings: TrainingSettings;
  logger: Logger;
  trainer: Trainer;
  pool: ReturnType<typeof createPool>;
  stopping: AbortController;
  register: () => Promise<void>;
  /** Closes the pool and frees the model, once no cycle runs. */
  release: () => Promise<void>;
};

/** How long SIGTERM waits for a running cycle, in ms; compose allows 10 s before SIGKILL. */
const STOP_GRACE_MS = 8000;

async function serve({ settings, logger, trainer, pool, stopping, register, release }: ServeDeps): Promise<void> {
  const task = cron.createTask(
    settings.schedule.expression,
    async () => {
      const result = await trainer.run('schedule');
      if (result !== 'busy' && result.status === 'skipped') logger.debug({ reason: result.reason }, 'cycle skipped');
    },
    { name: 'training-cycle', noOverlap: true },
  );
  const app = createTrainingApp({
    trainer,
    pool,
    logger,
    token: settings.token,
    nextCheck: () => (task.getStatus() === 'destroyed' || trainer.baseData.state !== 'ready' ? null : task.getNextRun()),
    settings: publicSettings(settings),
  });
  const server = app.listen(settings.port, settings.host);
  await once(server, 'listening');
  logger.info({ url: `http://localhost:${settings.port}`, schedule: settings.schedule.description }, 'training service listening');

  void register()
    .then(() => {
      if (stopping.signal.aborted) return;
      void task.start();
      logger.info({ baseData: trainer.baseData }, 'base data ready; scheduler started');
    })
    .catch((error: unknown) => {
      if (!stopping.signal.aborted) logger.error({ err: error }, 'base data registration stopped');
    });

  const stop = async (signal: string) => {
    logger.info({ signal }, 'stopping');
    stopping.abort();
    await task.destroy();
    const closed = once(server, 'close');
    server.close();
    server.closeIdleConnections();
    const grace = setTimeout(() => {
      // A killed cycle is safe: its run is closed as interrupted and its images stay unused.
      logger.warn('a training cycle is still running; exiting without waiting for it');
      process.exit(0);
    }, STOP_GRACE_MS);
    grace.unref();
    await trainer.idle();
    await closed;
    await release();
  };
  stopOnSignals(logger, stop);
}

runMain('training', main);
