#!/usr/bin/env node
'use strict';
// `minio` of the mlpl-test/minio stand-in: `minio server <dir> [--address :9000] [--console-address :9001]`.
//
// An S3 server for compose tests: s3rver (filesystem store in <dir>) behind a front that checks
// AWS Signature V4 (header and presigned forms, payload hash included) against the root account
// (MINIO_ROOT_USER / MINIO_ROOT_PASSWORD or *_FILE) and the users added through the stand-in
// admin API, applies the users' policies (readwrite, readonly, writeonly) and serves MinIO's
// health endpoints. The MinIO console is not imitated.
//
// Stand-in admin API (NOT MinIO's admin API), SigV4-signed (service s3) with the ROOT keys:
//   PUT /minio/standin-admin/v1/add-user?accessKey=K       body {"secretKey":"..."}
//   PUT /minio/standin-admin/v1/attach-policy?accessKey=K&policy=readwrite
//   GET /minio/standin-admin/v1/user-info?accessKey=K      -> {"accessKey","status","policyName","memberOf"}
// Users are kept in <dir>/.standin-accounts.json (mode 600).

const fs = require('fs');
const http = require('http');
const os = require('os');
const path = require('path');
const crypto = require('crypto');

const S3rver = require('s3rver');
const AWSAccount = require('s3rver/lib/models/account');
const sigv4 = require('./lib/sigv4');

const VERSION = 'mlpl-test-standin (s3rver ' + require('s3rver/package.json').version + ')';
const POLICIES = {
  readwrite: () => true,
  consoleAdmin: () => true,
  readonly: (m) => m === 'GET' || m === 'HEAD',
  writeonly: (m) => m === 'PUT' || m === 'POST',
};
const MAX_BUFFERED_BODY = 1024 * 1024 * 1024; // bodies with a signed hash are checked in memory
const trace = /^(1|true|on)$/i.test(process.env.MINIO_STANDIN_TRACE || '');

function die(msg) {
  console.error(`FATAL ${msg}`);
  process.exit(1);
}

// ---- arguments ------------------------------------------------------------------------------
function parseArgs(argv) {
  if (argv[0] === '--version' || argv[0] === 'version' || argv[0] === '-v') {
    console.log(`minio version ${VERSION}`);
    process.exit(0);
  }
  if (argv[0] !== 'server') die(`unsupported command ${JSON.stringify(argv[0] || '')}: this stand-in runs \`minio server DIR\` only`);
  const opts = { dirs: [], address: process.env.MINIO_ADDRESS || ':9000', console: process.env.MINIO_CONSOLE_ADDRESS || '' };
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i];
    const eq = a.indexOf('=');
    const [flag, inline] = a.startsWith('--') && eq > 0 ? [a.slice(0, eq), a.slice(eq + 1)] : [a, undefined];
    const val = () => (inline !== undefined ? inline : argv[++i]);
    if (flag === '--address') opts.address = val();
    else if (flag === '--console-address') opts.console = val();
    else if (flag === '--certs-dir' || flag === '-S' || flag === '--ftp' || flag === '--sftp') {
      console.log(`stand-in: ignoring ${flag} ${val()}`);
    } else if (flag === '--quiet' || flag === '--anonymous' || flag === '--json') {
      /* accepted, no effect */
    } else if (a.startsWith('-')) die(`unsupported flag ${a}`);
    else opts.dirs.push(a);
  }
  if (opts.dirs.length !== 1) die('this stand-in serves exactly one directory (no erasure sets): `minio server DIR`');
  return opts;
}

function parseAddress(addr) {
  const m = /^(.*):(\d+)$/.exec(addr || '');
  if (!m) die(`invalid address ${addr}`);
  const host = m[1].replace(/^\[|\]$/g, '');
  return { host: host || undefined, port: Number(m[2]) };
}

// MinIO's *_FILE (readFromSecret): a name under /run/secrets (Docker secrets) or a path; a file
// that does not exist is ignored (the image sets MINIO_ROOT_USER_FILE=access_key and
// MINIO_ROOT_PASSWORD_FILE=secret_key by default, as the official one); its trimmed content wins
// over the plain variable.
function envOrFile(name) {
  const sp = process.env[name + '_FILE'];
  if (sp) {
    const inSecrets = path.join('/run/secrets', sp);
    let p = sp;
    try {
      if (fs.statSync(inSecrets).isFile()) p = inSecrets;
    } catch {
      /* not there */
    }
    try {
      const v = fs.readFileSync(p, 'utf8').trim();
      if (v) return v;
    } catch (e) {
      if (e.code !== 'ENOENT') die(`unable to read ${name}_FILE ${p}: ${e.message}`);
      if (path.isAbsolute(sp)) console.log(`warning: ${name}_FILE ${sp} does not exist, ignored (as MinIO does)`);
    }
  }
  return process.env[name];
}

// ---- accounts -------------------------------------------------------------------------------
class Accounts {
  constructor(dir, rootUser, rootPassword) {
    this.file = path.join(dir, '.standin-accounts.json');
    this.root = { accessKey: rootUser, secretKey: rootPassword };
    this.users = {};
    this.s3Account = new AWSAccount(123456789012, rootUser);
    // s3rver's built-in S3RVER/S3RVER key must not work here.
    AWSAccount.DUMMY_ACCOUNT.revokeAccessKey('S3RVER');
    this.s3Account.createKeyPair(rootUser, rootPassword);
    if (fs.existsSync(this.file)) {
      const data = JSON.parse(fs.readFileSync(this.file, 'utf8'));
      this.users = data.users || {};
    }
    for (const [k, u] of Object.entries(this.users)) this.s3Account.createKeyPair(k, u.secretKey);
  }

  secretOf(accessKey) {
    if (accessKey === this.root.accessKey) return this.root.secretKey;
    const u = this.users[accessKey];
    return u && u.status === 'enabled' ? u.secretKey : undefined;
  }

  isRoot(accessKey) {
    return accessKey === this.root.accessKey;
  }

  allows(accessKey, method) {
    if (this.isRoot(accessKey)) return true;
    const u = this.users[accessKey];
    return !!u && u.policies.some((p) => POLICIES[p] && POLICIES[p](method));
  }

  save() {
    const tmp = this.file + '.tmp';
    fs.writeFileSync(tmp, JSON.stringify({ version: 1, users: this.users }, null, 2) + '\n', { mode: 0o600 });
    fs.renameSync(tmp, this.file);
  }

  addUser(accessKey, secretKey) {
    const prev = this.users[accessKey];
    this.users[accessKey] = { secretKey, status: 'enabled', policies: prev ? prev.policies : [] };
    this.save();
    if (prev) this.s3Account.revokeAccessKey(accessKey);
    this.s3Account.createKeyPair(accessKey, secretKey);
  }

  attach(accessKey, policies) {
    const u = this.users[accessKey];
    const fresh = policies.filter((p) => !u.policies.includes(p));
    if (fresh.length === 0) return false;
    u.policies.push(...fresh);
    this.save();
    return true;
  }
}

// ---- HTTP helpers ---------------------------------------------------------------------------
const requestId = () => crypto.randomBytes(8).toString('hex').toUpperCase();

function sendS3Error(res, status, code, message, resource) {
  const esc = (s) => String(s).replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
  const body =
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Error><Code>${esc(code)}</Code><Message>${esc(message)}</Message><Resource>${esc(resource)}</Resource>` +
    `<RequestId>${requestId()}</RequestId><HostId>${esc(os.hostname())}</HostId></Error>`;
  res.writeHead(status, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(body), Server: 'MinIO' });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

function sendJson(res, status, obj) {
  const body = JSON.stringify(obj);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), Server: 'MinIO' });
  res.end(body);
}

function adminError(res, status, code, message, resource) {
  sendJson(res, status, { Code: code, Message: message, Resource: resource, RequestId: requestId() });
}

function readBody(req, limit) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > limit) {
        reject(Object.assign(new Error('body too large'), { code: 'EntityTooLarge' }));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

// Names in a listing, encoded as for encoding-type=url (space as +, / kept).
function urlEncodeListing(xml) {
  const unescape = (v) =>
    v.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos);/gi, (m, e) => {
      const named = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }[e.toLowerCase()];
      if (named) return named;
      return String.fromCodePoint(e[1].toLowerCase() === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
    });
  const enc = (v) => encodeURIComponent(v).replace(/%2F/gi, '/').replace(/%20/g, '+').replace(/'/g, '%27');
  return xml
    .replace(/<(Key|Prefix|Delimiter|StartAfter|Marker|NextMarker)>([^<]*)<\/\1>/g, (m, tag, v) => `<${tag}>${enc(unescape(v))}</${tag}>`)
    .replace(/(<ListBucketResult[^>]*>)/, '$1<EncodingType>url</EncodingType>');
}

// ---- main -----------------------------------------------------------------------------------
async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const dir = path.resolve(opts.dirs[0]);
  const rootUser = envOrFile('MINIO_ROOT_USER') || envOrFile('MINIO_ACCESS_KEY') || 'minioadmin';
  const rootPassword = envOrFile('MINIO_ROOT_PASSWORD') || envOrFile('MINIO_SECRET_KEY') || 'minioadmin';
  if (rootUser.length < 3) die('Invalid credentials: MINIO_ROOT_USER length should be at least 3');
  if (rootPassword.length < 8) die('Invalid credentials: MINIO_ROOT_PASSWORD length should be at least 8');
  fs.mkdirSync(dir, { recursive: true });
  const accounts = new Accounts(dir, rootUser, rootPassword);

  // Path-style only (MinIO does virtual-host style only with MINIO_DOMAIN); s3rver would otherwise
  // take a host name such as `storage` for a bucket.
  const s3 = new S3rver({ directory: dir, silent: !trace, resetOnClose: false, allowMismatchedSignatures: false, vhostBuckets: false });
  const sock = path.join(os.tmpdir(), `mlpl-s3rver-${process.pid}.sock`);
  fs.rmSync(sock, { force: true });
  const backend = http.createServer(s3.callback());
  await new Promise((resolve, reject) => backend.listen(sock, resolve).on('error', reject));

  const forward = (req, res, body, rewrite) => {
    const up = http.request({ socketPath: sock, method: req.method, path: req.url, headers: req.headers }, (ur) => {
      if (!rewrite || ur.statusCode !== 200) {
        res.writeHead(ur.statusCode, { ...ur.headers, server: 'MinIO' });
        return ur.pipe(res);
      }
      const chunks = [];
      ur.on('data', (c) => chunks.push(c));
      ur.on('end', () => {
        const out = Buffer.from(rewrite(Buffer.concat(chunks).toString('utf8')), 'utf8');
        res.writeHead(ur.statusCode, { ...ur.headers, 'content-length': out.length, server: 'MinIO' });
        res.end(out);
      });
    });
    up.on('error', (e) => {
      console.error(`backend error: ${e.message}`);
      if (!res.headersSent) sendS3Error(res, 500, 'InternalError', 'We encountered an internal error, please try again.', req.url);
      else res.destroy();
    });
    if (body) up.end(body);
    else req.pipe(up);
  };

  const handleAdmin = async (req, res, route, query) => {
    let auth;
    try {
      auth = sigv4.verify(req, (k) => (accounts.isRoot(k) ? accounts.root.secretKey : accounts.secretOf(k)));
    } catch (e) {
      return adminError(res, e.status || 403, e.code || 'AccessDenied', e.message, req.url);
    }
    if (!accounts.isRoot(auth.accessKey)) return adminError(res, 403, 'AccessDenied', 'Access Denied.', req.url);
    const body = await readBody(req, 1024 * 1024);
    if (auth.payloadHash && sigv4.sha256hex(body) !== auth.payloadHash) {
      return adminError(res, 400, 'XAmzContentSHA256Mismatch', 'The provided \'x-amz-content-sha256\' header does not match what was computed.', req.url);
    }
    const q = Object.fromEntries(query);
    const key = q.accessKey || '';
    const user = accounts.users[key];
    if (route === 'add-user' && req.method === 'PUT') {
      let secretKey;
      try {
        secretKey = JSON.parse(body.toString('utf8')).secretKey;
      } catch {
        return adminError(res, 400, 'XMinioAdminInvalidArgument', 'Invalid JSON body', req.url);
      }
      if (accounts.isRoot(key)) return adminError(res, 400, 'XMinioAdminInvalidArgument', 'Access key cannot be the same as the root access key', req.url);
      if (key.length < 3 || key.length > 20 || /[=,]/.test(key)) {
        return adminError(res, 400, 'XMinioAdminInvalidAccessKey', 'The access key is invalid (3 to 20 characters, no = or ,).', req.url);
      }
      if (typeof secretKey !== 'string' || secretKey.length < 8 || secretKey.length > 40) {
        return adminError(res, 400, 'XMinioAdminInvalidSecretKey', 'The secret key is invalid (8 to 40 characters).', req.url);
      }
      accounts.addUser(key, secretKey);
      console.log(`stand-in admin: user ${key} ${user ? 'updated' : 'added'}`);
      return sendJson(res, 200, {});
    }
    if (route === 'attach-policy' && req.method === 'PUT') {
      if (!user) return adminError(res, 404, 'XMinioAdminNoSuchUser', `The specified user does not exist: ${key}`, req.url);
      const policies = String(q.policy || '').split(',').filter(Boolean);
      const unknown = policies.filter((p) => !POLICIES[p]);
      if (policies.length === 0 || unknown.length) {
        return adminError(res, 404, 'XMinioAdminNoSuchPolicy', `The canned policy does not exist: ${unknown.join(',') || '(none)'}`, req.url);
      }
      if (!accounts.attach(key, policies)) {
        return adminError(res, 400, 'XMinioAdminPolicyChangeAlreadyApplied', 'The specified policy change is already in effect.', req.url);
      }
      console.log(`stand-in admin: policy ${policies.join(',')} attached to ${key}`);
      return sendJson(res, 200, { policiesAttached: policies, user: key });
    }
    if (route === 'user-info' && req.method === 'GET') {
      if (!user) return adminError(res, 404, 'XMinioAdminNoSuchUser', `The specified user does not exist: ${key}`, req.url);
      return sendJson(res, 200, { accessKey: key, status: user.status, policyName: user.policies.join(','), memberOf: [] });
    }
    return adminError(res, 400, 'XMinioAdminNotImplemented', `Stand-in admin API: unknown call ${req.method} ${route}`, req.url);
  };

  const front = http.createServer(async (req, res) => {
    const [rawPath, rawQuery] = sigv4.splitUrl(req.url);
    if (trace) res.on('finish', () => console.log(`${req.method} ${req.url} ${res.statusCode}`));
    try {
      if (/^\/minio\/health\/(live|ready|cluster|cluster\/read)\/?$/.test(rawPath)) {
        if (req.method !== 'GET' && req.method !== 'HEAD') return sendS3Error(res, 405, 'MethodNotAllowed', 'The specified method is not allowed against this resource.', rawPath);
        res.writeHead(200, { 'Content-Length': 0, Server: 'MinIO', 'X-Minio-Server-Status': 'online' });
        return res.end();
      }
      const query = sigv4.parseQuery(rawQuery);
      const admin = /^\/minio\/standin-admin\/v1\/([a-z-]+)$/.exec(rawPath);
      if (admin) return await handleAdmin(req, res, admin[1], query);
      if (rawPath.startsWith('/minio/')) return sendS3Error(res, 400, 'InvalidRequest', 'Not supported by the mlpl-test MinIO stand-in.', rawPath);

      const mech = sigv4.mechanism(req, query);
      let accessKey;
      let payloadHash = null;
      if (mech === 'v4-header' || mech === 'v4-query') {
        const auth = sigv4.verify(req, (k) => accounts.secretOf(k));
        accessKey = auth.accessKey;
        payloadHash = auth.payloadHash;
      } else if (mech === 'v2-header' || mech === 'v2-query') {
        // s3rver checks V2 signatures itself; only the key and its policy are checked here.
        accessKey = sigv4.v2AccessKey(req, query);
        if (accounts.secretOf(accessKey) === undefined) {
          return sendS3Error(res, 403, 'InvalidAccessKeyId', 'The Access Key Id you provided does not exist in our records.', rawPath);
        }
      } else if (mech === 'unknown') {
        return sendS3Error(res, 400, 'InvalidArgument', 'Unsupported Authorization Type', rawPath);
      } else {
        return sendS3Error(res, 403, 'AccessDenied', 'Access Denied.', rawPath);
      }
      if (!accounts.allows(accessKey, req.method)) return sendS3Error(res, 403, 'AccessDenied', 'Access Denied.', rawPath);

      // ListMultipartUploads (GET /bucket?uploads), which s3rver lacks and the minio client calls
      // before a multipart upload (to resume one): answered "none in progress".
      const bucketOnly = /^\/([^/]+)\/?$/.exec(rawPath);
      if (req.method === 'GET' && bucketOnly && query.some(([k]) => k === 'uploads')) {
        const bucket = sigv4.splitUrl(req.url)[0].slice(1).replace(/\/$/, '');
        if (!fs.existsSync(path.join(dir, decodeURIComponent(bucket)))) {
          return sendS3Error(res, 404, 'NoSuchBucket', 'The specified bucket does not exist', rawPath);
        }
        const q = Object.fromEntries(query);
        const esc = (v) => String(v ?? '').replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
        const xml =
          '<?xml version="1.0" encoding="UTF-8"?>\n<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
          `<Bucket>${esc(decodeURIComponent(bucket))}</Bucket><KeyMarker>${esc(q['key-marker'])}</KeyMarker>` +
          `<UploadIdMarker>${esc(q['upload-id-marker'])}</UploadIdMarker><NextKeyMarker></NextKeyMarker><NextUploadIdMarker></NextUploadIdMarker>` +
          `<Delimiter>${esc(q.delimiter)}</Delimiter><Prefix>${esc(q.prefix)}</Prefix><MaxUploads>${Number(q['max-uploads']) || 1000}</MaxUploads>` +
          '<IsTruncated>false</IsTruncated></ListMultipartUploadsResult>';
        res.writeHead(200, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(xml), Server: 'MinIO' });
        return res.end(xml);
      }

      let body = null;
      if (payloadHash) {
        body = await readBody(req, MAX_BUFFERED_BODY);
        if (sigv4.sha256hex(body) !== payloadHash) {
          return sendS3Error(res, 400, 'XAmzContentSHA256Mismatch', 'The provided \'x-amz-content-sha256\' header does not match what was computed.', rawPath);
        }
      }
      // ListObjects(V2) with encoding-type=url (the minio client always asks for it and always
      // decodes): s3rver ignores it, so the names are encoded here, as S3 and MinIO do.
      const rewrite =
        req.method === 'GET' && bucketOnly && query.some(([k, v]) => k === 'encoding-type' && v === 'url') &&
        !query.some(([k]) => ['location', 'uploads', 'versioning', 'policy', 'acl', 'cors', 'website', 'tagging', 'lifecycle'].includes(k))
          ? urlEncodeListing
          : null;
      return forward(req, res, body, rewrite);
    } catch (e) {
      if (e instanceof sigv4.AuthError) return sendS3Error(res, e.status, e.code, e.message, rawPath);
      if (e.code === 'EntityTooLarge') return sendS3Error(res, 400, 'EntityTooLarge', 'Your proposed upload exceeds the stand-in\'s limit for signed payloads.', rawPath);
      console.error(`error on ${req.method} ${req.url}: ${e.stack || e}`);
      if (!res.headersSent) sendS3Error(res, 500, 'InternalError', 'We encountered an internal error, please try again.', rawPath);
      else res.destroy();
    }
  });

  const { host, port } = parseAddress(opts.address);
  await new Promise((resolve, reject) => front.listen(port, host, resolve).on('error', reject));
  console.log(`MinIO Object Storage Server stand-in, version ${VERSION}`);
  console.log(`API: http://${host || '0.0.0.0'}:${port}  (AWS Signature V4 checked; data in ${dir})`);
  console.log(`Root user: ${rootUser}; users: ${Object.keys(accounts.users).length} (from ${accounts.file})`);
  if (opts.console) console.log(`WebUI: console address ${opts.console} requested, skipped: the MinIO console is not imitated by this stand-in`);

  const stop = (sig) => {
    console.log(`${sig}: shutting down`);
    front.close();
    backend.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 3000).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((e) => die(e.stack || String(e)));
