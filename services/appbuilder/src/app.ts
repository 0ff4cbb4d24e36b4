import express from 'express';
import type { ErrorRequestHandler, Express, NextFunction, Request, Response } from 'express';
import multer from 'multer';
import { bearerMatches, listBuilds, listDeployments, MODEL_VERSION_PATTERN, routeFallback } from '@mlpl/shared';
import type { Logger, Pool } from '@mlpl/shared';
import type { Pipeline } from './pipeline.js';
import { PipelineError } from './pipeline.js';
import { collectFiles, UploadError, validateBundle } from './validate.js';
import type { UploadedFile, UploadLimits } from './validate.js';

export type AppbuilderAppDeps = {
  pipeline: Pipeline;
  pool: Pool;
  logger: Logger;
  token: string;
  /** Also accepted for deployments (rollback), never for builds: what the webapp's registry relays for an admin. */
  adminToken?: string | undefined;
  limits: UploadLimits;
  /** What `GET /` reports: Docker reachable, base image present; each 'ok' or the problem. */
  readiness: () => Promise<Record<string, string>>;
};

function requireToken(tokens: (string | undefined)[], names: string) {
  return (req: Request, res: Response, next: NextFunction) => {
    if (tokens.some((token) => token !== undefined && bearerMatches(req.get('authorization'), token))) {
      next();
      return;
    }
    res.setHeader('WWW-Authenticate', 'Bearer');
    next(new UploadError(401, 'unauthorized', `a valid "Authorization: Bearer <${names}>" header is required`));
  };
}

const MULTER_ERRORS: Readonly<Record<string, [number, string]>> = {
  LIMIT_FILE_SIZE: [413, 'file_too_large'],
  LIMIT_FILE_COUNT: [400, 'too_many_files'],
  LIMIT_FIELD_COUNT: [400, 'unexpected_field'],
  LIMIT_PART_COUNT: [400, 'too_many_parts'],
  LIMIT_FIELD_KEY: [400, 'field_name_too_long'],
  LIMIT_UNEXPECTED_FILE: [400, 'unexpected_field'],
};

function toHttp(error: unknown): { status: number; code: string; message: string } {
  if (error instanceof UploadError || error instanceof PipelineError) return { status: error.status, code: error.code, message: error.message };
  if (error instanceof multer.MulterError) {
    const [status, code] = MULTER_ERRORS[error.code] ?? [400, 'bad_multipart'];
    return { status, code, message: `${error.message}${error.field === undefined ? '' : ` (field "${error.field}")`}` };
  }
  const status = (error as { status?: unknown } | null)?.status;
  if (typeof status === 'number' && status >= 400 && status < 500) return { status, code: 'bad_request', message: (error as Error).message };
  return { status: 500, code: 'internal_error', message: 'internal error' };
}

/** The appbuilder's HTTP interface (DESIGN.md's curl on `POST /`), built without listening. */
export function createAppbuilderApp(deps: AppbuilderAppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  const auth = requireToken([deps.token], 'APPBUILDER_TOKEN');
  const deployAuth = requireToken([deps.token, deps.adminToken], deps.adminToken === undefined ? 'APPBUILDER_TOKEN' : 'APPBUILDER_TOKEN or ADMIN_TOKEN');
  const upload = multer({
    storage: multer.memoryStorage(),
    // Keep a client's folder part in the name, so a name with a path is refused, not trimmed.
    preservePath: true,
    // Per-file limits are checked after; this bounds the largest one and the part count.
    limits: {
      fileSize: Math.max(deps.limits.modelJsonBytes, deps.limits.weightsBytes, deps.limits.metadataBytes) + 1,
      files: 3,
      fields: 0,
      parts: 3,
      fieldNameSize: 64,
    },
  }).any();

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'alive' });
  });

  app.get('/', async (_req, res) => {
    const checks = await deps.readiness();
    const ready = Object.values(checks).every((value) => value === 'ok');
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not ready', busy: deps.pipeline.busy, checks });
  });

  // Busboy reports a malformed body (no boundary, cut short) as a plain Error: still the client's fault.
  const parse = (req: Request, res: Response, next: NextFunction) =>
    upload(req, res, (error?: unknown) => {
      if (error === undefined || error === null) next();
      else next(error instanceof multer.MulterError ? error : new UploadError(400, 'bad_multipart', `malformed multipart body: ${(error as Error).message}`));
    });

  app.post('/', auth, parse, async (req, res) => {
    if (!req.is('multipart/form-data')) throw new UploadError(415, 'not_multipart', 'send the three files as multipart/form-data');
    const files = collectFiles((req.files ?? []) as UploadedFile[], deps.limits);
    const metadata = await validateBundle(files);
    const release = await deps.pipeline.release(files, metadata.version);
    res.status(201).json({
      version: release.version,
      image: release.build.image,
      imageId: release.build.imageId,
      digest: release.build.digest,
      addedBytes: release.build.addedBytes,
      buildMs: Math.round(release.build.ms),
      deployMs: Math.round(release.deployment.ms),
      gapMs: Math.round(release.deployment.gapMs),
      previousVersion: release.deployment.previousVersion,
    });
  });

  app.get('/builds', async (_req, res) => {
    res.json({ builds: await listBuilds(deps.pool) });
  });

  app.get('/deployments', async (_req, res) => {
    res.json({ deployments: await listDeployments(deps.pool) });
  });

  app.post('/deployments', deployAuth, express.json({ limit: '1kb', strict: true }), async (req, res) => {
    const body = req.body as unknown;
    const keys = typeof body === 'object' && body !== null && !Array.isArray(body) ? Object.keys(body) : null;
    const version = keys !== null ? (body as Record<string, unknown>)['version'] : undefined;
    if (keys === null || keys.some((key) => key !== 'version') || typeof version !== 'string' || !MODEL_VERSION_PATTERN.test(version)) {
      throw new UploadError(400, 'bad_request', 'send JSON {"version": "<a built version>"} and nothing else');
    }
    const rollout = await deps.pipeline.rollback(version);
    res.status(201).json({
      version: rollout.version,
      image: rollout.image,
      deployMs: Math.round(rollout.deployment.ms),
      gapMs: Math.round(rollout.deployment.gapMs),
      previousVersion: rollout.deployment.previousVersion,
    });
  });

  app.use(routeFallback(app.router, (status, code, message) => new UploadError(status, code, message)));
  const errors: ErrorRequestHandler = (error, req, res, _next) => {
    const http = toHttp(error);
    if (http.status >= 500) deps.logger.error({ err: error, path: req.path }, http.message);
    if (res.headersSent) return;
    res.status(http.status).json({ error: { code: http.code, message: http.message } });
  };
  app.use(errors);
  return app;
}
