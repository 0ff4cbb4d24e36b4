import { findBuild, finishBuild, finishDeployment, startBuild, startDeployment } from '@mlpl/shared';
import type { Logger, ModelBundleFiles, Pool } from '@mlpl/shared';
import { inspectImage } from './docker.js';
import { buildModelImage, resolveBaseImage, tagLatest } from './images.js';
import type { BuiltImage } from './images.js';
import { deployImage } from './deploy.js';
import type { DeployResult, DeployTarget } from './deploy.js';

export type PipelineDeps = {
  pool: Pool;
  logger: Pick<Logger, 'info' | 'warn' | 'error'>;
  target: DeployTarget;
  /** `<registry>/<repository>` or `<repository>`. */
  repo: string;
  /** Explicit base image; default resolved from `<repo>:latest`. */
  baseImage?: string;
  push: boolean;
};

/** Why a request could not be carried out, with the HTTP status the caller sees. */
export class PipelineError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'PipelineError';
  }
}

export type Release = {
  version: string;
  build: BuiltImage & { id: number; ms: number };
  deployment: DeployResult & { id: number; ms: number };
};

export type Rollout = { version: string; image: string; deployment: DeployResult & { id: number; ms: number } };

export type Pipeline = {
  /** Builds the validated bundle into `<repo>:<version>` and deploys it. One at a time: a second call meanwhile is a 409. */
  release(files: ModelBundleFiles, version: string): Promise<Release>;
  /** Deploys the image an earlier build made for `version`. */
  rollback(version: string): Promise<Rollout>;
  readonly busy: boolean;
};

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function createPipeline(deps: PipelineDeps): Pipeline {
  const { pool, logger } = deps;
  let busy = false;

  /** Runs `work` alone; a request arriving meanwhile is refused rather than queued behind a build. */
  async function exclusive<T>(work: () => Promise<T>): Promise<T> {
    if (busy) throw new PipelineError(409, 'busy', 'a build or deployment is in progress; try again when it is done');
    busy = true;
    try {
      return await work();
    } finally {
      busy = false;
    }
  }

  async function deploy(kind: 'deploy' | 'rollback', version: string, image: string): Promise<DeployResult & { id: number; ms: number }> {
    const started = performance.now();
    const current = await inspectImage(deps.target.docker, `${deps.repo}:latest`);
    const id = await startDeployment(pool, { kind, modelVersion: version, image, previousVersion: current?.Config.Labels?.['mlpl.model-version'] ?? null });
    try {
      const result = await deployImage(deps.target, image, version);
      // Only a serving version becomes `latest`: a later `docker compose up` starts it, not an older one.
      await tagLatest(deps.target.docker, image, deps.repo, deps.push);
      const ms = performance.now() - started;
      await finishDeployment(pool, id, { status: 'deployed', containerId: result.containerId, durationMs: ms });
      logger.info({ version, kind, gapMs: Math.round(result.gapMs), ms: Math.round(ms) }, 'deployed');
      return { ...result, id, ms };
    } catch (error) {
      await finishDeployment(pool, id, { status: 'failed', error: message(error), durationMs: performance.now() - started });
      logger.error({ err: error, version, kind }, 'deployment failed; the old container keeps serving');
      throw new PipelineError(502, 'deploy_failed', `deployment of ${version} failed, the previous version keeps serving: ${message(error)}`);
    }
  }

  return {
    get busy() {
      return busy;
    },
    release(files, version) {
      return exclusive(async () => {
        if (await inspectImage(deps.target.docker, `${deps.repo}:${version}`)) {
          throw new PipelineError(409, 'version_exists', `an image for version ${version} exists already; redeploy it with POST /deployments`);
        }
        const started = performance.now();
        const buildId = await startBuild(pool, version);
        let built: BuiltImage;
        try {
          const baseImage = await resolveBaseImage(deps.target.docker, deps.repo, deps.baseImage);
          built = await buildModelImage(deps.target.docker, { files, version, repo: deps.repo, baseImage, push: deps.push });
        } catch (error) {
          await finishBuild(pool, buildId, { status: 'failed', error: message(error), durationMs: performance.now() - started });
          logger.error({ err: error, version }, 'build failed');
          throw new PipelineError(500, 'build_failed', `build of ${version} failed: ${message(error)}`);
        }
        const buildMs = performance.now() - started;
        await finishBuild(pool, buildId, { status: 'built', ...built, durationMs: buildMs });
        logger.info({ version, image: built.image, addedBytes: built.addedBytes, ms: Math.round(buildMs) }, 'built');
        const deployment = await deploy('deploy', version, built.image);
        return { version, build: { ...built, id: buildId, ms: buildMs }, deployment };
      });
    },
    rollback(version) {
      return exclusive(async () => {
        const build = await findBuild(pool, version);
        if (build?.image === undefined || build.image === null) throw new PipelineError(404, 'unknown_version', `no successful build of version ${version}`);
        if ((await inspectImage(deps.target.docker, build.image)) === undefined) {
          throw new PipelineError(410, 'image_gone', `the image ${build.image} of version ${version} is no longer on this Docker engine`);
        }
        const deployment = await deploy('rollback', version, build.image);
        return { version, image: build.image, deployment };
      });
    },
  };
}
