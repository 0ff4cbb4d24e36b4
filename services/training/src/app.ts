import express from 'express';
import type { Express, Request } from 'express';
import { countBaseImagesBySplit, countUnusedFeedbackByClass, errorBody, errorHandler, HttpError, listRuns, requireBearer, routeFallback } from '@mlpl/shared';
import type { Logger, Pool } from '@mlpl/shared';
import { LOCK_HELD_REASON } from './cycle.js';
import type { CycleOptions } from './cycle.js';
import type { Trainer } from './trainer.js';

export type TrainingAppDeps = {
  trainer: Trainer;
  pool: Pool;
  logger: Logger;
  /** Bearer token `POST /train` requires. */
  token: string;
  /** When the scheduler checks next, or null when it is stopped. */
  nextCheck: () => Date | null;
  /** What `/status` reports of the settings: nothing secret. */
  settings: Record<string, unknown>;
};

const TRAIN_PARAMETERS = new Set(['mode', 'force', 'wait']);

function flag(value: unknown, name: string): boolean {
  if (value === undefined) return false;
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw new HttpError(400, 'bad_parameter', `${name} must be true or false`);
}

/** `?mode=fine-tune|scratch&force=true&wait=true`, each optional; anything else is a 400. */
function parseTrainQuery(req: Request): { options: CycleOptions; wait: boolean } {
  const query = req.query as Record<string, unknown>;
  const unknown = Object.keys(query).filter((key) => !TRAIN_PARAMETERS.has(key));
  if (unknown.length > 0) throw new HttpError(400, 'unknown_parameter', `unknown parameter(s): ${unknown.join(', ')}; allowed: mode, force, wait`);
  const options: CycleOptions = { force: flag(query['force'], 'force') };
  if (query['mode'] !== undefined) {
    if (query['mode'] !== 'fine-tune' && query['mode'] !== 'scratch') throw new HttpError(400, 'bad_parameter', 'mode must be fine-tune or scratch');
    options.mode = query['mode'];
  }
  return { options, wait: flag(query['wait'], 'wait') };
}

/**
 * The training service's small HTTP interface, on an internal port: `/healthz`, `/status`
 * and `POST /train`. Built without listening, so tests bind port 0.
 */
export function createTrainingApp(deps: TrainingAppDeps): Express {
  const { trainer } = deps;
  const app = express();
  app.disable('x-powered-by');

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.get('/status', async (_req, res) => {
    // The database may be down: say so, and show what the process knows itself.
    let database: Record<string, unknown>;
    try {
      const unusedByClass = await countUnusedFeedbackByClass(deps.pool);
      const runs = await listRuns(deps.pool, 10);
      const base = trainer.baseData;
      database = {
        reachable: true,
        baseImages: base.state === 'ready' ? { source: base.source, ...(await countBaseImagesBySplit(deps.pool, base.source)) } : null,
        unusedFeedback: unusedByClass.reduce((a, b) => a + b, 0),
        unusedFeedbackByClass: unusedByClass,
        runs: runs.map((run) => ({
          id: run.id,
          status: run.status,
          modelVersion: run.modelVersion,
          parentVersion: run.parentVersion,
          startedAt: run.startedAt,
          finishedAt: run.finishedAt,
          durationMs: run.durationMs,
          gateReason: run.gateReason,
          error: run.error,
        })),
      };
    } catch (error) {
      database = { reachable: false, error: (error as Error).message };
    }
    res.json({
      busy: trainer.busy,
      nextCheck: deps.nextCheck()?.toISOString() ?? null,
      baseData: trainer.baseData,
      lastCheck: trainer.lastCheck(),
      recentCycles: trainer.recent(),
      settings: deps.settings,
      ...database,
    });
  });

  app.post('/train', requireBearer({ TRAINING_TOKEN: deps.token }), async (req, res) => {
    const { options, wait } = parseTrainQuery(req);
    if (trainer.busy) throw new HttpError(409, 'busy', 'a training cycle is already running in this service; see /status');
    if (trainer.baseData.state !== 'ready') throw new HttpError(409, 'not_ready', `the base data is not registered yet (${trainer.baseData.state}); see /status`);
    const result = trainer.run('request', options);
    if (!wait) {
      void result.catch((error: unknown) => deps.logger.error({ err: error }, 'requested cycle failed'));
      res.status(202).json({ accepted: true, status: '/status' });
      return;
    }
    const outcome = await result;
    if (outcome === 'busy' || (outcome.status === 'skipped' && outcome.reason === LOCK_HELD_REASON)) {
      throw new HttpError(409, 'busy', 'a training cycle is already running (here or in another replica)');
    }
    const { status, reason } = outcome;
    const body = {
      status,
      reason,
      ...('runId' in outcome && outcome.runId !== undefined ? { runId: outcome.runId } : {}),
      ...(outcome.status === 'promoted' ? { version: outcome.version } : {}),
    };
    // A failed cycle is an error to the caller (so `curl -f` sees it), with the usual error body.
    if (status === 'failed') res.status(500).json({ ...errorBody('cycle_failed', reason), ...body });
    else res.json(body);
  });

  app.use(routeFallback(app.router));
  app.use(errorHandler(deps.logger));
  return app;
}
