import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { RowDataPacket } from 'mysql2/promise';
import { createStorage, objectExists } from '@mlpl/shared';
import { freePort } from '@mlpl/shared/testing';
import { appbuilderRecords } from './loop-support.js';
import { REPO_ROOT, waitUntil } from './service-process.js';
import { startStack } from './stack.js';
import type { Stack, StackOptions } from './stack.js';

const run = promisify(execFile);

/** The Debian-nginx stand-in for nginx:1.30.4-alpine (scripts/compose-test/proxy): no registry can be reached here. */
export const TEST_PROXY_IMAGE = 'mlpl-test/proxy:latest';

/**
 * Builds the proxy stand-in when the engine lacks it (a fresh machine): idempotent and cached
 * by scripts/compose-test/build-standins.sh. STACK_PROXY_IMAGE names another image instead.
 */
export async function testProxyImage(): Promise<string> {
  if (process.env.STACK_PROXY_IMAGE !== undefined) return process.env.STACK_PROXY_IMAGE;
  const present = await run('docker', ['image', 'inspect', TEST_PROXY_IMAGE]).then(() => true, () => false);
  if (!present) await run('bash', [path.join(REPO_ROOT, 'scripts/compose-test/build-standins.sh'), 'proxy'], { timeout: 600_000, maxBuffer: 64 * 1024 * 1024 });
  return TEST_PROXY_IMAGE;
}

/** A stack on free ports in a folder of its own, removed by `cleanup`. */
export async function startTestStack(options: Pick<StackOptions, 'deploy' | 'docker' | 'env' | 'trainingInterval' | 'threshold'>): Promise<{ stack: Stack; cleanup(): Promise<void> }> {
  const stateDir = await mkdtemp(path.join(os.tmpdir(), 'mlpl-stack-'));
  const ports = {
    webapp: await freePort(),
    training: await freePort(),
    appbuilder: await freePort(),
    database: await freePort(),
    storage: await freePort(),
    webappContainers: [await freePort(), await freePort()] as const,
  };
  const stack = await startStack({
    stateDir,
    ports,
    trainingInterval: '3s',
    ...(options.deploy === 'docker' ? { proxyImage: await testProxyImage() } : {}),
    ...options,
    // 'warn' keeps the logs small; they are in stateDir/logs for a failing run.
    env: { LOG_LEVEL: 'info', ...options.env },
    // The tests' load (startLoad, the soak's 20,000 predictions) comes from one address, far
    // above a person's rate: no per-client limit.
    webappEnv: { RATE_LIMIT_PREDICT_PER_MINUTE: '0', RATE_LIMIT_FEEDBACK_PER_MINUTE: '0' },
  });
  return {
    stack,
    async cleanup() {
      await stack.stop();
      if (process.env.KEEP_STACK === undefined) await rm(stateDir, { recursive: true, force: true });
      else console.log(`# stack state kept in ${stateDir}`);
    },
  };
}

export type FeedbackRow = { id: number; sha256: string; objectKey: string; label: number };

/** The feedback rows the database holds, read directly (not through the services under test). */
export async function feedbackRows(stack: Stack): Promise<FeedbackRow[]> {
  const connection = await stack.database.connection();
  try {
    const [rows] = await connection.query<RowDataPacket[]>("SELECT id, sha256, object_key, label FROM images WHERE source = 'feedback' ORDER BY id");
    return rows.map((row) => ({ id: Number(row.id), sha256: String(row.sha256), objectKey: String(row.object_key), label: Number(row.label) }));
  } finally {
    await connection.end();
  }
}

/** Whether each row's object is in the images bucket. */
export async function objectsPresent(stack: Stack, rows: FeedbackRow[]): Promise<boolean[]> {
  const storage = createStorage(stack.settings.storage);
  return Promise.all(rows.map((row) => objectExists(storage, storage.settings.imagesBucket, row.objectKey)));
}

/**
 * Kills the appbuilder (SIGKILL) the moment its records show a build or deployment under way.
 * Polls every 20 ms for `timeoutMs`; returns what it interrupted, or undefined if none was seen.
 */
export async function killAppbuilderMidway(stack: Stack, timeoutMs: number): Promise<string | undefined> {
  let caught: string | undefined;
  await waitUntil('a build or deployment to start', timeoutMs, async () => {
    const { builds, deployments } = await appbuilderRecords(stack);
    const building = builds.find((build) => build.status === 'building');
    const deploying = deployments.find((deployment) => deployment.status === 'deploying');
    if (building === undefined && deploying === undefined) return false;
    await stack.appbuilder.kill();
    caught = building !== undefined ? `build of ${building.modelVersion}` : `deployment of ${deploying?.modelVersion ?? '?'}`;
    return true;
  }, undefined, 20).catch(() => undefined);
  return caught;
}

/** Removes the test's webapp containers (with any candidate or parked one, and the proxy `<container>-proxy`) and its images. */
export async function removeDockerLeftovers(repo: string, container: string): Promise<void> {
  const docker = async (...args: string[]) => (await run('docker', args, { timeout: 60_000 }).catch(() => ({ stdout: '' }))).stdout;
  const names = (await docker('ps', '-a', '--format', '{{.Names}}')).split('\n').filter((name) => name === container || name.startsWith(`${container}-`));
  if (names.length > 0) await docker('rm', '-f', ...names);
  const images = (await docker('images', repo, '--format', '{{.Repository}}:{{.Tag}}')).split('\n').filter((line) => line !== '');
  if (images.length > 0) await docker('rmi', '-f', ...images);
}
