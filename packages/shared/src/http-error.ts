/**
 * The one error path of the three services' HTTP interfaces: a handler throws an `HttpError` (or
 * a shared error with a status of its own), and the error middleware answers every failure as
 * `{error: {code, message}}`. Typed by structure, not by express's types, so this package needs
 * no express.
 */
import { BundleError } from './model-bundle.js';
import { ImageRejectedError } from './preprocess.js';
import type { ImageRejectionCode } from './preprocess.js';

/** What every error answer holds. */
export type ErrorBody = { error: { code: string; message: string } };

export function errorBody(code: string, message: string): ErrorBody {
  return { error: { code, message } };
}

/** An error with the status and code the client sees; the message says what to send instead. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'HttpError';
  }
}

/** A failure of the database or storage: the request cannot be served now, retry later. */
export function unavailable(what: 'database' | 'storage', cause: unknown, consequence: string): HttpError {
  return new HttpError(503, `${what}_unavailable`, `the ${what} is unavailable; ${consequence}, try again`, { cause });
}

const IMAGE_STATUS: Readonly<Record<ImageRejectionCode, number>> = {
  image_too_large: 413,
  too_many_pixels: 422,
  empty_image: 400,
  unsupported_image: 415,
  corrupt_image: 422,
  blank_image: 422,
};

/** The status and code of any error a handler throws; anything unforeseen is a 500 that says nothing more. */
export function toHttpError(error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  if (error instanceof ImageRejectedError) return new HttpError(IMAGE_STATUS[error.code], error.code, error.message);
  if (error instanceof BundleError) return new HttpError(422, error.code, error.message);
  // Body parsers and busboy report malformed bodies with a 4xx status.
  const status = (error as { status?: unknown } | null)?.status;
  if (typeof status === 'number' && status >= 400 && status < 500) return new HttpError(status, 'bad_request', (error as Error).message);
  return new HttpError(500, 'internal_error', 'internal error');
}

type LogFn = (fields: Record<string, unknown>, message: string) => void;
type ErrorRequest = { path: string };
type ErrorResponse = { headersSent: boolean; removeHeader(name: string): void; status(code: number): { json(body: ErrorBody): unknown } };

/**
 * The last middleware of an app. A 5xx is logged with what caused it; a 4xx is the client's,
 * logged at debug. Express tells error middleware by its four parameters, so `_next` stays.
 */
export function errorHandler(logger: { error: LogFn; debug: LogFn }): (error: unknown, req: ErrorRequest, res: ErrorResponse, _next: unknown) => void {
  return (error, req, res, _next) => {
    const httpError = toHttpError(error);
    if (httpError.status >= 500) logger.error({ err: error, cause: httpError.cause, path: req.path }, httpError.message);
    else logger.debug({ code: httpError.code, path: req.path }, httpError.message);
    if (res.headersSent) return;
    // json() keeps a type already set: send sets the file's before it fails (a 416 for a bad Range).
    res.removeHeader('Content-Type');
    res.status(httpError.status).json(errorBody(httpError.code, httpError.message));
  };
}
