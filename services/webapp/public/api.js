// The one way the pages talk to the webapp's JSON API. Every failure becomes an ApiError
// whose message reads after "Could not …: " and whose status says what kind it was.

/** ApiError.status when no answer came: the server was unreachable or the connection dropped. */
export const UNREACHABLE = 0;

export class ApiError extends Error {
  /** @param {string} message @param {number} status the HTTP status, or UNREACHABLE @param {string | undefined} code the envelope's error code, when it has one */
  constructor(message, status, code) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

/**
 * Sends a request and returns the JSON it answers. Throws an ApiError with the server's own
 * message when it answers with the `{"error":{"code","message"}}` envelope, with the status
 * line when it answers an error without one (a proxy's HTML page), and when a success is not JSON.
 */
export async function api(path, options) {
  let response;
  try {
    response = await fetch(path, { ...options, headers: { accept: 'application/json', ...options?.headers } });
  } catch {
    throw new ApiError('the server could not be reached', UNREACHABLE);
  }
  const body = await response.json().catch(() => undefined);
  if (!response.ok) throw new ApiError(body?.error?.message ?? `the server answered ${response.status} ${response.statusText}`, response.status, body?.error?.code);
  if (body === undefined) throw new ApiError(`the server answered ${response.status} without JSON`, response.status);
  return body;
}
