import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { SettingsError } from '@mlpl/shared';
import type { Env } from '@mlpl/shared';
import { DEFAULT_MODEL_DIR, loadWebappSettings } from './settings.js';

const ACCOUNTS = { MYSQL_USER: 'u', MYSQL_PASSWORD: 'database-password-0123', STORAGE_ACCESS_KEY: 'a', STORAGE_SECRET_KEY: 'storage-secret-key-0123' };
const SWAP_TOKEN = 'a-token-of-24-characters';

function problems(env: Env): readonly string[] {
  try {
    loadWebappSettings(env);
  } catch (error) {
    assert.ok(error instanceof SettingsError);
    return error.problems;
  }
  assert.fail('the settings were accepted');
}

describe('webapp settings', () => {
  it('when only the accounts are given, then the defaults serve the pretrained model on 5050', () => {
    const settings = loadWebappSettings(ACCOUNTS);
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
      ...ACCOUNTS,
      MAX_UPLOAD_BYTES: '2048',
      MAX_IMAGE_PIXELS: '1000000',
      MODEL_DIR: '/models/v3',
    });
    assert.deepEqual([settings.maxUploadBytes, settings.maxImagePixels, settings.modelDir], [2048, 1_000_000, '/models/v3']);
  });

  it('when the decode limits are not set, then 4 decode at once and 32 wait; when set, they are used', () => {
    const defaults = loadWebappSettings(ACCOUNTS);
    assert.deepEqual([defaults.maxConcurrentDecodes, defaults.maxQueuedDecodes], [4, 32]);
    const set = loadWebappSettings({ ...ACCOUNTS, MAX_CONCURRENT_DECODES: '2', MAX_QUEUED_DECODES: '0' });
    assert.deepEqual([set.maxConcurrentDecodes, set.maxQueuedDecodes], [2, 0]);
  });

  it('when MAX_CONNECTIONS is not set, then 128 are held; when set, it is used; when 0, the error names it', () => {
    assert.equal(loadWebappSettings(ACCOUNTS).maxConnections, 128);
    assert.equal(loadWebappSettings({ ...ACCOUNTS, MAX_CONNECTIONS: '1000' }).maxConnections, 1000);
    assert.deepEqual(problems({ ...ACCOUNTS, MAX_CONNECTIONS: '0' }), ['MAX_CONNECTIONS must be between 1 and 65536, got 0']);
  });

  it('when the rate limits are not set, then a client may predict 600 times and correct 60 times a minute; when set (0: no limit), they are used', () => {
    assert.deepEqual(loadWebappSettings(ACCOUNTS).rateLimits, { predictPerMinute: 600, feedbackPerMinute: 60 });
    assert.deepEqual(loadWebappSettings({ ...ACCOUNTS, RATE_LIMIT_PREDICT_PER_MINUTE: '0', RATE_LIMIT_FEEDBACK_PER_MINUTE: '5' }).rateLimits, { predictPerMinute: 0, feedbackPerMinute: 5 });
  });

  it('when a rate limit is negative or not a whole number, then one error names each', () => {
    assert.deepEqual(problems({ ...ACCOUNTS, RATE_LIMIT_PREDICT_PER_MINUTE: '-1', RATE_LIMIT_FEEDBACK_PER_MINUTE: '1.5' }), [
      'RATE_LIMIT_PREDICT_PER_MINUTE must be between 0 and 1000000, got -1',
      'RATE_LIMIT_FEEDBACK_PER_MINUTE must be a whole number, got "1.5"',
    ]);
  });

  it('when TRUST_PROXY is not set or false, then no proxy is trusted; a count or a list of addresses is used', () => {
    assert.equal(loadWebappSettings(ACCOUNTS).trustProxy, false);
    assert.equal(loadWebappSettings({ ...ACCOUNTS, TRUST_PROXY: 'false' }).trustProxy, false);
    assert.equal(loadWebappSettings({ ...ACCOUNTS, TRUST_PROXY: '0' }).trustProxy, false);
    assert.equal(loadWebappSettings({ ...ACCOUNTS, TRUST_PROXY: '1' }).trustProxy, 1);
    assert.deepEqual(loadWebappSettings({ ...ACCOUNTS, TRUST_PROXY: '172.16.0.0/12, 10.0.0.5,loopback,fd00::/8' }).trustProxy, ['172.16.0.0/12', '10.0.0.5', 'loopback', 'fd00::/8']);
  });

  it('when TRUST_PROXY is true, too many hops or not an address, then the error names it', () => {
    assert.match(problems({ ...ACCOUNTS, TRUST_PROXY: 'true' })[0] ?? '', /^TRUST_PROXY=true would take the client's address from what the client itself writes/);
    assert.deepEqual(problems({ ...ACCOUNTS, TRUST_PROXY: '11' }), ['TRUST_PROXY must be between 0 and 10 proxies, got 11']);
    assert.deepEqual(problems({ ...ACCOUNTS, TRUST_PROXY: 'proxy, 10.0.0.0/33,10.0.0.1' }), [
      'TRUST_PROXY must be a number of proxies or a list of addresses, CIDR ranges or loopback, linklocal, uniquelocal; not "proxy", "10.0.0.0/33"',
    ]);
  });

  it('when MAX_QUEUED_DECODES is negative or not a number, then the error names it', () => {
    assert.deepEqual(problems({ ...ACCOUNTS, MAX_QUEUED_DECODES: '-1' }), ['MAX_QUEUED_DECODES must be between 0 and 10000, got -1']);
    assert.deepEqual(problems({ ...ACCOUNTS, MAX_QUEUED_DECODES: 'many' }), ['MAX_QUEUED_DECODES must be a whole number, got "many"']);
  });

  it('when TRAINING_THRESHOLD is not set, then it is training\'s default of 10; when set, it is used', () => {
    assert.equal(loadWebappSettings(ACCOUNTS).trainingThreshold, 10);
    assert.equal(loadWebappSettings({ ...ACCOUNTS, TRAINING_THRESHOLD: '3' }).trainingThreshold, 3);
  });

  it('when TRAINING_THRESHOLD is not a whole number of at least 1, then the error names it', () => {
    assert.deepEqual(problems({ ...ACCOUNTS, TRAINING_THRESHOLD: '0' }), ['TRAINING_THRESHOLD must be between 1 and 1000000, got 0']);
    assert.deepEqual(problems({ ...ACCOUNTS, TRAINING_THRESHOLD: 'ten' }), ['TRAINING_THRESHOLD must be a whole number, got "ten"']);
  });

  it('when ADMIN_TOKEN is not set, then rollbacks are refused and the appbuilder is compose\'s', () => {
    const settings = loadWebappSettings(ACCOUNTS);
    assert.equal(settings.adminToken, undefined);
    assert.equal(settings.appbuilderUrl, 'http://appbuilder:5000');
    assert.equal(loadWebappSettings({ ...ACCOUNTS, ADMIN_TOKEN: 'an-admin-token-of-enough' }).adminToken, 'an-admin-token-of-enough');
  });

  it('when ADMIN_TOKEN is short or APPBUILDER_URL is not a URL, then one error names both', () => {
    const found = problems({ ...ACCOUNTS, ADMIN_TOKEN: 'short', APPBUILDER_URL: 'appbuilder:5000/deploy' });
    assert.ok(found.some((p) => /ADMIN_TOKEN must be at least 16/.test(p)), found.join('; '));
    assert.ok(found.some((p) => /APPBUILDER_URL must be http/.test(p)), found.join('; '));
  });

  it('when PROBE_TOKEN is not set, then there is none; when set (or as PROBE_TOKEN_FILE), it is used', () => {
    assert.equal(loadWebappSettings(ACCOUNTS).probeToken, undefined);
    assert.equal(loadWebappSettings({ ...ACCOUNTS, PROBE_TOKEN: 'a-probe-token-of-enough' }).probeToken, 'a-probe-token-of-enough');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mlpl-webapp-settings-'));
    try {
      writeFileSync(path.join(dir, 'probe_token'), 'a-probe-token-from-a-file\n');
      assert.equal(loadWebappSettings({ ...ACCOUNTS, PROBE_TOKEN_FILE: path.join(dir, 'probe_token') }).probeToken, 'a-probe-token-from-a-file');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('when PROBE_TOKEN is short or a placeholder, then the error names it', () => {
    assert.deepEqual(problems({ ...ACCOUNTS, PROBE_TOKEN: 'x'.repeat(15) }), ['PROBE_TOKEN must be at least 16 characters']);
    assert.match(problems({ ...ACCOUNTS, PROBE_TOKEN: 'change-me-probe-token' })[0] ?? '', /^PROBE_TOKEN is a placeholder/);
  });

  it('when neither MODEL_SWAP_TOKEN nor MODELS_ROOT is set, then there is no model swap', () => {
    assert.equal(loadWebappSettings(ACCOUNTS).modelSwap, undefined);
  });

  it('when MODEL_SWAP_TOKEN and MODELS_ROOT are set, then model swap uses the resolved folder', () => {
    const settings = loadWebappSettings({ ...ACCOUNTS, MODEL_SWAP_TOKEN: SWAP_TOKEN, MODELS_ROOT: 'run/models/' });
    assert.deepEqual(settings.modelSwap, { modelsRoot: path.resolve('run/models'), token: SWAP_TOKEN });
    assert.ok(path.isAbsolute(settings.modelSwap.modelsRoot));
  });

  it('when MODEL_SWAP_TOKEN is set without MODELS_ROOT, then the error names MODELS_ROOT', () => {
    assert.deepEqual(problems({ ...ACCOUNTS, MODEL_SWAP_TOKEN: SWAP_TOKEN }), ['MODELS_ROOT is required when MODEL_SWAP_TOKEN is set']);
  });

  it('when MODELS_ROOT is set without MODEL_SWAP_TOKEN, then the error names MODEL_SWAP_TOKEN', () => {
    assert.deepEqual(problems({ ...ACCOUNTS, MODELS_ROOT: '/models' }), [
      'MODELS_ROOT is set but MODEL_SWAP_TOKEN is not: set both to allow model swaps, or neither',
    ]);
  });

  it('when MODEL_SWAP_TOKEN is shorter than 16 characters, then the error names it', () => {
    assert.deepEqual(problems({ ...ACCOUNTS, MODEL_SWAP_TOKEN: 'x'.repeat(15), MODELS_ROOT: '/models' }), [
      'MODEL_SWAP_TOKEN must be at least 16 characters',
    ]);
    assert.equal(loadWebappSettings({ ...ACCOUNTS, MODEL_SWAP_TOKEN: 'x'.repeat(16), MODELS_ROOT: '/models' }).modelSwap?.token, 'x'.repeat(16));
  });

  it('when the swap settings and others are wrong, then one error names every one of them', () => {
    assert.deepEqual(problems({ ...ACCOUNTS, PORT: '0', MODEL_SWAP_TOKEN: 'short' }), [
      'PORT must be between 1 and 65535, got 0',
      'MODEL_SWAP_TOKEN must be at least 16 characters',
      'MODELS_ROOT is required when MODEL_SWAP_TOKEN is set',
    ]);
  });
});
