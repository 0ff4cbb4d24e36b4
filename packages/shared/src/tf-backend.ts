import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
// Registers the 'cpu' backend (the @tensorflow/tfjs bundle did; its parts do not).
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { registerWasmConv2dBackpropFilter } from './wasm-conv2d-backprop-filter.js';

export type TfBackendName = 'tensorflow' | 'wasm' | 'cpu';
export type TfBackendPreference = 'auto' | TfBackendName;

export const TF_BACKEND_PREFERENCES = ['auto', 'tensorflow', 'wasm', 'cpu'] as const satisfies readonly TfBackendPreference[];

/**
 * Held in a variable so that TypeScript does not try to resolve it: the package is installed
 * only inside Docker images (its install step downloads libtensorflow).
 */
const TFJS_NODE_MODULE: string = '@tensorflow/tfjs-node';

let wasmPathsSet = false;

/** Returns why tfjs-node is unusable, or null when its 'tensorflow' backend is registered. */
async function loadTfjsNode(): Promise<string | null> {
  try {
    await import(TFJS_NODE_MODULE);
  } catch (error) {
    // Missing package vs. installed but broken (e.g. libtensorflow absent): only the first is routine.
    const { code, message } = error as { code?: unknown; message?: unknown };
    const absent = code === 'ERR_MODULE_NOT_FOUND' && String(message).includes(`'${TFJS_NODE_MODULE}'`);
    return absent ? `${TFJS_NODE_MODULE} is not installed` : `${TFJS_NODE_MODULE} failed to load: ${String(error)}`;
  }
  return tf.findBackendFactory('tensorflow') !== null ? null : `${TFJS_NODE_MODULE} registered no 'tensorflow' backend`;
}

/**
 * In Node the .wasm binaries are read from the file system; point the backend at the copies
 * in node_modules. Without threads (unavailable in Node) it picks the SIMD or plain binary.
 */
function prepareWasm(): void {
  if (!wasmPathsSet) {
    const require = createRequire(import.meta.url);
    const packageDir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
    setWasmPaths(path.join(packageDir, 'dist') + path.sep);
    wasmPathsSet = true;
  }
  registerWasmConv2dBackpropFilter();
}

async function activate(name: TfBackendName): Promise<TfBackendName> {
  if (!(await tf.setBackend(name))) {
    throw new Error(`tfjs backend '${name}' failed to initialise`);
  }
  await tf.ready();
  return name;
}

export type InitTfOptions = {
  /** Told why 'auto' fell back from tfjs-node to wasm (e.g. to log it: it costs speed). */
  onFallback?: (reason: string) => void;
};

/**
 * Selects the tfjs backend and returns the one in use. 'auto' means tfjs-node when it is
 * installed, else wasm. Safe to call more than once. Everyone else uses `@tensorflow/tfjs-core`
 * and `@tensorflow/tfjs-layers`.
 */
export async function initTf(preference: TfBackendPreference = 'auto', options: InitTfOptions = {}): Promise<TfBackendName> {
  switch (preference) {
    case 'tensorflow': {
      const problem = await loadTfjsNode();
      if (problem !== null) {
        throw new Error(`tfjs backend 'tensorflow' requested but ${problem}`);
      }
      return activate('tensorflow');
    }
    case 'wasm':
      prepareWasm();
      return activate('wasm');
    case 'cpu':
      return activate('cpu');
    case 'auto': {
      const problem = await loadTfjsNode();
      if (problem === null) {
        return activate('tensorflow');
      }
      options.onFallback?.(problem);
      prepareWasm();
      return activate('wasm');
    }
  }
}
