/**
 * The database, by table: the only modules that speak SQL. Every statement goes through
 * `select` / `write` in `pool.ts`, which give it its deadline (REQUEST_PATH or BACKGROUND),
 * and uses `?` placeholders; nothing is built by string concatenation from input.
 */
export { BACKGROUND, createPool, pingDatabase, REQUEST_PATH, STATEMENT_TIMEOUT_MS } from './pool.js';
export type { Deadline, Pool } from './pool.js';
export { migrate, MIGRATIONS } from './migrations.js';
export { releaseLock, takeLock, TRAINING_LOCK, tryTrainingLock } from './locks.js';
export type { HeldLock } from './locks.js';
export * from './images.js';
export * from './training-images.js';
export * from './predictions.js';
export * from './runs.js';
export * from './builds.js';
export * from './registry.js';
export * from './scores.js';
export * from './bundles.js';
