import { createHash, timingSafeEqual } from 'node:crypto';
import { HttpError } from './http-error.js';

/**
 * Sent by the appbuilder's health gate with its probe prediction, its value the PROBE_TOKEN the
 * webapp and the appbuilder share: the webapp answers such a probe but does not record it, so
 * probes stay out of the live error rate. Without the token (or when the webapp has none) the
 * header means nothing: anyone could send it, and keep their predictions out of the records.
 */
export const PROBE_HEADER = 'x-mlpl-probe';

const digest = (text: string) => createHash('sha256').update(text).digest();

/**
 * Whether `given` is `token`. Hashes are compared, so neither the token's content nor its
 * length leaks through timing.
 */
export function secretMatches(given: string | undefined, token: string): boolean {
  return given !== undefined && timingSafeEqual(digest(given), digest(token));
}

/** Whether an Authorization header carries `Bearer <token>` (compared as `secretMatches` does). */
export function bearerMatches(header: string | undefined, token: string): boolean {
  return secretMatches(/^Bearer (.+)$/.exec(header ?? '')?.[1], token);
}

type BearerRequest = { headers: { authorization?: string | undefined } };
type BearerResponse = { setHeader(name: string, value: string): unknown };

/**
 * Middleware that lets a request through when it carries one of `tokens`, each keyed by the
 * setting it comes from: `requireBearer({ APPBUILDER_TOKEN: token, ADMIN_TOKEN: adminToken })`.
 * Tokens that are not set are left out of the check and of the message; when none is set, the
 * route is closed and no token can help, so no `WWW-Authenticate` either.
 */
export function requireBearer(tokens: Readonly<Record<string, string | undefined>>): (req: BearerRequest, res: BearerResponse, next: (error?: unknown) => void) => void {
  const set = Object.entries(tokens).filter((entry): entry is [string, string] => entry[1] !== undefined);
  const names = set.map(([name]) => name).join(' or ');
  return (req, res, next) => {
    if (set.length === 0) {
      next(new HttpError(401, 'unauthorized', `this route is disabled: ${Object.keys(tokens).join(' or ')} is not set`));
      return;
    }
    if (set.some(([, token]) => bearerMatches(req.headers.authorization, token))) {
      next();
      return;
    }
    res.setHeader('WWW-Authenticate', 'Bearer');
    next(new HttpError(401, 'unauthorized', `a valid "Authorization: Bearer <${names}>" header is required`));
  };
}
