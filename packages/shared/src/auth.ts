import { createHash, timingSafeEqual } from 'node:crypto';
import { HttpError } from './http-error.js';

/**
 * Sent by the appbuilder's health gate with its probe prediction: the webapp answers it but
 * does not record it, so probes stay out of the live error rate.
 */
export const PROBE_HEADER = 'x-mlpl-probe';

const digest = (text: string) => createHash('sha256').update(text).digest();

/**
 * Whether an Authorization header carries `Bearer <token>`. Hashes are compared, so neither
 * the token's content nor its length leaks through timing.
 */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const match = /^Bearer (.+)$/.exec(header ?? '');
  return match?.[1] !== undefined && timingSafeEqual(digest(match[1]), digest(token));
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
