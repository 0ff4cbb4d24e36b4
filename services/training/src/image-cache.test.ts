import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { contentAddressedKey, preprocessImage, putObject } from '@mlpl/shared';
import { createTestStorage, loadMnistDigits, renderDigitPng } from '@mlpl/shared/testing';
import type { TestStorage } from '@mlpl/shared/testing';
import { createImageCache, loadDigitSet } from './image-cache.js';

describe('image cache', () => {
  let storage: TestStorage;
  let dir: string;
  let png: Buffer;
  let ref: { objectKey: string; sha256: string };

  before(async () => {
    storage = await createTestStorage();
    dir = await mkdtemp(path.join(tmpdir(), 'mlpl-image-cache-'));
    png = await renderDigitPng(loadMnistDigits(3, 1)[0] ?? new Float32Array(784));
    const sha256 = createHash('sha256').update(png).digest('hex');
    ref = { objectKey: contentAddressedKey(sha256, 'png'), sha256 };
    await putObject(storage.storage, storage.settings.imagesBucket, ref.objectKey, png, 'image/png');
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('when an image is read twice, then the second read comes from the folder, even with the object gone', async () => {
    const cache = createImageCache(storage.storage, dir);
    const first = await cache.input(ref);
    assert.deepEqual(first, await preprocessImage(png));
    assert.equal(cache.fetches, 1);
    assert.deepEqual(await readFile(path.join(dir, ref.sha256.slice(0, 2), `${ref.sha256}.bin`)), png);

    await storage.storage.client.removeObject(storage.settings.imagesBucket, ref.objectKey);
    const again = createImageCache(storage.storage, dir);
    assert.deepEqual(await again.input(ref), first);
    assert.equal(again.fetches, 0);
  });

  test('when a cached file is corrupt, then it is fetched again from storage and repaired', async () => {
    await putObject(storage.storage, storage.settings.imagesBucket, ref.objectKey, png, 'image/png');
    const file = path.join(dir, ref.sha256.slice(0, 2), `${ref.sha256}.bin`);
    await writeFile(file, Buffer.from('not the image'));
    const cache = createImageCache(storage.storage, dir);
    assert.deepEqual(await cache.bytes(ref), png);
    assert.equal(cache.fetches, 1);
    assert.deepEqual(await readFile(file), png);
  });

  test('when storage holds bytes that do not match the recorded hash, then the read fails and nothing is cached', async () => {
    const wrong = { objectKey: ref.objectKey, sha256: 'ab'.repeat(32) };
    const cache = createImageCache(storage.storage, dir);
    await assert.rejects(cache.bytes(wrong), /SHA-256/);
    await assert.rejects(readFile(path.join(dir, 'ab', `${wrong.sha256}.bin`)), { code: 'ENOENT' });
  });

  test('when rows are loaded as a digit set, then images and labels keep their order', async () => {
    const cache = createImageCache(storage.storage, dir);
    const set = await loadDigitSet(cache, [
      { ...ref, label: 3 },
      { ...ref, label: 5 },
    ]);
    assert.equal(set.count, 2);
    assert.deepEqual(Array.from(set.labels), [3, 5]);
    assert.equal(set.images.length, 2 * 784);
    assert.deepEqual(set.images.subarray(784), await preprocessImage(png));
  });

  test('when an input is asked again, then it comes from memory until the memo limit evicts the least recently used', async () => {
    const other = await renderDigitPng(loadMnistDigits(7, 1)[0] ?? new Float32Array(784));
    const otherSha = createHash('sha256').update(other).digest('hex');
    const otherRef = { objectKey: contentAddressedKey(otherSha, 'png'), sha256: otherSha };
    await putObject(storage.storage, storage.settings.imagesBucket, ref.objectKey, png, 'image/png');
    await putObject(storage.storage, storage.settings.imagesBucket, otherRef.objectKey, other, 'image/png');
    const memoDir = await mkdtemp(path.join(tmpdir(), 'mlpl-image-memo-'));
    try {
      const cache = createImageCache(storage.storage, memoDir, { memoLimit: 1 });
      const first = await cache.input(ref);
      assert.equal(await cache.input(ref), first, 'the same array: no second decode');
      await cache.input(otherRef);
      // With a limit of one, the first input was evicted: it is decoded again from the folder.
      const again = await cache.input(ref);
      assert.notEqual(again, first);
      assert.deepEqual(again, first);
      assert.equal(cache.fetches, 2, 'each object fetched from storage once');
    } finally {
      await rm(memoDir, { recursive: true, force: true });
    }
  });
});
