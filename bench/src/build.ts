/**
 * bench/build: the time to build and deploy one model version, and what each version adds to
 * the webapp base image (the model layer alone).
 *
 * Builds the webapp image with the project's Dockerfile on the local Node base image (cached
 * after the first run), starts it as a container against a throwaway MariaDB and s3rver, then
 * releases three versions through the appbuilder's pipeline (validate is not timed: it is the
 * same work the HTTP handler does before the pipeline). Timings compare within one run only.
 *
 * With `--seed-baseline` it also times what seed 000 did per model: the whole webapp image
 * rebuilt with --no-cache (every package reinstalled), for the ratio.
 *
 * Usage: npm run bench:build [-- --seed-baseline]   (needs a Docker engine; root for the base image)
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import { bundleHashes, createLogger, initTf, readBundleDir, recordBundleHashes } from '@mlpl/shared';
import { createTestDatabase, createTestStorage, startMariaDb, startS3rver } from '@mlpl/shared/testing';
import { buildWebappImage, imageTags, NODE_BASE_IMAGE, REPO_ROOT, startWebappContainer } from '@mlpl/appbuilder/docker-fixtures';
import { createDocker, inspectImage, removeContainer, removeImage, tagImage } from '@mlpl/appbuilder/docker';
import { dockerTarget } from '@mlpl/appbuilder/docker-target';
import { createPipeline } from '@mlpl/appbuilder/pipeline';
import { readProbeImage } from '@mlpl/appbuilder/probe-image';
import { validateBundle } from '@mlpl/appbuilder/validate';

const RELEASES = 3;
const run = promisify(execFile);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

async function main(): Promise<void> {
  await initTf('wasm');
  console.log(`# bench/build — ${new Date().toISOString()}`);
  const started = performance.now();
  const baseTag = await buildWebappImage();
  console.log(`webapp image (project Dockerfile, layer cache as found): ${((performance.now() - started) / 1000).toFixed(1)} s`);

  const docker = createDocker('/var/run/docker.sock');
  const suffix = randomBytes(3).toString('hex');
  const repo = `mlpl-bench-${suffix}/mywebapp`;
  const name = `mlpl-bench-webapp-${suffix}`;
  const [mariadb, s3] = await Promise.all([startMariaDb(), startS3rver()]);
  const [db, storage] = await Promise.all([createTestDatabase(mariadb), createTestStorage(s3)]);
  try {
    await tagImage(docker, baseTag, repo, 'latest');
    const base = await inspectImage(docker, baseTag);
    await startWebappContainer(docker, { image: `${repo}:latest`, name, label: { 'mlpl.bench': suffix }, database: db.settings, storage: storage.settings });
    const pipeline = createPipeline({
      pool: db.pool,
      logger: createLogger({ name: 'bench', level: 'silent' }),
      target: dockerTarget({
        repo,
        push: false,
        deploy: {
          docker,
          containerName: name,
          webappPort: 5050,
          reach: 'host',
          healthTimeoutMs: 90_000,
          probeImage: await readProbeImage(),
          logger: createLogger({ name: 'bench', level: 'silent' }),
        },
      }),
    });
    const files = await readBundleDir(path.join(REPO_ROOT, 'pretrained'));
    const rows: { build: number; deploy: number; gap: number; added: number; total: number }[] = [];
    for (let i = 1; i <= RELEASES; i++) {
      const version = `bench-${suffix}-${i}`;
      const metadata = { ...JSON.parse(files.metadataJson.toString()), version };
      const bundle = { ...files, metadataJson: Buffer.from(JSON.stringify(metadata)) };
      // As training records a promoted bundle: the pipeline builds nothing else.
      await recordBundleHashes(db.pool, version, bundleHashes(bundle), null);
      const validateStart = performance.now();
      await validateBundle(bundle);
      const validateMs = performance.now() - validateStart;
      const release = await pipeline.release(bundle, version);
      const row = {
        build: release.build.ms,
        deploy: release.deployment.ms,
        gap: release.deployment.gapMs,
        added: release.build.addedBytes,
        total: validateMs + release.build.ms + release.deployment.ms,
      };
      rows.push(row);
      console.log(
        `release ${i}: validate ${validateMs.toFixed(0)} ms, build ${row.build.toFixed(0)} ms, deploy ${row.deploy.toFixed(0)} ms ` +
          `(gap in service ${row.gap.toFixed(0)} ms), total ${(row.total / 1000).toFixed(1)} s, adds ${(row.added / 1024).toFixed(0)} KiB`,
      );
    }
    const image = await inspectImage(docker, `${repo}:latest`);
    console.log(
      `median: build ${median(rows.map((r) => r.build)).toFixed(0)} ms, deploy ${median(rows.map((r) => r.deploy)).toFixed(0)} ms, ` +
        `gap ${median(rows.map((r) => r.gap)).toFixed(0)} ms, total ${(median(rows.map((r) => r.total)) / 1000).toFixed(1)} s`,
    );
    if (process.argv.includes('--seed-baseline')) {
      const rebuildStart = performance.now();
      await run('docker', ['build', '-q', '--no-cache', '-f', 'Dockerfile', '--target', 'webapp', '--build-arg', `NODE_IMAGE=${NODE_BASE_IMAGE}`, '-t', `mlpl-bench-${suffix}/nocache:1`, '.'], {
        cwd: REPO_ROOT,
        env: { ...process.env, DOCKER_BUILDKIT: '0' },
        maxBuffer: 64 * 1024 * 1024,
      });
      const rebuildMs = performance.now() - rebuildStart;
      await removeImage(docker, `mlpl-bench-${suffix}/nocache:1`).catch(() => undefined);
      console.log(
        `seed 000's way, whole image with --no-cache: ${(rebuildMs / 1000).toFixed(1)} s = ×${(rebuildMs / median(rows.map((r) => r.build))).toFixed(0)} the model-layer build`,
      );
    }
    console.log(
      `sizes: base image ${((base?.Size ?? 0) / 1e6).toFixed(0)} MB, a model image ${((image?.Size ?? 0) / 1e6).toFixed(0)} MB, ` +
        `added per version ${(median(rows.map((r) => r.added)) / 1024).toFixed(0)} KiB (${((100 * median(rows.map((r) => r.added))) / (base?.Size ?? 1)).toFixed(2)} % of the base)`,
    );
  } finally {
    const containers = await docker.listContainers({ all: true, filters: { label: [`mlpl.bench=${suffix}`] } });
    for (const container of containers) await removeContainer(docker, container.Id);
    for (const tag of await imageTags(repo)) await removeImage(docker, tag).catch(() => undefined);
    await db.drop();
    await Promise.all([mariadb.stop(), s3.stop()]);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
