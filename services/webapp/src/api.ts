import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Router } from 'express';
import type { Request, Response } from 'express';
import {
  contentAddressedKey,
  getPrediction,
  HttpError,
  IMAGE_CONTENT_TYPES,
  insertImage,
  insertPrediction,
  inspectAndPreprocess,
  preprocessImage,
  PROBE_HEADER,
  putObject,
  secretMatches,
  sha256Hex,
  unavailable,
} from '@mlpl/shared';
import type { ImageLimits, Logger, Pool, Storage } from '@mlpl/shared';
import type { Classifier } from './classifier.js';
import type { InFlight } from './in-flight.js';
import { AbandonedError, QueueFullError } from './limiter.js';
import type { Limiter } from './limiter.js';
import type { Metrics } from './metrics.js';
import { rateLimit } from './rate-limit.js';
import type { RateLimiter } from './rate-limit.js';
import { trainingProgress } from './training-status.js';
import { imageUpload } from './uploads.js';

export type ApiDeps = {
  /** Told after a feedback is stored: the registry forgets the answers it now makes stale. */
  onFeedbackStored?: () => void;
  logger: Logger;
  classifier: () => Classifier;
  pool: Pool;
  storage: Storage;
  limits: ImageLimits;
  metrics: Metrics;
  backend: string;
  inFlight: InFlight;
  /** Bounds how many uploads are decoded at once, and so the memory decoding can take. */
  decodes: Limiter;
  /** The training service's TRAINING_THRESHOLD, for the progress a feedback answer reports. */
  trainingThreshold: number;
  /** The appbuilder's PROBE_TOKEN; undefined: no request is a probe. */
  probeToken?: string | undefined;
  /** Per-client limits (RATE_LIMIT_*_PER_MINUTE); undefined: none. */
  rateLimiters: { predict: RateLimiter | undefined; feedback: RateLimiter | undefined };
};

/** What a failed write of feedback means to the client. */
const NOT_RECORDED = 'the correction was not recorded';

const FEEDBACK_FIELDS = { label: 'the true digit, 0 to 9', predictionId: 'optional: the id /api/predict answered for this image' };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function uploadedBytes(req: Request): Buffer {
  // imageUpload() guarantees the file; this narrows the type.
  if (req.file === undefined) throw new HttpError(400, 'missing_image', 'no image');
  return req.file.buffer;
}

function parseLabel(raw: unknown): number {
  if (raw === undefined || raw === '') throw new HttpError(400, 'missing_label', 'send the true digit as field "label" (0-9)');
  if (typeof raw !== 'string' || !/^[0-9]$/.test(raw)) {
    throw new HttpError(400, 'invalid_label', 'label must be one digit, 0 to 9');
  }
  return Number(raw);
}

function parsePredictionId(raw: unknown): string | null {
  if (raw === undefined || raw === '') return null;
  if (typeof raw !== 'string' || !UUID.test(raw)) {
    throw new HttpError(400, 'invalid_prediction_id', 'predictionId must be the id /api/predict returned');
  }
  return raw;
}

/**
 * Seconds a client refused for a full decode queue is told to wait (Retry-After): the queue
 * of digits drains in well under a second; a second lets it, without stalling a page.
 */
export const BUSY_RETRY_AFTER_SECONDS = 1;

/** Aborts when the client hangs up before its answer is sent. */
function clientGone(req: Request, res: Response): AbortSignal {
  const controller = new AbortController();
  if (req.socket.destroyed) {
    controller.abort();
  } else {
    res.once('close', () => {
      if (!res.writableFinished) controller.abort();
    });
  }
  return controller.signal;
}

/**
 * Runs `decode` when a decoder is free. Refused with 503 and Retry-After when MAX_QUEUED_DECODES
 * uploads wait already; dropped, never run, when its client hangs up while it waits.
 */
async function decodeInTurn<T>(decodes: Limiter, req: Request, res: Response, decode: () => Promise<T>): Promise<T> {
  try {
    return await decodes.run(decode, clientGone(req, res));
  } catch (error) {
    if (error instanceof QueueFullError) {
      res.setHeader('Retry-After', String(BUSY_RETRY_AFTER_SECONDS));
      throw new HttpError(503, 'busy', `the server is decoding as many images as it holds (${decodes.limit} at once, ${error.maxQueued} waiting); try again in ${BUSY_RETRY_AFTER_SECONDS} s`);
    }
    // Nobody is there to read it; nginx's code for a request its client closed, for the log.
    if (error instanceof AbandonedError) throw new HttpError(499, 'client_closed_request', 'the client closed the connection before its image was decoded');
    throw error;
  }
}

/** A health-gate probe: the `x-mlpl-probe` header carries the probe token (see PROBE_HEADER). */
export function isProbe(req: Request, probeToken: string | undefined): boolean {
  return probeToken !== undefined && secretMatches(req.get(PROBE_HEADER), probeToken);
}

export function apiRouter(deps: ApiDeps): Router {
  const router = Router();
  const log = deps.logger.child({ module: 'api' });

  // Limited before the body is read; the health gate's probes are not counted.
  const probe = (req: Request) => isProbe(req, deps.probeToken);
  router.post('/predict', rateLimit(deps.rateLimiters.predict, 'predictions', probe), ...imageUpload(deps.limits.maxBytes, {}), (req, res) => deps.inFlight.run(async () => {
    const started = performance.now();
    const bytes = uploadedBytes(req);
    const input = await decodeInTurn(deps.decodes, req, res, () => preprocessImage(bytes, deps.limits));
    const classifier = deps.classifier();
    const { digit, probabilities } = classifier.classify(input);
    const modelVersion = classifier.metadata.version;
    const latencyMs = performance.now() - started;
    deps.metrics.predictions.inc({ digit: String(digit), model_version: modelVersion });
    // The appbuilder's health gate asks too; its answers are not people's traffic. Only with the
    // token: anyone can send the header, and would keep their predictions out of the error rate.
    if (probe(req)) {
      res.json({ digit, probabilities, modelVersion, predictionId: null });
      return;
    }
    // The answer does not depend on the database: when the record cannot be written, the
    // client still gets its prediction, with no id to cite in feedback.
    let predictionId: string | null = randomUUID();
    try {
      await insertPrediction(deps.pool, { id: predictionId, modelVersion, imageSha256: sha256Hex(bytes), digit, confidence: probabilities[digit] ?? 0, latencyMs });
    } catch (error) {
      deps.metrics.predictionLogFailures.inc();
      log.warn({ err: error }, 'prediction not recorded');
      predictionId = null;
    }
    res.json({ digit, probabilities, modelVersion, predictionId });
  }));

  router.post('/feedback', rateLimit(deps.rateLimiters.feedback, 'corrections'), ...imageUpload(deps.limits.maxBytes, FEEDBACK_FIELDS), (req, res) => deps.inFlight.run(async () => {
    const label = parseLabel(req.body?.label);
    const predictionId = parsePredictionId(req.body?.predictionId);
    const bytes = uploadedBytes(req);
    // Decoding proves the upload is a usable digit before anything is stored.
    const { format, width, height } = (await decodeInTurn(deps.decodes, req, res, () => inspectAndPreprocess(bytes, deps.limits))).image;
    const sha256 = sha256Hex(bytes);

    let prediction: Awaited<ReturnType<typeof getPrediction>>;
    if (predictionId !== null) {
      prediction = await getPrediction(deps.pool, predictionId).catch((error: unknown) => {
        throw unavailable('database', error, NOT_RECORDED);
      });
      if (prediction === undefined) throw new HttpError(422, 'unknown_prediction', `no prediction ${predictionId} was recorded`);
      // The lineage (what the model said, which version) holds only for the image it saw.
      if (prediction.imageSha256 !== sha256) {
        throw new HttpError(422, 'prediction_mismatch', `prediction ${predictionId} was made for a different image; send the same bytes`);
      }
    }

    const objectKey = contentAddressedKey(sha256, format);
    const contentType = IMAGE_CONTENT_TYPES[format] ?? 'application/octet-stream';
    // Object first, row second: a row never points at a missing object. If the row fails,
    // the object stays; it is content-addressed, so a retry reuses it (see README).
    await putObject(deps.storage, deps.storage.settings.imagesBucket, objectKey, bytes, contentType).catch((error: unknown) => {
      throw unavailable('storage', error, NOT_RECORDED);
    });
    const row = {
      objectKey,
      sha256,
      contentType,
      byteSize: bytes.length,
      width,
      height,
      label,
      source: 'feedback',
      split: null,
      predictionId,
      predictedDigit: prediction?.digit ?? null,
      modelVersion: prediction?.modelVersion ?? null,
    };
    const id = await insertImage(deps.pool, row).catch((error: unknown) => {
      throw unavailable('database', error, NOT_RECORDED);
    });
    deps.onFeedbackStored?.();
    if (prediction !== undefined) deps.metrics.feedback.inc({ agreed: String(prediction.digit === label) });
    log.info({ id, label, predictionId }, 'feedback stored');
    // The feedback is stored whatever happens here: without a count, the answer says nothing of training.
    const training = await trainingProgress(deps.pool, deps.trainingThreshold).catch((error: unknown) => {
      log.warn({ err: error }, 'unused feedback not counted; the answer leaves out the training progress');
      return null;
    });
    res.status(201).json({ id, ...row, training });
  }));

  router.get('/model', (_req, res) => {
    const { metadata } = deps.classifier();
    res.json({ ...metadata, backend: deps.backend });
  });

  return router;
}
