import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { createLogger, createPool, createStorage, initTf, PREPROCESSING_VERSION } from '@mlpl/shared';
import type { Evaluation, GateCheck, ImageLimits, Pool, Storage } from '@mlpl/shared';
import { listObjectKeys } from '@mlpl/shared';
import type { TestDatabase, TestStorage } from '@mlpl/shared/testing';
import type { RowDataPacket } from 'mysql2/promise';
import type { Page } from 'playwright-core';
import type { DatabaseSettings, StorageSettings } from '@mlpl/shared';
import { createApp } from './app.js';
import { loadClassifier, ModelSlot } from './classifier.js';
import type { Classifier } from './classifier.js';
import type { Limiter } from './limiter.js';
import { DEFAULT_MODEL_DIR } from './settings.js';
import type { RateLimits, TrustProxy } from './settings.js';

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
  probeToken?: string;
  decodes?: Limiter;
  rateLimits?: RateLimits;
  trustProxy?: TrustProxy;
  /**
   * How long registry reads are remembered (see read-cache.ts). Default 0: these tests write
   * records and read them back at once; the cache has tests of its own.
   */
  readCacheMs?: number;
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
    ...(options.probeToken === undefined ? {} : { probeToken: options.probeToken }),
    ...(options.decodes === undefined ? {} : { decodes: options.decodes }),
    ...(options.rateLimits === undefined ? {} : { rateLimits: options.rateLimits }),
    ...(options.trustProxy === undefined ? {} : { trustProxy: options.trustProxy }),
    readCacheMs: options.readCacheMs ?? 0,
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

/** Gate checks as the training service wrote them before the checks had kinds (no kind, no sentence): runs of then stay in the database. */
export function checksRecordedBefore(checks: Omit<GateCheck, 'kind' | 'summary'>[]): GateCheck[] {
  return checks as GateCheck[];
}

/**
 * A refusal by today's gate, judged against `against` (also the best served version): McNemar's
 * test finds the candidate worse on the test set (only the incumbent right on 12 digits, only
 * the candidate on 3: p = 576/32768), and it breaks 5 of the 120 labelled digits the incumbent
 * answers right, 2 allowed; the held-out feedback, the floor and the classes pass. The
 * sentences are those training's gate.ts writes.
 */
export function refusedEvaluation(against: string, brokenImageIds: number[] = [4, 9, 17, 21, 30]): Evaluation {
  const pValue = 576 / 32768;
  const broken = brokenImageIds.length;
  return {
    candidate: { test: { accuracy: 0.961, testCount: 1000 }, feedback: { accuracy: 0.9, testCount: 20 }, corrections: { accuracy: 0.9, testCount: 130 } },
    incumbent: { test: { accuracy: 0.97, testCount: 1000 }, feedback: { accuracy: 0.9, testCount: 20 }, corrections: { accuracy: 0.923, testCount: 130 } },
    skipped: [],
    checks: [
      {
        kind: 'worse',
        set: 'test',
        candidate: 0.961,
        incumbent: 0.97,
        delta: 0.961 - 0.97,
        passed: false,
        summary: `on 'test' the candidate is worse than the incumbent (96.10 % vs 97.00 %; only the incumbent right on 12, only the candidate on 3, McNemar p = 0.018 < 0.05)`,
        mcnemar: { incumbentOnly: 12, candidateOnly: 3, pValue, significance: 0.05 },
      },
      {
        kind: 'worse',
        set: 'feedback',
        candidate: 0.9,
        incumbent: 0.9,
        delta: 0,
        passed: true,
        summary: "'feedback' not worse (90.00 % vs 90.00 %; only the incumbent right on 1, only the candidate on 1, McNemar p = 0.75)",
        mcnemar: { incumbentOnly: 1, candidateOnly: 1, pValue: 0.75, significance: 0.05 },
      },
      {
        kind: 'corrections',
        set: 'corrections',
        candidate: 0.9,
        incumbent: 0.923,
        delta: 0.9 - 0.923,
        passed: false,
        summary: `the candidate breaks earlier corrections (${broken} of the 120 corrections the incumbent answers right are wrong now; allowed 2: images ${brokenImageIds.join(', ')})`,
        corrections: { incumbentRight: 120, broken, allowance: 2, brokenImageIds },
      },
      {
        kind: 'floor',
        set: 'test',
        candidate: 0.961,
        incumbent: 0.97,
        delta: 0.961 - 0.97,
        passed: true,
        summary: `test accuracy 96.10 % at or above the floor (the best served, ${against}, reached 97.00 %; floor 96.00 % with a tolerance of 1.00 points)`,
        floor: { floor: 0.96, best: 0.97, bestVersion: against, tolerance: 0.01 },
      },
      {
        kind: 'class',
        set: 'test',
        candidate: 0.94,
        incumbent: 0.96,
        delta: -0.02,
        passed: true,
        summary: 'no class lost more than the margin 5.00 points and 3 digits (most: 7, 96.00 % → 94.00 %)',
        classes: { margin: 0.05, minDigits: 3, classes: [{ label: '7', candidate: 0.94, incumbent: 0.96, digitsLost: 2, support: 100, passed: true }, { label: '1', candidate: 0.99, incumbent: 0.99, digitsLost: 0, support: 110, passed: true }] },
      },
    ],
  };
}

/** The plain-words verdict of `refusedEvaluation(against)` (gate-words.ts). */
export const refusedVerdict = (against: string, broken = 5) =>
  `rejected: worse than ${against} on the test set: only ${against} was right on 12 digits, only the candidate on 3 (McNemar's p = 0.018, below 0.05); `
  + `breaks ${broken} of the 120 labelled digits ${against} answers right, more than the 2 allowed`;

/**
 * What the page's Content-Security-Policy refused, as Chromium reports it on the console
 * ("Refused to apply inline style because it violates the following Content Security Policy
 * directive …"): a page that works only without the policy fails the test that uses it.
 */
export function watchCspViolations(page: Page): string[] {
  const refused: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error' && /Content Security Policy/i.test(message.text())) refused.push(message.text());
  });
  return refused;
}
