import type { ModelBundleFiles } from '@mlpl/shared';
import type { DeployResult } from './deploy.js';
import type { BuiltImage } from './images.js';

/**
 * Where versions are built and deployed. The pipeline (validate → build → record → deploy →
 * record → mark latest) is the same for both; only these steps differ:
 * - 'docker': an image `<repo>:<version>` FROM the webapp base, deployed by starting a new
 *   webapp container beside the old one behind the proxy (side-by-side.ts) or in its place (deploy.ts);
 * - 'process': a model folder `<modelsRoot>/<version>/`, deployed by asking the running
 *   webapp process to load it and swap (process-target.ts), for machines without a Docker engine.
 */
export type ReleaseTarget = {
  readonly kind: 'docker' | 'process';
  /** Builds the bundle into `version`'s artifact, over anything an interrupted build left under that name. */
  build(files: ModelBundleFiles, version: string): Promise<BuiltImage>;
  /** The artifact a build of `version` makes (`BuiltImage.image`): `<repo>:<version>`, `<modelsRoot>/<version>`. */
  imageOf(version: string): string;
  /** Whether the artifact a build recorded (`BuiltImage.image`) still exists. */
  exists(image: string): Promise<boolean>;
  /** Puts `image` in service, health-gated; on failure the previous version keeps serving. */
  deploy(image: string, version: string): Promise<DeployResult>;
  /** The version a restart of the webapp would start (`latest`, `current`), or null. */
  latestVersion(): Promise<string | null>;
  /** Makes `image` the one a restart of the webapp starts. */
  markLatest(image: string, version: string): Promise<void>;
  /**
   * Records the first artifact (the image compose built, the folder the stack seeded) as a
   * build of its own version, once, so a rollback can return to it. Returns the version adopted.
   */
  adoptBase(record: (build: { version: string; image: string; imageId: string }) => Promise<void>, known: (version: string) => Promise<boolean>): Promise<string | undefined>;
  /**
   * Puts right what a deployment interrupted half-way left; returns what it did. `lastDeployed`:
   * the version the records say serves, kept when two containers are found serving.
   */
  recover(lastDeployed?: string): Promise<string[]>;
  /** After a deployment: removes old versions' artifacts beyond the retention; returns what it removed. */
  prune?(previousVersion: string | null): Promise<string[]>;
  /** The version the webapp serves now, when it can be told. */
  serving(): Promise<string | undefined>;
  /** Resolves once what the target needs answers (the Docker engine; the webapp process): awaited, with retries, at start-up. */
  reachable(): Promise<unknown>;
  /** What `GET /` checks: each probe resolves when that part is fine. */
  readonly checks: Readonly<Record<string, () => Promise<unknown>>>;
};
