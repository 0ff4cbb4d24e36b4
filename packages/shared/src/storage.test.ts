import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { contentAddressedKey, ensureBuckets, getObjectBytes, listObjectKeys, objectExists, putObject } from './storage.js';
import { createTestStorage } from './testing/test-env.js';

describe('storage', () => {
  it('when an object is put twice under its content key, then one object holds the bytes', async () => {
    const { storage, settings } = await createTestStorage();
    const bytes = Buffer.from('some image bytes');
    const key = contentAddressedKey(createHash('sha256').update(bytes).digest('hex'), 'png');
    assert.equal(await objectExists(storage, settings.imagesBucket, key), false);
    await putObject(storage, settings.imagesBucket, key, bytes, 'image/png');
    await putObject(storage, settings.imagesBucket, key, bytes, 'image/png');
    assert.equal(await objectExists(storage, settings.imagesBucket, key), true);
    assert.deepEqual(await getObjectBytes(storage, settings.imagesBucket, key), bytes);
    assert.deepEqual(await listObjectKeys(storage, settings.imagesBucket), [key]);
  });

  it('when buckets already exist, then ensureBuckets keeps their objects', async () => {
    const { storage, settings } = await createTestStorage();
    await putObject(storage, settings.modelsBucket, 'v1/model.json', Buffer.from('{}'), 'application/json');
    await ensureBuckets(storage);
    assert.equal(await objectExists(storage, settings.modelsBucket, 'v1/model.json'), true);
  });

  it('when a digest is not hex, then no key is made from it', () => {
    assert.throws(() => contentAddressedKey('../../etc/passwd', 'png'), /not a sha256/);
    assert.match(contentAddressedKey('a'.repeat(64), 'png'), /^aa\/a{64}\.png$/);
  });
});
