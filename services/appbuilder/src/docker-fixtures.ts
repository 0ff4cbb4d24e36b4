import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** The local Node 20 image `scripts/make-base-image.sh` makes: no registry can be reached here. */
export const NODE_BASE_IMAGE = 'mlpl/node:20';

/** The webapp image the tests build from the project's own Dockerfile. */
export const TEST_WEBAPP_IMAGE = 'mlpl-test/webapp:base';

/**
 * The tests need a Docker engine; `.ci/run` installs Debian's docker.io and starts dockerd.
 * Its absence is a failure that says how to fix it, never a silent skip.
 */
export async function requireDocker(): Promise<void> {
  try {
    await run('docker', ['info', '--format', '{{.ServerVersion}}'], { timeout: 20_000 });
  } catch (error) {
    throw new Error(
      `no Docker engine answers (${(error as Error).message.split('\n')[0]}): install Debian's docker.io and start dockerd ` +
        '(.ci/run does both: apt-get install docker.io; dockerd > /tmp/dockerd.log 2>&1 &)',
    );
  }
}

/**
 * The webapp image, built by the project's own Dockerfile on the local Node base image, exactly
 * as the README tells a user without registry access to do. Docker's layer cache makes a
 * second call cheap. Returns the tag.
 */
export async function buildWebappImage(): Promise<string> {
  await requireDocker();
  await run('bash', [path.join(REPO_ROOT, 'scripts/make-base-image.sh'), NODE_BASE_IMAGE], { cwd: REPO_ROOT, timeout: 300_000, maxBuffer: 64 * 1024 * 1024 });
  await run(
    'docker',
    ['build', '-q', '-f', 'services/webapp/Dockerfile', '--build-arg', `NODE_IMAGE=${NODE_BASE_IMAGE}`, '-t', TEST_WEBAPP_IMAGE, '.'],
    { cwd: REPO_ROOT, timeout: 900_000, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, DOCKER_BUILDKIT: '0' } },
  );
  return TEST_WEBAPP_IMAGE;
}

/** Names of images in `repo` (any tag), for checking that a refused upload built nothing. */
export async function imageTags(repo: string): Promise<string[]> {
  const { stdout } = await run('docker', ['images', repo, '--format', '{{.Repository}}:{{.Tag}}']);
  return stdout.split('\n').filter((line) => line !== '').sort();
}
