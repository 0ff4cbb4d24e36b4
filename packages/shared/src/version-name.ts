/**
 * A model version becomes a Docker tag (`<repo>:<version>`), a folder (`<modelsRoot>/<version>/`),
 * an object-key segment (`<version>/model.json`) and part of a container name
 * (`<webapp>-<version>`), so it keeps to the tag alphabet: no separator, no leading dot.
 */
export const MODEL_VERSION_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/**
 * Names the release targets and training give a meaning of their own. A version so named would
 * take that place: a bundle `latest` would be built as `<repo>:latest`, which a deployment
 * re-tags and pruning never removes, and every later build would start FROM it.
 */
export const RESERVED_VERSION_NAMES: Readonly<Record<string, string>> = {
  latest: 'the tag of the image a restart of the webapp starts',
  current: "the process target's link to the folder in service",
  base: 'the tag of webapp base images',
  serving: 'kept to name the version in service',
  pretrained: "training's name for the pretrained model's folder",
};

/**
 * Words an in-place swap names its containers with (`<webapp>-candidate-<version>`,
 * `<webapp>-previous-<time>`), which its recovery removes or renames: a side-by-side
 * container `<webapp>-<version>` must never look like one.
 */
export const RESERVED_VERSION_PREFIXES: Readonly<Record<string, string>> = {
  candidate: 'the name of a container on trial during a swap',
  previous: 'the name of the container a swap parks',
};

/**
 * The one check of a version name, wherever one enters (a bundle's metadata, a rollback, a
 * version training names, the label of an adopted image). Returns what is wrong with it, or
 * null when it is a version. Reserved names are compared without case: a folder `Current`
 * is the link `current` on a case-insensitive file system.
 */
export function checkVersionName(name: unknown): string | null {
  if (typeof name !== 'string' || !MODEL_VERSION_PATTERN.test(name)) {
    return 'a version must be 1–64 letters, digits, ".", "_" or "-", starting with a letter or digit';
  }
  const lower = name.toLowerCase();
  if (Object.hasOwn(RESERVED_VERSION_NAMES, lower)) return `"${name}" is reserved (${RESERVED_VERSION_NAMES[lower]}); a version must be named otherwise`;
  for (const [prefix, why] of Object.entries(RESERVED_VERSION_PREFIXES)) {
    if (lower === prefix || lower.startsWith(`${prefix}-`)) return `"${name}" begins with the reserved "${prefix}" (${why}); a version must be named otherwise`;
  }
  return null;
}
