import { inspectContainer, inspectImage, pingDocker, removeImage } from './docker.js';
import { deployImage, recoverInterruptedDeploy } from './deploy.js';
import type { DeployTarget } from './deploy.js';
import { adoptBaseImage, buildModelImage, LABELS, resolveBaseImage, tagLatest } from './images.js';
import type { ReleaseTarget } from './release-target.js';

export type DockerTargetOptions = {
  deploy: DeployTarget;
  /** `<registry>/<repository>` or `<repository>`. */
  repo: string;
  /** Explicit base image; default resolved from `<repo>:latest`. */
  baseImage?: string;
  push: boolean;
};

/** Versions as webapp images, deployed by replacing the webapp container (compose, and the stack where Docker runs). */
export function dockerTarget(options: DockerTargetOptions): ReleaseTarget {
  const { docker, containerName } = options.deploy;
  const { repo } = options;
  return {
    kind: 'docker',
    async build(files, version) {
      // A tag without a successful build record is what an interrupted build left.
      if ((await inspectImage(docker, `${repo}:${version}`)) !== undefined) await removeImage(docker, `${repo}:${version}`);
      const baseImage = await resolveBaseImage(docker, repo, options.baseImage);
      return buildModelImage(docker, { files, version, repo, baseImage, push: options.push });
    },
    async exists(image) {
      return (await inspectImage(docker, image)) !== undefined;
    },
    deploy: (image, version) => deployImage(options.deploy, image, version),
    async latestVersion() {
      return (await inspectImage(docker, `${repo}:latest`))?.Config.Labels?.[LABELS.version] ?? null;
    },
    markLatest: (image) => tagLatest(docker, image, repo, options.push),
    adoptBase: (record, known) => adoptBaseImage(docker, repo, record, known),
    recover: () => recoverInterruptedDeploy(docker, containerName),
    async serving() {
      return (await inspectContainer(docker, containerName))?.Config.Labels?.[LABELS.version];
    },
    reachable: () => pingDocker(docker),
    checks: {
      docker: () => pingDocker(docker),
      baseImage: () => resolveBaseImage(docker, repo, options.baseImage),
      webappContainer: async () => {
        if ((await inspectContainer(docker, containerName)) === undefined) throw new Error(`no container named ${containerName}`);
      },
    },
  };
}
