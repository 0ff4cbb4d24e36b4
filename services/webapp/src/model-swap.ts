import { access } from 'node:fs/promises';
import path from 'node:path';
import express, { Router } from 'express';
import { BUNDLE_FILES, checkVersionName, HttpError, requireBearer } from '@mlpl/shared';
import type { Logger, ModelMetadata } from '@mlpl/shared';
import { loadClassifier } from './classifier.js';
import type { ModelSlot } from './classifier.js';

export type ModelSwapDeps = {
  slot: ModelSlot;
  /** Versioned model folders, `<modelsRoot>/<version>/`, written by the appbuilder. */
  modelsRoot: string;
  token: string;
  preprocessingVersion: number;
  logger: Logger;
  /** Tells the registry which model serves now (best effort: the swap stands if it fails). */
  record?: (metadata: ModelMetadata) => Promise<void>;
};

/**
 * `POST /internal/model {"version"}`: the process deploy target's swap (no Docker engine). The
 * appbuilder has written `<modelsRoot>/<version>/`; the model is loaded and run once before
 * it replaces the one in service, so a bundle that does not load changes nothing. Swaps run
 * one at a time. Only mounted when MODEL_SWAP_TOKEN is set: a webapp in a Docker image serves
 * the model baked into it and has no such route.
 */
export function modelSwapRouter(deps: ModelSwapDeps): Router {
  const router = Router();
  const log = deps.logger.child({ module: 'model-swap' });
  let swapping = false;

  router.post('/internal/model', requireBearer({ MODEL_SWAP_TOKEN: deps.token }), express.json({ limit: '1kb', strict: true }), async (req, res) => {
    const body = req.body as unknown;
    const keys = typeof body === 'object' && body !== null && !Array.isArray(body) ? Object.keys(body) : null;
    const version = keys === null ? undefined : (body as Record<string, unknown>)['version'];
    // checkVersionName also refuses `current`, the link to the folder in service, among the reserved names.
    if (keys === null || keys.some((key) => key !== 'version') || typeof version !== 'string' || checkVersionName(version) !== null) {
      throw new HttpError(400, 'bad_request', 'send JSON {"version": "<a model version>"} and nothing else');
    }
    if (swapping) throw new HttpError(409, 'busy', 'another model is being loaded; try again when it is done');
    swapping = true;
    try {
      // A version has no separator and no leading dot, so the folder is inside modelsRoot.
      const dir = path.join(deps.modelsRoot, version);
      await access(dir).catch(() => {
        throw new HttpError(404, 'unknown_version', `no model folder for version ${version}`);
      });
      const next = await loadClassifier(dir, deps.preprocessingVersion).catch((error: unknown) => {
        // A folder without all three files (or a file, not a folder) is a bundle that does not load.
        const { code, path: file } = error as NodeJS.ErrnoException;
        if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') {
          throw new HttpError(422, 'incomplete_bundle', `the folder ${version} must hold ${Object.values(BUNDLE_FILES).join(', ')}; ${path.basename(file ?? '?')} cannot be read`);
        }
        throw error;
      });
      if (next.metadata.version !== version) {
        next.dispose();
        throw new HttpError(409, 'version_mismatch', `the folder ${version} holds model version ${next.metadata.version}`);
      }
      try {
        const { probabilities } = next.classify(new Float32Array(28 * 28));
        if (probabilities.length !== 10 || !probabilities.every(Number.isFinite)) throw new Error('the model does not answer ten finite probabilities');
      } catch (error) {
        next.dispose();
        throw new HttpError(422, 'unservable_model', `model ${version} does not predict: ${(error as Error).message}`);
      }
      // The appbuilder gave up waiting (its timeout): it decides on what serves now, so this
      // late model must not slip in after that decision.
      if (req.socket.destroyed) {
        next.dispose();
        log.warn({ version }, 'the swap was abandoned by its caller; the model in service stays');
        return;
      }
      const previousVersion = deps.slot.replace(next);
      log.info({ version, previousVersion }, 'model replaced');
      res.json({ version, previousVersion });
      // After the answer and outside the lock: a slow database must not hold the swap.
      void deps.record?.(next.metadata).catch((error: unknown) => log.warn({ err: error, version }, 'the registry could not record the new model'));
    } finally {
      swapping = false;
    }
  });
  return router;
}
