export * from './servers.js';
export * from './test-env.js';
