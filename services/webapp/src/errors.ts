import type { ErrorRequestHandler } from 'express';
import { BundleError, ImageRejectedError } from '@mlpl/shared';
import type { Logger } from '@mlpl/shared';

/** An error with the status and code the client sees: `{error: {code, message}}`. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** Wraps a failure of the database or storage: the request cannot be served now, retry later. */
export function unavailable(what: 'database' | 'storage', cause: unknown, consequence = 'the correction was not recorded'): HttpError {
  const error = new HttpError(503, `${what}_unavailable`, `the ${what} is unavailable; ${consequence}, try again`);
  error.cause = cause;
  return error;
}

const IMAGE_STATUS: Readonly<Record<string, number>> = {
  image_too_large: 413,
  too_many_pixels: 422,
  empty_image: 400,
  unsupported_image: 415,
  corrupt_image: 422,
  blank_image: 422,
};

export function toHttpError(error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  if (error instanceof ImageRejectedError) return new HttpError(IMAGE_STATUS[error.code] ?? 400, error.code, error.message);
  if (error instanceof BundleError) return new HttpError(422, error.code, error.message);
  const status = (error as { status?: unknown; type?: unknown } | null)?.status;
  // body parsers and busboy report malformed bodies with a 4xx status.
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return new HttpError(status, 'bad_request', (error as Error).message);
  }
  return new HttpError(500, 'internal_error', 'internal error');
}

export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (error, req, res, _next) => {
    const httpError = toHttpError(error);
    if (httpError.status >= 500) logger.error({ err: error, cause: httpError.cause, path: req.path }, httpError.message);
    else logger.debug({ code: httpError.code, path: req.path }, httpError.message);
    if (res.headersSent) return;
    res.status(httpError.status).json({ error: { code: httpError.code, message: httpError.message } });
  };
}
