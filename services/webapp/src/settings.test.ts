import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_MODEL_DIR, loadWebappSettings } from './settings.js';

describe('webapp settings', () => {
  it('when only the accounts are given, then the defaults serve the pretrained model on 5050', () => {
    const settings = loadWebappSettings({ MYSQL_USER: 'u', MYSQL_PASSWORD: 'p', STORAGE_ACCESS_KEY: 'a', STORAGE_SECRET_KEY: 's' });
    assert.equal(settings.port, 5050);
    assert.equal(settings.host, '0.0.0.0');
    assert.equal(settings.modelDir, DEFAULT_MODEL_DIR);
    assert.match(DEFAULT_MODEL_DIR, /pretrained$/);
    assert.equal(settings.maxUploadBytes, 5 * 1024 * 1024);
    assert.equal(settings.maxImagePixels, 25_000_000);
    assert.equal(settings.tfjsBackend, 'auto');
    assert.equal(settings.database.host, 'database');
    assert.equal(settings.storage.host, 'storage');
  });

  it('when limits are given, then they are used', () => {
    const settings = loadWebappSettings({
      MYSQL_USER: 'u',
      MYSQL_PASSWORD: 'p',
      STORAGE_ACCESS_KEY: 'a',
      STORAGE_SECRET_KEY: 's',
      MAX_UPLOAD_BYTES: '2048',
      MAX_IMAGE_PIXELS: '1000000',
      MODEL_DIR: '/models/v3',
    });
    assert.deepEqual([settings.maxUploadBytes, settings.maxImagePixels, settings.modelDir], [2048, 1_000_000, '/models/v3']);
  });
});
