/**
 * bench/images: the size of each image the root Dockerfile builds, and where the webapp's bytes
 * go (base image, node_modules, the model layer), with the time each target takes to build.
 *
 * Builds every target with the legacy builder (as Debian's docker-compose v1 does) on the local
 * Node base image (scripts/make-base-image.sh), layer cache as found; `--no-cache` for cold builds.
 *
 * Usage: npm run bench:images [-- --no-cache]   (needs a Docker engine; root for the base image)
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TARGETS = ['webapp', 'training', 'appbuilder', 'secrets'] as const;
const MB = 1_000_000;

async function sh(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const { stdout } = await run(command, args, { cwd: REPO_ROOT, env, maxBuffer: 256 * 1024 * 1024 });
  return stdout.trim();
}

async function imageSize(tag: string): Promise<number> {
  return Number(await sh('docker', ['image', 'inspect', '-f', '{{.Size}}', tag]));
}

/** Bytes under `dir` inside `image`, by du (busybox or coreutils, both take -sk). */
async function duInside(image: string, dir: string): Promise<number> {
  const out = await sh('docker', ['run', '--rm', '--entrypoint', 'du', image, '-sk', dir]);
  return Number(out.split(/\s+/)[0]) * 1024;
}

async function main(): Promise<void> {
  const noCache = process.argv.includes('--no-cache');
  console.log(`# bench/images — ${new Date().toISOString()}${noCache ? ' (--no-cache)' : ''}`);
  const base = await sh('bash', ['scripts/make-base-image.sh']);
  const baseSize = await imageSize(base);
  console.log(`base ${base}: ${(baseSize / MB).toFixed(0)} MB`);
  const env = { ...process.env, DOCKER_BUILDKIT: '0' };
  const rows: { target: string; size: number; seconds: number }[] = [];
  for (const target of TARGETS) {
    const tag = `mlpl-bench/${target}:latest`;
    const started = performance.now();
    await sh('docker', ['build', '-q', ...(noCache ? ['--no-cache'] : []), '--target', target, '--build-arg', `NODE_IMAGE=${base}`, '-t', tag, '.'], env);
    const seconds = (performance.now() - started) / 1000;
    const size = await imageSize(tag);
    rows.push({ target, size, seconds });
    console.log(`${target.padEnd(10)} ${(size / MB).toFixed(0).padStart(4)} MB  (${((size - baseSize) / MB).toFixed(0)} MB over the base)  built in ${seconds.toFixed(1)} s`);
  }
  const webapp = 'mlpl-bench/webapp:latest';
  const modules = await duInside(webapp, '/app/node_modules');
  const tensorflow = await duInside(webapp, '/app/node_modules/@tensorflow');
  const model = await duInside(webapp, '/app/model');
  console.log(`webapp: node_modules ${(modules / MB).toFixed(0)} MB, of which @tensorflow ${(tensorflow / MB).toFixed(0)} MB; model ${(model / 1024).toFixed(0)} KiB`);
  const budget = 300 * MB;
  const size = rows.find((row) => row.target === 'webapp')?.size ?? 0;
  console.log(`webapp ${(size / MB).toFixed(0)} MB of a ${(budget / MB).toFixed(0)} MB budget (×${(size / budget).toFixed(2)})`);
}

await main();
