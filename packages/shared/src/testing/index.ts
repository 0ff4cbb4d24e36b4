export * from './servers.js';
export * from './test-env.js';
export * from './image-fixtures.js';
export * from './image-compare.js';
export * from './run-to-exit.js';
