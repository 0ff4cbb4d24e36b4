import { inspectContainer, inspectImage, pingDocker, removeImage } from './docker.js';
import { deployImage, recoverInterruptedDeploy } from './deploy.js';
import type { DeployTarget } from './deploy.js';
import { adoptBaseImage, buildModelImage, LABELS, pruneVersionImages, resolveBaseImage, tagLatest } from './images.js';
import type { ReleaseTarget } from './release-target.js';
import { deploySideBySide, recoverSideBySide, servingContainers } from './side-by-side.js';

export type DockerTargetOptions = {
  deploy: DeployTarget;
  /** `<registry>/<repository>` or `<repository>`. */
  repo: string;
  /** Explicit base image; default resolved from `<repo>:latest`. */
  baseImage?: string;
  push: boolean;
  /** Versions' images kept for rollback after a deployment (besides the serving one and `latest`); undefined: all. */
  imageRetention?: number;
};

/**
 * Versions as webapp images, deployed side by side behind the proxy (compose; the stack where
 * Docker runs) or by replacing the webapp container in place (no proxy).
 */
export function dockerTarget(options: DockerTargetOptions): ReleaseTarget {
  const { docker, containerName } = options.deploy;
  const { repo } = options;
  const sideBySide = options.deploy.rollout === 'side-by-side';
  /** The container serving now: the newest one the proxy sends to (side by side), or the one with the name. */
  const serving = async () => (sideBySide ? (await servingContainers(docker, containerName))[0] : await inspectContainer(docker, containerName));
  return {
    kind: 'docker',
    async build(files, version) {
      // A tag without a successful build record is what an interrupted build left.
      if ((await inspectImage(docker, `${repo}:${version}`)) !== undefined) await removeImage(docker, `${repo}:${version}`);
      const baseImage = await resolveBaseImage(docker, repo, options.baseImage);
      return buildModelImage(docker, { files, version, repo, baseImage, push: options.push });
    },
    imageOf: (version) => `${repo}:${version}`,
    async exists(image) {
      return (await inspectImage(docker, image)) !== undefined;
    },
    deploy: (image, version) => (sideBySide ? deploySideBySide(options.deploy, image, version) : deployImage(options.deploy, image, version)),
    async latestVersion() {
      return (await inspectImage(docker, `${repo}:latest`))?.Config.Labels?.[LABELS.version] ?? null;
    },
    markLatest: (image) => tagLatest(docker, image, repo, options.push),
    async prune(previous) {
      if (options.imageRetention === undefined) return [];
      return pruneVersionImages(docker, repo, { keep: options.imageRetention, serving: (await serving())?.Config.Labels?.[LABELS.version], previous });
    },
    adoptBase: (record, known) => adoptBaseImage(docker, repo, record, known),
    recover: (lastDeployed) =>
      sideBySide ? recoverSideBySide(docker, containerName, lastDeployed, options.deploy.drainGraceMs) : recoverInterruptedDeploy(docker, containerName),
    async serving() {
      return (await serving())?.Config.Labels?.[LABELS.version];
    },
    reachable: () => pingDocker(docker),
    checks: {
      docker: () => pingDocker(docker),
      baseImage: () => resolveBaseImage(docker, repo, options.baseImage),
      webappContainer: async () => {
        if ((await serving()) === undefined) {
          const how = options.deploy.reach === 'host' ? 'under host networking' : 'with a network alias';
          throw new Error(sideBySide ? `no running container named ${containerName} or ${containerName}-<version> ${how}` : `no container named ${containerName}`);
        }
      },
    },
  };
}
