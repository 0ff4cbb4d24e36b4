#!/usr/bin/env node
'use strict';
// `mc` of the mlpl-test/minio stand-in. Supports exactly:
//   mc ready ALIAS
//   mc alias set NAME URL [ACCESS_KEY SECRET_KEY]     (also: alias ls, alias rm NAME)
//   mc admin user add ALIAS ACCESS_KEY SECRET_KEY
//   mc admin policy attach ALIAS POLICY[,POLICY...] --user ACCESS_KEY
//   mc admin user info ALIAS ACCESS_KEY
// Aliases live in $MC_CONFIG_DIR/config.json (default ~/.mc/config.json, or --config-dir/-C);
// `local` (http://127.0.0.1:9000) is built in; MC_HOST_<alias>=http://KEY:SECRET@host:port wins.
// The admin commands speak the stand-in's own admin API (see server.js), not MinIO's.

const fs = require('fs');
const http = require('http');
const https = require('https');
const os = require('os');
const path = require('path');
const sigv4 = require('./lib/sigv4');

const BUILTIN = { local: { url: 'http://127.0.0.1:9000', accessKey: '', secretKey: '', api: 'S3v4', path: 'auto' } };
let configDir = process.env.MC_CONFIG_DIR || path.join(os.homedir(), '.mc');
let json = false;

function fail(what, msg) {
  if (json) console.log(JSON.stringify({ status: 'error', error: { message: what, cause: { message: msg } } }));
  else console.error(`mc: <ERROR> ${what}${msg ? ' ' + msg : ''}`);
  process.exit(1);
}

function say(text, obj) {
  if (json) console.log(JSON.stringify({ status: 'success', ...obj }));
  else console.log(text);
}

// ---- config ---------------------------------------------------------------------------------
const configFile = () => path.join(configDir, 'config.json');

function loadConfig() {
  try {
    const c = JSON.parse(fs.readFileSync(configFile(), 'utf8'));
    c.aliases = c.aliases || {};
    return c;
  } catch {
    return { version: '10', aliases: { ...BUILTIN } };
  }
}

function saveConfig(c) {
  fs.mkdirSync(configDir, { recursive: true, mode: 0o700 });
  const tmp = configFile() + '.tmp';
  fs.writeFileSync(tmp, JSON.stringify(c, null, '\t') + '\n', { mode: 0o600 });
  fs.renameSync(tmp, configFile());
}

function getAlias(name) {
  const env = process.env['MC_HOST_' + name];
  if (env) {
    const u = new URL(env);
    const alias = { url: `${u.protocol}//${u.host}`, accessKey: decodeURIComponent(u.username), secretKey: decodeURIComponent(u.password) };
    return alias;
  }
  const a = loadConfig().aliases[name];
  if (!a) fail(`Unable to get alias.`, `No such alias \`${name}\` found. Use \`mc alias set ${name} URL ACCESS SECRET\` first.`);
  return a;
}

// ---- HTTP -----------------------------------------------------------------------------------
function request(alias, method, pathAndQuery, body = '', { signed = true, timeoutMs = 10000 } = {}) {
  const url = new URL(pathAndQuery, alias.url.replace(/\/+$/, '') + '/');
  const headers = signed
    ? sigv4.sign({ method, url: url.href, body, accessKey: alias.accessKey, secretKey: alias.secretKey })
    : { host: url.host };
  if (body) headers['content-length'] = Buffer.byteLength(body);
  const mod = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(url, { method, headers, timeout: timeoutMs }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body || undefined);
  });
}

// The error code and message of an S3 XML or admin JSON error body.
function errorOf(res) {
  try {
    const j = JSON.parse(res.body);
    return { code: j.Code, message: j.Message };
  } catch {
    const code = /<Code>([^<]*)<\/Code>/.exec(res.body);
    const msg = /<Message>([^<]*)<\/Message>/.exec(res.body);
    return { code: code ? code[1] : `HTTP ${res.status}`, message: msg ? msg[1] : res.body.slice(0, 200) };
  }
}

async function admin(aliasName, method, call, params, body = '') {
  const alias = getAlias(aliasName);
  const qs = new URLSearchParams(params).toString().replace(/\+/g, '%20');
  try {
    return await request(alias, method, `/minio/standin-admin/v1/${call}?${qs}`, body);
  } catch (e) {
    fail(`Unable to reach ${alias.url}.`, e.message);
  }
}

// ---- commands -------------------------------------------------------------------------------
async function cmdReady(args) {
  const name = args[0];
  if (!name) fail('Not enough arguments.', 'Usage: mc ready ALIAS');
  const alias = getAlias(name);
  try {
    const res = await request(alias, 'GET', '/minio/health/ready', '', { signed: false, timeoutMs: 3000 });
    if (res.status === 200) return say(`The cluster '${name}' is ready`, { alias: name, healthy: true });
    fail(`The cluster '${name}' is not ready:`, `HTTP ${res.status}`);
  } catch (e) {
    fail(`The cluster '${name}' is unreachable:`, e.message);
  }
}

async function cmdAlias(args) {
  const [sub, ...rest] = args;
  const cfg = loadConfig();
  if (sub === 'set' || sub === 's') {
    const pos = rest.filter((a, i) => !a.startsWith('--') && !(i > 0 && /^--(api|path)$/.test(rest[i - 1])));
    const [name, url, accessKey = '', secretKey = ''] = pos;
    if (!name || !url) fail('Not enough arguments.', 'Usage: mc alias set ALIAS URL ACCESSKEY SECRETKEY');
    if (!/^https?:\/\/[^/]+\/?$/.test(url)) fail(`Invalid URL.`, `URL \`${url}\` must be http(s)://host[:port].`);
    const alias = { url: url.replace(/\/+$/, ''), accessKey, secretKey, api: 'S3v4', path: 'auto' };
    // As mc does, check the credentials against the server before saving them.
    if (accessKey || secretKey) {
      let res;
      try {
        res = await request(alias, 'GET', '/');
      } catch (e) {
        fail('Unable to initialize new alias from the provided credentials.', e.message);
      }
      const err = res.status === 200 ? null : errorOf(res);
      if (err && err.code !== 'AccessDenied') fail('Unable to initialize new alias from the provided credentials.', `${err.code}: ${err.message}`);
    }
    cfg.aliases[name] = alias;
    saveConfig(cfg);
    return say(`Added \`${name}\` successfully.`, { alias: name, URL: alias.url, accessKey });
  }
  if (sub === 'ls' || sub === 'list') {
    for (const [n, a] of Object.entries(cfg.aliases)) console.log(`${n}\n  URL       : ${a.url}\n  AccessKey : ${a.accessKey}\n  API       : ${a.api || 'S3v4'}\n  Path      : ${a.path || 'auto'}\n`);
    return;
  }
  if (sub === 'rm' || sub === 'remove') {
    if (!cfg.aliases[rest[0]]) fail(`No such alias \`${rest[0]}\` found.`);
    delete cfg.aliases[rest[0]];
    saveConfig(cfg);
    return say(`Removed \`${rest[0]}\` successfully.`, { alias: rest[0] });
  }
  fail(`\`mc alias ${sub || ''}\` is not supported by the mlpl-test stand-in.`);
}

async function cmdAdmin(args) {
  const [group, sub, ...rest] = args;
  if (group === 'user' && sub === 'add') {
    const [alias, key, secret] = rest;
    if (!alias || !key || !secret) fail('Not enough arguments.', 'Usage: mc admin user add ALIAS ACCESSKEY SECRETKEY');
    const res = await admin(alias, 'PUT', 'add-user', { accessKey: key }, JSON.stringify({ secretKey: secret }));
    if (res.status !== 200) {
      const e = errorOf(res);
      fail('Unable to add new user.', e.message);
    }
    return say(`Added user \`${key}\` successfully.`, { accessKey: key, userStatus: 'enabled' });
  }
  if (group === 'user' && sub === 'info') {
    const [alias, key] = rest;
    if (!alias || !key) fail('Not enough arguments.', 'Usage: mc admin user info ALIAS ACCESSKEY');
    const res = await admin(alias, 'GET', 'user-info', { accessKey: key });
    if (res.status !== 200) fail('Unable to get user info.', errorOf(res).message);
    const u = JSON.parse(res.body);
    if (json) return say('', { accessKey: u.accessKey, userStatus: u.status, policyName: u.policyName, memberOf: u.memberOf });
    console.log(`AccessKey: ${u.accessKey}\nStatus: ${u.status}\nPolicyName: ${u.policyName}\nMemberOf: [${u.memberOf.join(' ')}]`);
    return;
  }
  if (group === 'policy' && sub === 'attach') {
    let user;
    const pos = [];
    for (let i = 0; i < rest.length; i++) {
      if (rest[i] === '--user' || rest[i] === '-u') user = rest[++i];
      else if (rest[i].startsWith('--user=')) user = rest[i].slice(7);
      else if (rest[i] === '--group' || rest[i] === '-g' || rest[i].startsWith('--group=')) fail('Groups are not supported by the mlpl-test stand-in.');
      else pos.push(rest[i]);
    }
    const [alias, ...policies] = pos;
    if (!alias || policies.length === 0 || !user) fail('Not enough arguments.', 'Usage: mc admin policy attach ALIAS POLICY [POLICY...] --user USER');
    const names = policies.join(',').split(',').filter(Boolean);
    const res = await admin(alias, 'PUT', 'attach-policy', { accessKey: user, policy: names.join(',') });
    if (res.status !== 200) fail('Unable to make user/group policy association.', errorOf(res).message);
    return say(`Attached Policies: [${names.join(' ')}]\nTo User: ${user}`, { attachedPolicies: names, user });
  }
  fail(`\`mc admin ${[group, sub].filter(Boolean).join(' ')}\` is not supported by the mlpl-test stand-in.`);
}

async function main() {
  const argv = [];
  const raw = process.argv.slice(2);
  for (let i = 0; i < raw.length; i++) {
    const a = raw[i];
    if (a === '--json') json = true;
    else if (a === '--config-dir' || a === '-C') configDir = raw[++i];
    else if (a.startsWith('--config-dir=')) configDir = a.slice(13);
    else if (['--quiet', '-q', '--insecure', '--no-color', '--debug', '--disable-pager', '--dp'].includes(a)) continue;
    else argv.push(a);
  }
  const [cmd, ...args] = argv;
  if (cmd === '--version' || cmd === '-v' || cmd === 'version') return console.log('mc version mlpl-test-standin');
  if (cmd === 'ready') return cmdReady(args);
  if (cmd === 'alias') return cmdAlias(args);
  if (cmd === 'admin') return cmdAdmin(args);
  fail(`\`mc ${cmd || ''}\` is not supported by the mlpl-test stand-in`, '(ready, alias set, admin user add|info, admin policy attach).');
}

main().catch((e) => fail('Unexpected error.', e.stack || String(e)));
