import { REQUEST_PATH, select, write } from './pool.js';
import type { Pool } from './pool.js';

/** The `predictions` table: one row per answer of `POST /api/predict`, written and read on the request path. */

export type PredictionRow = {
  id: string;
  modelVersion: string;
  /** SHA-256 of the image that was classified: feedback citing this prediction must send the same bytes. */
  imageSha256: string;
  digit: number;
  confidence: number;
  latencyMs: number;
};

export async function insertPrediction(pool: Pool, row: PredictionRow): Promise<void> {
  await write(
    pool,
    REQUEST_PATH,
    'INSERT INTO predictions (id, model_version, image_sha256, digit, confidence, latency_ms) VALUES (?, ?, ?, ?, ?, ?)',
    [row.id, row.modelVersion, row.imageSha256, row.digit, row.confidence, row.latencyMs],
  );
}

export async function getPrediction(pool: Pool, id: string): Promise<PredictionRow | undefined> {
  const [row] = await select(pool, REQUEST_PATH, 'SELECT id, model_version, image_sha256, digit, confidence, latency_ms FROM predictions WHERE id = ?', [id]);
  if (row === undefined) return undefined;
  return {
    id: String(row.id),
    modelVersion: String(row.model_version),
    imageSha256: String(row.image_sha256),
    digit: Number(row.digit),
    confidence: Number(row.confidence),
    latencyMs: Number(row.latency_ms),
  };
}
