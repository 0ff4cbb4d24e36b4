export * from './servers.js';
export * from './test-env.js';
export * from './image-fixtures.js';
export * from './image-compare.js';
export * from './run-to-exit.js';
// Tests pick their ports with it; it lives in the main module, where the appbuilder uses it too.
export { freePort } from '../helpers.js';
export * from './legacy-metadata.js';
export * from './http-fuzz.js';
export * from './listen.js';
