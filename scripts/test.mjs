#!/usr/bin/env node
// Runs every compiled test (`**/dist/**/*.test.js`) with node's test runner against real
// servers: a throwaway MariaDB and an s3rver, started here unless the environment names
// servers already running (TEST_DATABASE_* / TEST_STORAGE_*, see packages/shared/src/testing).
// Usage: node scripts/test.mjs [test files or folders...]
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
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
  { name: 'unit and medium', files: files.filter((file) => !file.startsWith(endToEnd)), concurrency: 2 },
  { name: 'end-to-end', files: files.filter((file) => file.startsWith(endToEnd)), concurrency: 1 },
].filter((phase) => phase.files.length > 0);

let current;
const forward = (signal) => current?.kill(signal);
process.on('SIGINT', forward);
process.on('SIGTERM', forward);
// Each phase prints its own report as usual and also writes TAP to a file, whose closing
// counts are added up at the end: the last summary on the screen is then the whole suite's,
// not the last phase's.
const reports = mkdtempSync(path.join(tmpdir(), 'mlpl-test-report-'));
const COUNTS = ['tests', 'pass', 'fail', 'cancelled', 'skipped', 'todo'];
function phaseCounts(file) {
  const counts = {};
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return counts;
  }
  // The runner's closing lines, unindented: "# tests 363", "# pass 363", …
  for (const match of text.matchAll(/^# (tests|pass|fail|cancelled|skipped|todo) (\d+)$/gm)) counts[match[1]] = Number(match[2]);
  return counts;
}

function runPhase({ files: phaseFiles, concurrency }, index) {
  const report = path.join(reports, `phase-${index + 1}.tap`);
  const screen = process.stdout.isTTY ? 'spec' : 'tap';
  const reporters = [`--test-reporter=${screen}`, '--test-reporter-destination=stdout', '--test-reporter=tap', `--test-reporter-destination=${report}`];
  current = spawn(process.execPath, ['--test', ...reporters, `--test-concurrency=${concurrency}`, '--test-timeout=900000', ...phaseFiles], {
    stdio: 'inherit',
    env: process.env,
  });
  return new Promise((resolve) => current.once('exit', (exitCode) => resolve({ code: exitCode ?? 1, counts: phaseCounts(report) })));
}

let code = 0;
const started = Date.now();
const results = [];
try {
  await startServers();
  for (const [index, phase] of phases.entries()) {
    const result = await runPhase(phase, index);
    results.push(result);
    if (result.code !== 0) code = result.code;
  }
} catch (error) {
  console.error(error);
  code = 1;
} finally {
  await stopServers();
  rmSync(reports, { recursive: true, force: true });
}
if (results.length > 0) {
  const total = Object.fromEntries(COUNTS.map((name) => [name, results.reduce((sum, r) => sum + (r.counts[name] ?? 0), 0)]));
  const perPhase = results.map((r, i) => `${phases[i].name} ${r.counts.tests ?? '?'}`).join(', ');
  const minutes = ((Date.now() - started) / 60_000).toFixed(1);
  console.log(`\n# whole suite: ${total.tests} tests (${perPhase}), ${total.pass} passed, ${total.fail} failed, ${total.cancelled} cancelled, ${total.skipped} skipped, ${total.todo} todo, in ${minutes} min`);
}
process.exitCode = code;
