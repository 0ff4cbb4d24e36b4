import {
  bundleMismatch,
  checkVersionName,
  errorMessage,
  findBuild,
  findBundleHashes,
  finishBuild,
  finishDeployment,
  HttpError,
  servingVersion,
  startBuild,
  startDeployment,
} from '@mlpl/shared';
import type { DeploymentKind, Logger, ModelBundleFiles, Pool } from '@mlpl/shared';
import type { BuiltImage } from './images.js';
import type { DeployResult } from './deploy.js';
import type { ReleaseTarget } from './release-target.js';

export type PipelineDeps = {
  pool: Pool;
  logger: Pick<Logger, 'info' | 'warn' | 'error'>;
  target: ReleaseTarget;
};

/** Why a request could not be carried out, with the HTTP status the caller sees. */
export class PipelineError extends HttpError {
  override readonly name = 'PipelineError';
}

export type Release = {
  version: string;
  build: BuiltImage & { id: number; ms: number };
  deployment: DeployResult & { id: number; ms: number };
};

export type Rollout = { version: string; image: string; deployment: DeployResult & { id: number; ms: number } };

export type Pipeline = {
  /**
   * Builds the validated bundle into `<repo>:<version>` and deploys it, once its files are the
   * ones training recorded for the version (see verifyBundle). One at a time: a second call
   * meanwhile is a 409.
   */
  /**
   * `judgedAgainst`: the version training judged the candidate against (null: none deployed yet).
   * Given, the release is refused (409) unless that version is still the one deployed, checked
   * under the one-at-a-time lock: a rollback that landed while training worked is not undone.
   */
  release(files: ModelBundleFiles, version: string, judgedAgainst?: string | null): Promise<Release>;
  /**
   * Deploys the image an earlier build made for `version`, and only one named as a build of that
   * version is (`<repo>:<version>`, its folder). 'restore': the appbuilder putting the last
   * deployed version back.
   */
  rollback(version: string, kind?: 'rollback' | 'restore'): Promise<Rollout>;
  /** Records the image compose built as a build of its own version, once (see adoptBaseImage). */
  adoptBase(): Promise<string | undefined>;
  readonly busy: boolean;
};

/** A version name, checked as everywhere a version enters (see checkVersionName). */
function assertVersionName(version: string): void {
  const problem = checkVersionName(version);
  if (problem !== null) throw new PipelineError(400, 'invalid_version', problem);
}

export function createPipeline(deps: PipelineDeps): Pipeline {
  const { pool, logger } = deps;
  let busy = false;

  /**
   * Only a bundle training promoted is built: each file must have the SHA-256 training recorded
   * for the version before it stored and POSTed it. A bundle of a version with no record (made
   * elsewhere, or by a training run from before hashes were recorded, whose versions are built
   * already) or with another file is refused (422) and its build recorded as failed with why.
   */
  async function verifyBundle(files: ModelBundleFiles, version: string, buildId: number, started: number): Promise<void> {
    const recorded = await findBundleHashes(pool, version);
    const mismatch = bundleMismatch(version, recorded, files);
    if (mismatch === null) return;
    await finishBuild(pool, buildId, { status: 'failed', error: `refused: ${mismatch}`, durationMs: performance.now() - started });
    logger.error({ version, mismatch }, 'bundle refused: not the one training recorded; nothing built');
    throw new PipelineError(422, recorded === undefined ? 'bundle_unrecorded' : 'bundle_mismatch', `the bundle of ${version} is refused and not built: ${mismatch}`);
  }

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

  async function deploy(kind: DeploymentKind, version: string, image: string): Promise<DeployResult & { id: number; ms: number }> {
    const started = performance.now();
    const id = await startDeployment(pool, { kind, modelVersion: version, image, previousVersion: await deps.target.latestVersion() });
    let result: DeployResult;
    try {
      result = await deps.target.deploy(image, version);
    } catch (error) {
      await finishDeployment(pool, id, { status: 'failed', error: errorMessage(error), durationMs: performance.now() - started });
      logger.error({ err: error, version, kind }, 'deployment failed; the old container keeps serving');
      throw new PipelineError(502, 'deploy_failed', `deployment of ${version} failed, the previous version keeps serving: ${errorMessage(error)}`);
    }
    const ms = performance.now() - started;
    await finishDeployment(pool, id, { status: 'deployed', containerId: result.containerId, durationMs: ms });
    logger.info({ version, kind, gapMs: Math.round(result.gapMs), ms: Math.round(ms) }, 'deployed');
    // Only a serving version becomes `latest`, so a later `docker compose up` (or restart of
    // the stack) starts it. The version serves whatever happens here; a failure is a warning,
    // and the next start of the appbuilder puts `latest` right (see `reconcile`).
    await deps.target.markLatest(image, version).catch((error: unknown) =>
      logger.warn({ err: error, version }, 'could not mark the serving version as latest'),
    );
    // Old versions beyond the retention, once `latest` names the new one; best effort too.
    await deps.target.prune?.(result.previousVersion).then(
      (removed) => removed.length > 0 && logger.info({ removed }, 'removed old versions beyond the retention'),
      (error: unknown) => logger.warn({ err: error }, 'could not remove old versions'),
    );
    return { ...result, id, ms };
  }

  return {
    get busy() {
      return busy;
    },
    adoptBase() {
      return deps.target.adoptBase(
        async (build) => {
          const id = await startBuild(pool, build.version);
          await finishBuild(pool, id, { status: 'built', image: build.image, imageId: build.imageId, digest: build.imageId, baseImage: build.imageId, addedBytes: 0, durationMs: 0 });
        },
        async (version) => (await findBuild(pool, version)) !== undefined,
      );
    },
    release(files, version, judgedAgainst) {
      return exclusive(async () => {
        assertVersionName(version);
        if (judgedAgainst !== undefined) {
          const serving = await servingVersion(pool);
          if (serving !== judgedAgainst) {
            throw new PipelineError(
              409,
              'serving_changed',
              `${version} was judged against ${judgedAgainst ?? 'the first model'}, but ${serving ?? 'the first model'} is in service now (a rollback?); train again from it`,
            );
          }
        }
        if ((await findBuild(pool, version)) !== undefined) {
          throw new PipelineError(409, 'version_exists', `version ${version} is built already; redeploy it with POST /deployments`);
        }
        const started = performance.now();
        const buildId = await startBuild(pool, version);
        await verifyBundle(files, version, buildId, started);
        let built: BuiltImage;
        try {
          built = await deps.target.build(files, version);
        } catch (error) {
          await finishBuild(pool, buildId, { status: 'failed', error: errorMessage(error), durationMs: performance.now() - started });
          logger.error({ err: error, version }, 'build failed');
          throw new PipelineError(500, 'build_failed', `build of ${version} failed: ${errorMessage(error)}`);
        }
        const buildMs = performance.now() - started;
        await finishBuild(pool, buildId, { status: 'built', ...built, durationMs: buildMs });
        logger.info({ version, image: built.image, addedBytes: built.addedBytes, ms: Math.round(buildMs) }, 'built');
        const deployment = await deploy('deploy', version, built.image);
        return { version, build: { ...built, id: buildId, ms: buildMs }, deployment };
      });
    },
    rollback(version, kind = 'rollback') {
      return exclusive(async () => {
        assertVersionName(version);
        const build = await findBuild(pool, version);
        if (build?.image === undefined || build.image === null) throw new PipelineError(404, 'unknown_version', `no successful build of version ${version}`);
        // A build record names its image; only the one a build of this version makes is trusted,
        // so a record pointing elsewhere (another repository, another version's tag) deploys nothing.
        const expected = deps.target.imageOf(version);
        if (build.image !== expected) {
          throw new PipelineError(409, 'unexpected_image', `the build of version ${version} records the image ${build.image}, not ${expected}; only ${expected} is deployed for it`);
        }
        if (!(await deps.target.exists(build.image))) {
          throw new PipelineError(410, 'image_gone', `${build.image}, the build of version ${version}, no longer exists`);
        }
        const deployment = await deploy(kind, version, build.image);
        return { version, image: build.image, deployment };
      });
    },
  };
}
