#!/usr/bin/env node
// Runs every compiled test (`**/dist/**/*.test.js`) with node's test runner against real
// servers: a throwaway MariaDB and an s3rver, started here unless the environment names
// servers already running (TEST_DATABASE_* / TEST_STORAGE_*, see packages/shared/src/testing).
// Usage: node scripts/test.mjs [test files or folders...]
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startMariaDb, startS3rver, TEST_ENV } from '../packages/shared/dist/testing/index.js';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const TEST_ROOTS = ['packages', 'services', 'scripts', 'bench'];

function findTests(dir, found = []) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) findTests(full, found);
    else if (entry.name.endsWith('.test.js') && full.split(path.sep).includes('dist')) found.push(full);
  }
  return found;
}

function testFiles(args) {
  if (args.length === 0) return TEST_ROOTS.flatMap((name) => findTests(path.join(root, name)));
  return args.flatMap((arg) => (statSync(arg).isDirectory() ? findTests(path.resolve(arg)) : [path.resolve(arg)]));
}

const stops = [];
async function startServers() {
  if (!process.env[TEST_ENV.databaseHost]) {
    const db = await startMariaDb();
    stops.push(() => db.stop());
    Object.assign(process.env, {
      [TEST_ENV.databaseHost]: db.host,
      [TEST_ENV.databasePort]: String(db.port),
      [TEST_ENV.databaseUser]: db.user,
      [TEST_ENV.databasePassword]: db.password,
    });
    console.log(`# MariaDB started on ${db.host}:${db.port} (${db.dir})`);
  }
  if (!process.env[TEST_ENV.storageHost]) {
    const s3 = await startS3rver();
    stops.push(() => s3.stop());
    Object.assign(process.env, {
      [TEST_ENV.storageHost]: s3.host,
      [TEST_ENV.storagePort]: String(s3.port),
      [TEST_ENV.storageAccessKey]: s3.accessKey,
      [TEST_ENV.storageSecretKey]: s3.secretKey,
    });
    console.log(`# s3rver started on ${s3.host}:${s3.port} (${s3.dir})`);
  }
}

async function stopServers() {
  for (const stop of stops.reverse()) await stop().catch((error) => console.error(error));
}

const files = testFiles(process.argv.slice(2));
if (files.length === 0) {
  console.error('no test files found: run "npx tsc -b" first');
  process.exit(1);
}
// The end-to-end tests (scripts/: whole stacks of five processes, a soak) run after the others
// and one at a time: side by side they would starve each other and everything else of the two
// cores, and their figures (gaps, RSS) would measure the neighbours.
const endToEnd = path.join(root, 'scripts', 'dist') + path.sep;
const phases = [
  { files: files.filter((file) => !file.startsWith(endToEnd)), concurrency: 2 },
  { files: files.filter((file) => file.startsWith(endToEnd)), concurrency: 1 },
].filter((phase) => phase.files.length > 0);

let current;
const forward = (signal) => current?.kill(signal);
process.on('SIGINT', forward);
process.on('SIGTERM', forward);
function runPhase({ files: phaseFiles, concurrency }) {
  current = spawn(process.execPath, ['--test', `--test-concurrency=${concurrency}`, '--test-timeout=900000', ...phaseFiles], {
    stdio: 'inherit',
    env: process.env,
  });
  return new Promise((resolve) => current.once('exit', (exitCode) => resolve(exitCode ?? 1)));
}

let code = 0;
try {
  await startServers();
  for (const phase of phases) {
    const phaseCode = await runPhase(phase);
    if (phaseCode !== 0) code = phaseCode;
  }
} catch (error) {
  console.error(error);
  code = 1;
} finally {
  await stopServers();
}
process.exitCode = code;
