'use strict';
// AWS Signature Version 4 (service s3): signing (for `mc`) and verification (for the server),
// header-based and presigned (query) forms, as MinIO checks them.

const crypto = require('crypto');

const ALGORITHM = 'AWS4-HMAC-SHA256';
const UNSIGNED = 'UNSIGNED-PAYLOAD';
const STREAMING = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD';
const EMPTY_SHA256 = crypto.createHash('sha256').update('').digest('hex');
const MAX_SKEW_MS = 15 * 60 * 1000;

const sha256hex = (data) => crypto.createHash('sha256').update(data).digest('hex');
const hmac = (key, data) => crypto.createHmac('sha256', key).update(data).digest();

// RFC 3986 encoding, as AWS wants it (unreserved characters only left alone).
function uriEncode(s) {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

function safeDecode(s) {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

// The path as sent, decoded and encoded again segment by segment (S3 encodes once; `/` kept).
function canonicalUri(rawPath) {
  return (rawPath || '/').split('/').map((seg) => uriEncode(safeDecode(seg))).join('/');
}

// Query parameters as [key, value] pairs, decoded (`+` is a space, as Go's url.ParseQuery has it).
function parseQuery(rawQuery) {
  if (!rawQuery) return [];
  return rawQuery
    .split('&')
    .filter((p) => p.length > 0)
    .map((p) => {
      const i = p.indexOf('=');
      const k = i < 0 ? p : p.slice(0, i);
      const v = i < 0 ? '' : p.slice(i + 1);
      return [safeDecode(k.replace(/\+/g, ' ')), safeDecode(v.replace(/\+/g, ' '))];
    });
}

function canonicalQuery(pairs) {
  return pairs
    .map(([k, v]) => [uriEncode(k), uriEncode(v)])
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

function headerValue(v) {
  if (Array.isArray(v)) v = v.join(',');
  return String(v ?? '').trim().replace(/\s+/g, ' ');
}

function signingKey(secret, date, region, service) {
  return hmac(hmac(hmac(hmac('AWS4' + secret, date), region), service), 'aws4_request');
}

function stringToSign(amzDate, scope, canonicalRequest) {
  return [ALGORITHM, amzDate, scope, sha256hex(canonicalRequest)].join('\n');
}

function buildCanonicalRequest({ method, rawPath, queryPairs, headers, signedHeaders, payloadHash }) {
  const names = signedHeaders.map((h) => h.toLowerCase());
  const canonHeaders = names.map((n) => `${n}:${headerValue(headers[n])}\n`).join('');
  return [method, canonicalUri(rawPath), canonicalQuery(queryPairs), canonHeaders, names.join(';'), payloadHash].join('\n');
}

function amzDateOf(d) {
  return d.toISOString().replace(/[:-]|\.\d{3}/g, '');
}

function parseAmzDate(s) {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s || '');
  if (m) return new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
  const d = new Date(s); // an HTTP Date header
  return isNaN(d) ? null : d;
}

/**
 * Signs a request for `mc`. Returns the headers to send (host, x-amz-date,
 * x-amz-content-sha256, authorization).
 */
function sign({ method, url, headers = {}, body = '', accessKey, secretKey, region = 'us-east-1', service = 's3', now = new Date() }) {
  const u = new URL(url);
  const amzDate = amzDateOf(now);
  const date = amzDate.slice(0, 8);
  const payloadHash = sha256hex(body);
  const all = {};
  for (const [k, v] of Object.entries(headers)) all[k.toLowerCase()] = v;
  all.host = u.host;
  all['x-amz-date'] = amzDate;
  all['x-amz-content-sha256'] = payloadHash;
  const signedHeaders = Object.keys(all).sort();
  const canonical = buildCanonicalRequest({
    method,
    rawPath: u.pathname,
    queryPairs: parseQuery(u.search.slice(1)),
    headers: all,
    signedHeaders,
    payloadHash,
  });
  const scope = `${date}/${region}/${service}/aws4_request`;
  const signature = hmac(signingKey(secretKey, date, region, service), stringToSign(amzDate, scope, canonical)).toString('hex');
  all.authorization = `${ALGORITHM} Credential=${accessKey}/${scope}, SignedHeaders=${signedHeaders.join(';')}, Signature=${signature}`;
  return all;
}

class AuthError extends Error {
  constructor(code, message, status = 403) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

// Which mechanism the request uses: 'v4-header', 'v4-query', 'v2-header', 'v2-query' or null.
function mechanism(req, queryPairs) {
  const auth = req.headers.authorization;
  const q = new Set(queryPairs.map(([k]) => k));
  if (auth && /^AWS4-HMAC-SHA256 /i.test(auth)) return 'v4-header';
  if (auth && /^AWS /.test(auth)) return 'v2-header';
  if (auth) return 'unknown';
  if (q.has('X-Amz-Algorithm') || q.has('X-Amz-Credential')) return 'v4-query';
  if (q.has('Signature') && q.has('AWSAccessKeyId')) return 'v2-query';
  return null;
}

function parseCredential(cred) {
  // <access key>/<yyyymmdd>/<region>/<service>/aws4_request; the access key may hold '/'.
  const parts = (cred || '').split('/');
  if (parts.length < 5 || parts[parts.length - 1] !== 'aws4_request') {
    throw new AuthError('AuthorizationHeaderMalformed', 'The authorization header is malformed; the Credential is mal-formed.', 400);
  }
  const [date, region, service] = parts.slice(-4, -1);
  return { accessKey: parts.slice(0, -4).join('/'), date, region, service, scope: parts.slice(-4).join('/') };
}

/**
 * Verifies a SigV4 request. `lookupSecret(accessKey)` returns the secret or undefined.
 * Returns { accessKey, payloadHash } where payloadHash is the 64-hex hash the body must have,
 * or null when the payload is unsigned / streamed. Throws AuthError.
 */
function verify(req, lookupSecret, now = new Date()) {
  const [rawPath, rawQuery = ''] = splitUrl(req.url);
  const queryPairs = parseQuery(rawQuery);
  const mech = mechanism(req, queryPairs);
  let cred, signedHeaders, signature, amzDate, payloadHash;

  if (mech === 'v4-header') {
    const rest = req.headers.authorization.replace(/^AWS4-HMAC-SHA256\s+/i, '');
    const fields = new Map(
      rest.split(',').map((s) => {
        const t = s.trim();
        const i = t.indexOf('=');
        return [t.slice(0, i), t.slice(i + 1)];
      }),
    );
    for (const f of ['Credential', 'SignedHeaders', 'Signature']) {
      if (!fields.get(f)) throw new AuthError('AuthorizationHeaderMalformed', `The authorization header is malformed; missing ${f}.`, 400);
    }
    cred = parseCredential(fields.get('Credential'));
    signedHeaders = fields.get('SignedHeaders').split(';');
    signature = fields.get('Signature');
    amzDate = req.headers['x-amz-date'] || req.headers.date;
    payloadHash = req.headers['x-amz-content-sha256'];
    if (!payloadHash) throw new AuthError('InvalidRequest', 'Missing required header for this request: x-amz-content-sha256', 400);
    const when = parseAmzDate(amzDate);
    if (!when) throw new AuthError('AccessDenied', 'AWS authentication requires a valid Date or x-amz-date header');
    if (Math.abs(now - when) > MAX_SKEW_MS) {
      throw new AuthError('RequestTimeTooSkewed', 'The difference between the request time and the server\'s time is too large.');
    }
    if (!req.headers['x-amz-date']) amzDate = amzDateOf(when);
  } else if (mech === 'v4-query') {
    const q = Object.fromEntries(queryPairs);
    if (q['X-Amz-Algorithm'] !== ALGORITHM) {
      throw new AuthError('AuthorizationQueryParametersError', 'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"', 400);
    }
    for (const f of ['X-Amz-Credential', 'X-Amz-Date', 'X-Amz-SignedHeaders', 'X-Amz-Signature', 'X-Amz-Expires']) {
      if (!(f in q)) throw new AuthError('AuthorizationQueryParametersError', `Query-string authentication version 4 requires ${f}.`, 400);
    }
    cred = parseCredential(q['X-Amz-Credential']);
    signedHeaders = q['X-Amz-SignedHeaders'].split(';');
    signature = q['X-Amz-Signature'];
    amzDate = q['X-Amz-Date'];
    payloadHash = q['X-Amz-Content-Sha256'] || UNSIGNED;
    const when = parseAmzDate(amzDate);
    const expires = Number(q['X-Amz-Expires']);
    if (!when || !Number.isInteger(expires) || expires < 0) {
      throw new AuthError('AuthorizationQueryParametersError', 'X-Amz-Date or X-Amz-Expires is malformed.', 400);
    }
    if (expires > 604800) throw new AuthError('AuthorizationQueryParametersError', 'X-Amz-Expires must be less than a week (in seconds) that is 604800', 400);
    if (when - now > MAX_SKEW_MS) throw new AuthError('AccessDenied', 'Request is not valid yet');
    if (now - when > expires * 1000) throw new AuthError('AccessDenied', 'Request has expired');
  } else {
    throw new AuthError('AccessDenied', 'Access Denied.');
  }

  if (!signedHeaders.map((h) => h.toLowerCase()).includes('host')) {
    throw new AuthError('AccessDenied', 'The host header must be signed.');
  }
  if (cred.date !== amzDate.slice(0, 8)) {
    throw new AuthError('AuthorizationHeaderMalformed', 'The authorization header is malformed; the credential date does not match the request date.', 400);
  }
  if (cred.service !== 's3') {
    throw new AuthError('AuthorizationHeaderMalformed', `The authorization header is malformed; the service '${cred.service}' is not s3.`, 400);
  }
  const secret = lookupSecret(cred.accessKey);
  if (secret === undefined) {
    throw new AuthError('InvalidAccessKeyId', 'The Access Key Id you provided does not exist in our records.');
  }
  const canonical = buildCanonicalRequest({
    method: req.method,
    rawPath,
    queryPairs: mech === 'v4-query' ? queryPairs.filter(([k]) => k !== 'X-Amz-Signature') : queryPairs,
    headers: req.headers,
    signedHeaders,
    payloadHash,
  });
  const expected = hmac(signingKey(secret, cred.date, cred.region, cred.service), stringToSign(amzDate, cred.scope, canonical));
  const given = Buffer.from(String(signature), 'hex');
  if (given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) {
    throw new AuthError('SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.');
  }
  return {
    accessKey: cred.accessKey,
    payloadHash: /^[0-9a-f]{64}$/i.test(payloadHash) ? payloadHash.toLowerCase() : null,
    streaming: payloadHash === STREAMING,
  };
}

function splitUrl(url) {
  const i = (url || '/').indexOf('?');
  return i < 0 ? [url || '/', ''] : [url.slice(0, i), url.slice(i + 1)];
}

// The access key of a V2-signed request (header `AWS key:sig` or query AWSAccessKeyId).
function v2AccessKey(req, queryPairs) {
  const auth = req.headers.authorization;
  if (auth && /^AWS /.test(auth)) return auth.slice(4).split(':')[0];
  const q = Object.fromEntries(queryPairs);
  return q.AWSAccessKeyId;
}

module.exports = {
  AuthError,
  EMPTY_SHA256,
  UNSIGNED,
  mechanism,
  parseQuery,
  sha256hex,
  sign,
  splitUrl,
  uriEncode,
  v2AccessKey,
  verify,
};
