import { createHash, timingSafeEqual } from 'node:crypto';

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
