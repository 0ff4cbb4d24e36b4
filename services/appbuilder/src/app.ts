import express from 'express';
import type { Express } from 'express';
import multer from 'multer';
import {
  BUNDLE_FILES,
  errorHandler,
  HttpError,
  listBuilds,
  checkVersionName,
  listDeployments,
  MULTIPART_FIELD_LIMITS,
  parseMultipart,
  requireBearer,
  routeFallback,
} from '@mlpl/shared';
import type { Logger, ModelBundleFiles, ModelMetadata, MultipartForm, Pool } from '@mlpl/shared';
import type { Pipeline } from './pipeline.js';
import { collectFiles, createBundleValidator } from './validate.js';
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
  /** Loads an upload to check it, in a bounded child process; default: one with the default limits. */
  validateBundle?: (files: ModelBundleFiles) => Promise<ModelMetadata>;
};

/** The form of DESIGN.md's curl: the three files of a bundle, each within its own limit, and nothing else. */
function bundleForm(limits: UploadLimits): MultipartForm {
  return {
    noun: 'file',
    files: {
      [BUNDLE_FILES.modelJson]: { maxBytes: limits.modelJsonBytes, setting: 'MAX_MODEL_JSON_BYTES' },
      [BUNDLE_FILES.weightsBin]: { maxBytes: limits.weightsBytes, setting: 'MAX_WEIGHTS_BYTES' },
      [BUNDLE_FILES.metadataJson]: { maxBytes: limits.metadataBytes, setting: 'MAX_METADATA_BYTES' },
    },
    fields: {},
    tooLarge: { code: 'file_too_large', advice: 'send a smaller file' },
    curl: Object.values(BUNDLE_FILES).map((name) => `-F ${name}=@${name}`).join(' '),
  };
}

/**
 * Training names the version it judged a candidate against in this header ('-': none was
 * deployed yet); the pipeline refuses the release if another is in service by then.
 */
export const JUDGED_AGAINST_HEADER = 'x-mlpl-judged-against';

function judgedAgainst(value: string | undefined): string | null | undefined {
  if (value === undefined) return undefined;
  return value === '-' ? null : value;
}

/** The appbuilder's HTTP interface (DESIGN.md's curl on `POST /`), built without listening. */
export function createAppbuilderApp(deps: AppbuilderAppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  const auth = requireBearer({ APPBUILDER_TOKEN: deps.token });
  const deployAuth = requireBearer({ APPBUILDER_TOKEN: deps.token, ADMIN_TOKEN: deps.adminToken });
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
      ...MULTIPART_FIELD_LIMITS,
    },
  }).any();
  const parse = parseMultipart(upload, bundleForm(deps.limits));
  const validateBundle = deps.validateBundle ?? createBundleValidator();

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'alive' });
  });

  app.get('/', async (_req, res) => {
    const checks = await deps.readiness();
    const ready = Object.values(checks).every((value) => value === 'ok');
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not ready', busy: deps.pipeline.busy, checks });
  });

  app.post('/', auth, parse, async (req, res) => {
    if (!req.is('multipart/form-data')) throw new HttpError(415, 'not_multipart', 'send the three files as multipart/form-data');
    const files = collectFiles((req.files ?? []) as UploadedFile[], deps.limits);
    const metadata = await validateBundle(files);
    const release = await deps.pipeline.release(files, metadata.version, judgedAgainst(req.get(JUDGED_AGAINST_HEADER)));
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
    if (keys === null || keys.some((key) => key !== 'version') || typeof version !== 'string') {
      throw new HttpError(400, 'bad_request', 'send JSON {"version": "<a built version>"} and nothing else');
    }
    const problem = checkVersionName(version);
    if (problem !== null) throw new HttpError(400, 'invalid_version', problem);
    const rollout = await deps.pipeline.rollback(version);
    res.status(201).json({
      version: rollout.version,
      image: rollout.image,
      deployMs: Math.round(rollout.deployment.ms),
      gapMs: Math.round(rollout.deployment.gapMs),
      previousVersion: rollout.deployment.previousVersion,
    });
  });

  app.use(routeFallback(app.router));
  app.use(errorHandler(deps.logger));
  return app;
}
