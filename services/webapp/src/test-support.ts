import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { createLogger, createPool, createStorage, initTf, PREPROCESSING_VERSION } from '@mlpl/shared';
import type { ImageLimits, Pool, Storage } from '@mlpl/shared';
import { listObjectKeys } from '@mlpl/shared';
import type { TestDatabase, TestStorage } from '@mlpl/shared/testing';
import type { RowDataPacket } from 'mysql2/promise';
import type { DatabaseSettings, StorageSettings } from '@mlpl/shared';
import { createApp } from './app.js';
import { loadClassifier, ModelSlot } from './classifier.js';
import type { Classifier } from './classifier.js';
import { DEFAULT_MODEL_DIR } from './settings.js';

export type RunningApp = { url: string; server: Server; classifier: Classifier; pool: Pool; storage: Storage; close(): Promise<void> };

/**
 * The real webapp on 127.0.0.1:0, with the repository's pretrained model. With `modelSwap`,
 * the model sits in a ModelSlot (as in main.ts) and `POST /internal/model` is mounted.
 */
export async function startTestApp(options: {
  database: DatabaseSettings;
  storage: StorageSettings;
  limits?: Partial<ImageLimits>;
  modelDir?: string;
  modelSwap?: { modelsRoot: string; token: string };
  admin?: { adminToken: string | undefined; appbuilderUrl: string };
  trainingThreshold?: number;
}): Promise<RunningApp> {
  const backend = await initTf('auto');
  const loaded = await loadClassifier(options.modelDir ?? DEFAULT_MODEL_DIR, PREPROCESSING_VERSION);
  const modelSwap = options.modelSwap === undefined ? undefined : { ...options.modelSwap, slot: new ModelSlot(loaded), preprocessingVersion: PREPROCESSING_VERSION };
  const classifier = modelSwap?.slot ?? loaded;
  const pool = createPool(options.database);
  const storage = createStorage(options.storage);
  const app = createApp({
    logger: createLogger({ name: 'webapp-test', level: process.env.LOG_LEVEL === 'debug' ? 'debug' : 'silent' }),
    classifier,
    pool,
    storage,
    limits: { maxBytes: 5 * 1024 * 1024, maxPixels: 25_000_000, ...options.limits },
    backend,
    ...(modelSwap === undefined ? {} : { modelSwap }),
    ...(options.admin === undefined ? {} : { admin: options.admin }),
    ...(options.trainingThreshold === undefined ? {} : { trainingThreshold: options.trainingThreshold }),
  });
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    classifier,
    pool,
    storage,
    async close() {
      server.closeAllConnections();
      server.close();
      await pool.end().catch(() => undefined);
      classifier.dispose();
    },
  };
}

export type Part = { name: string; value: string } | { name: string; file: Buffer; filename?: string; type?: string };

export function form(parts: Part[]): FormData {
  const body = new FormData();
  for (const part of parts) {
    if ('value' in part) body.append(part.name, part.value);
    else body.append(part.name, new Blob([new Uint8Array(part.file)], { type: part.type ?? 'image/png' }), part.filename ?? 'digit.png');
  }
  return body;
}

export async function post(url: string, parts: Part[]): Promise<{ status: number; body: any }> {
  const response = await fetch(url, { method: 'POST', body: form(parts) });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: the test sees the text
  }
  return { status: response.status, body };
}

/** How many image rows and image objects are stored: the same before and after a refused upload. */
export async function storedCounts(db: TestDatabase, s3: TestStorage): Promise<{ rows: number; objects: number }> {
  const [rows] = await db.pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM images');
  return { rows: Number(rows[0]?.n), objects: (await listObjectKeys(s3.storage, s3.settings.imagesBucket)).length };
}
