/**
 * bench/loop: from the correction that reaches the threshold to the new version answering
 * `/api/predict`, on the whole stack of `npm run stack` (MariaDB, s3rver, the three services as
 * processes) with the default settings: TRAINING_INTERVAL 10s, TRAINING_THRESHOLD 10. Each
 * round sends ten corrections of real MNIST digits the model in service gets wrong, and splits
 * the time into stages from the run, build and deployment records:
 *   wait    until the training cycle starts (the scheduler's interval)
 *   load    the cycle reading the data        train     fine-tuning
 *   evaluate candidate and incumbent, gate    hand-over storing the bundle, posting it, the
 *                                                       appbuilder validating it
 *   build   the image (Docker) or model folder (process)
 *   deploy  from the build's end until a prediction carries the new version: the candidate
 *           container and the swap (Docker), or the model swap (process)
 * Timings compare within one run only.
 *
 * Usage: npm run bench:loop [-- --deploy process|docker] [--rounds N]
 */
import { parseArgs } from 'node:util';
import type { RowDataPacket } from 'mysql2/promise';
import { appbuilderRecords, correct, findMisclassified, servedVersion, waitForBaseData } from '../../scripts/dist/loop-support.js';
import { removeDockerLeftovers, startTestStack } from '../../scripts/dist/loop-fixtures.js';
import type { Stack } from '../../scripts/dist/stack.js';

type Stages = { wait: number; load: number; train: number; evaluate: number; handOver: number; build: number; deploy: number; total: number; deployRecorded: number };

async function runRecord(stack: Stack, version: string): Promise<{ startedAt: Date; timings: { load: number; train: number; evaluate: number } }> {
  const connection = await stack.database.connection();
  try {
    const [rows] = await connection.query<RowDataPacket[]>('SELECT started_at, data_counts FROM training_runs WHERE model_version = ?', [version]);
    const row = rows[0];
    if (row === undefined) throw new Error(`no run made ${version}`);
    const counts = JSON.parse(String(row.data_counts)) as { timingsMs: { load: number; train: number; evaluate: number } };
    return { startedAt: row.started_at as Date, timings: counts.timingsMs };
  } finally {
    await connection.end();
  }
}

async function round(stack: Stack, digits: Awaited<ReturnType<typeof findMisclassified>>): Promise<Stages & { version: string }> {
  const before = await servedVersion(stack.urls.webapp);
  for (const digit of digits.slice(0, -1)) await correct(stack.urls.webapp, digit);
  const last = digits[digits.length - 1];
  if (last === undefined) throw new Error('no digits');
  const answer = await correct(stack.urls.webapp, last);
  if (answer.status !== 201) throw new Error(`the threshold-reaching correction answered ${answer.status}`);
  const t0 = Date.now();
  let version = before;
  const deadline = t0 + 300_000;
  while (version === before) {
    if (Date.now() > deadline) throw new Error('no new version within 300 s (rejected by the gate?)');
    await new Promise((resolve) => setTimeout(resolve, 50));
    // Refused while the Docker target swaps containers: still the old version, as far as a client knows.
    version = await servedVersion(stack.urls.webapp).catch(() => before);
  }
  const t1 = Date.now();
  // The new version answers a moment before its deployment is recorded (the gate runs first).
  let build: { startedAt: string; durationMs: number } | undefined;
  let deployment: { startedAt: string; durationMs: number } | undefined;
  while (build === undefined || deployment === undefined) {
    if (Date.now() > deadline) throw new Error(`no build or deployment recorded for ${version}`);
    const records = await appbuilderRecords(stack);
    build = records.builds.find((b) => b.modelVersion === version && b.status === 'built') as typeof build;
    deployment = records.deployments.find((d) => d.modelVersion === version && d.status === 'deployed') as typeof deployment;
    if (build === undefined || deployment === undefined) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const run = await runRecord(stack, version);
  const wait = run.startedAt.getTime() - t0;
  const trained = run.startedAt.getTime() + run.timings.load + run.timings.train + run.timings.evaluate;
  const buildEnd = new Date(build.startedAt).getTime() + build.durationMs;
  return {
    version,
    wait,
    load: run.timings.load,
    train: run.timings.train,
    evaluate: run.timings.evaluate,
    handOver: new Date(build.startedAt).getTime() - trained,
    build: build.durationMs,
    deploy: t1 - buildEnd,
    total: t1 - t0,
    deployRecorded: deployment.durationMs,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { deploy: { type: 'string', default: 'process' }, rounds: { type: 'string', default: '3' } } });
  const deploy = values.deploy === 'docker' ? 'docker' : 'process';
  const rounds = Number(values.rounds);
  const docker = { repo: `mlpl-bench-loop/mywebapp`, container: 'mlpl-bench-loop-webapp' };
  if (deploy === 'docker') await removeDockerLeftovers(docker.repo, docker.container);
  console.log(`bench/loop: deploy target ${deploy}, TRAINING_INTERVAL 10s, TRAINING_THRESHOLD 10, ${rounds} rounds`);
  const { stack, cleanup } = await startTestStack({ deploy, trainingInterval: '10s', ...(deploy === 'docker' ? { docker } : {}), env: { LOG_LEVEL: 'warn' } });
  try {
    await waitForBaseData(stack);
    const wrong = await findMisclassified(stack.urls.webapp, 10 * rounds);
    const results: (Stages & { version: string })[] = [];
    for (let i = 0; i < rounds; i++) {
      const result = await round(stack, wrong.slice(i * 10, i * 10 + 10));
      results.push(result);
      console.log(`round ${i + 1}: ${result.version} answering ${(result.total / 1000).toFixed(1)} s after the 10th correction`);
    }
    const stages = ['wait', 'load', 'train', 'evaluate', 'handOver', 'build', 'deploy'] as const;
    console.log(`\n| stage | ${results.map((_, i) => `round ${i + 1} (ms)`).join(' | ')} | share of total |`);
    console.log(`|---|${results.map(() => '---:').join('|')}|---:|`);
    const total = results.reduce((sum, r) => sum + r.total, 0);
    for (const stage of stages) {
      const sum = results.reduce((acc, r) => acc + r[stage], 0);
      console.log(`| ${stage} | ${results.map((r) => r[stage]).join(' | ')} | ${((sum / total) * 100).toFixed(1)} % |`);
    }
    console.log(`| **total** | ${results.map((r) => r.total).join(' | ')} | 100 % |`);
    console.log(`\n(the deployment record, gate included, took ${results.map((r) => r.deployRecorded).join(', ')} ms; the new version answers before its gate finishes)`);
    const totals = results.map((r) => r.total / 1000);
    console.log(`\nthreshold-reaching correction → new version answering: ${Math.min(...totals).toFixed(1)}–${Math.max(...totals).toFixed(1)} s (aim: under 60 s)`);
  } finally {
    await cleanup();
    if (deploy === 'docker') await removeDockerLeftovers(docker.repo, docker.container);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
