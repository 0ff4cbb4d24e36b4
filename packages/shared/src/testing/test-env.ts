import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import { createPool, migrate } from '../db/index.js';
import type { Pool } from '../db/index.js';
import { createStorage, ensureBuckets } from '../storage.js';
import type { Storage } from '../storage.js';
import type { DatabaseSettings, StorageSettings } from '../settings.js';

/**
 * Tests reach the servers `scripts/test.mjs` started (or ones given by the environment)
 * through these variables. Each test gets a database and buckets of its own, so test files
 * can run side by side on one server.
 */
export const TEST_ENV = {
  databaseHost: 'TEST_DATABASE_HOST',
  databasePort: 'TEST_DATABASE_PORT',
  databaseUser: 'TEST_DATABASE_USER',
  databasePassword: 'TEST_DATABASE_PASSWORD',
  storageHost: 'TEST_STORAGE_HOST',
  storagePort: 'TEST_STORAGE_PORT',
  storageAccessKey: 'TEST_STORAGE_ACCESS_KEY',
  storageSecretKey: 'TEST_STORAGE_SECRET_KEY',
} as const;

function required(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') {
    throw new Error(`${name} is not set: run tests through "npm test" (scripts/test.mjs), which starts MariaDB and s3rver`);
  }
  return value;
}

function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
}

export type TestDatabase = { settings: DatabaseSettings; pool: Pool; drop(): Promise<void> };

/** A new, migrated database on the test server; `drop` removes it and closes the pool. */
export async function createTestDatabase(server?: { host: string; port: number; user: string; password: string }): Promise<TestDatabase> {
  const base = server ?? {
    host: required(TEST_ENV.databaseHost),
    port: Number(required(TEST_ENV.databasePort)),
    user: required(TEST_ENV.databaseUser),
    password: required(TEST_ENV.databasePassword),
  };
  const settings: DatabaseSettings = { ...base, database: uniqueName('mlpl_test') };
  const admin = await mysql.createConnection({ host: base.host, port: base.port, user: base.user, password: base.password });
  try {
    await admin.query(`CREATE DATABASE \`${settings.database}\``);
  } finally {
    await admin.end();
  }
  const pool = createPool(settings);
  await migrate(pool);
  return {
    settings,
    pool,
    async drop() {
      await pool.end().catch(() => undefined);
      const connection = await mysql.createConnection({ host: base.host, port: base.port, user: base.user, password: base.password });
      try {
        await connection.query(`DROP DATABASE IF EXISTS \`${settings.database}\``);
      } finally {
        await connection.end();
      }
    },
  };
}

export type TestStorage = { settings: StorageSettings; storage: Storage };

/** Settings with buckets of its own on the test S3 endpoint; the buckets are created. */
export async function createTestStorage(server?: { host: string; port: number; accessKey: string; secretKey: string }): Promise<TestStorage> {
  const base = server ?? {
    host: required(TEST_ENV.storageHost),
    port: Number(required(TEST_ENV.storagePort)),
    accessKey: required(TEST_ENV.storageAccessKey),
    secretKey: required(TEST_ENV.storageSecretKey),
  };
  const suffix = uniqueName('t').replaceAll('_', '-').toLowerCase();
  const settings: StorageSettings = {
    ...base,
    useSSL: false,
    region: 'us-east-1',
    imagesBucket: `images-${suffix}`,
    modelsBucket: `models-${suffix}`,
  };
  const storage = createStorage(settings);
  await ensureBuckets(storage);
  return { settings, storage };
}
