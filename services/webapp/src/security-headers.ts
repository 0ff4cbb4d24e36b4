import type { RequestHandler } from 'express';

/**
 * What a browser may do with this webapp's answers. The pages (/ and /models) load their
 * scripts and style sheets from this origin only, as files: no inline script, event-handler
 * attribute or style attribute (the scripts set styles through the CSSOM, which CSP allows).
 * - img-src data: for the pages' empty icon (`<link rel="icon" href="data:,">`), which keeps
 *   browsers from asking for /favicon.ico; the correction thumbnails come from this origin.
 * - connect-src 'self': the pages' fetches go to /api only.
 * - object-src, base-uri 'none', form-action 'self': no plugins, no <base> that would
 *   redirect the relative URLs, no form posting elsewhere.
 * - frame-ancestors 'none': no other site may frame the pages (clickjacking the rollback button).
 * The same header on every answer: a JSON or image answer opened on its own gets no more.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * Headers on every answer: the policy above; nosniff, so a browser takes each answer for the
 * type it is served as (a script module served as anything else is refused, a stored file is
 * never read as HTML); no Referer sent from the pages (they link nowhere that needs one);
 * X-Frame-Options for browsers that predate frame-ancestors.
 */
export function securityHeaders(): RequestHandler {
  return (_req, res, next) => {
    res.setHeader('Content-Security-Policy', CONTENT_SECURITY_POLICY);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('X-Frame-Options', 'DENY');
    next();
  };
}
