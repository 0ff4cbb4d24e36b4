import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SettingsError } from '@mlpl/shared';
import { parseInterval } from './interval.js';
import { DEFAULT_DATA_DIR, DEFAULT_PRETRAINED_DIR, loadTrainingSettings, parseClasses } from './settings.js';

const REQUIRED = {
  MYSQL_USER: 'u',
  MYSQL_PASSWORD: 'database-password-0123',
  STORAGE_ACCESS_KEY: 'a',
  STORAGE_SECRET_KEY: 'storage-secret-key-0123',
  TRAINING_TOKEN: 'training-token-0123',
  APPBUILDER_TOKEN: 'appbuilder-token-0123',
};

function problems(env: Record<string, string>): readonly string[] {
  try {
    loadTrainingSettings(env);
  } catch (error) {
    if (error instanceof SettingsError) return error.problems;
    throw error;
  }
  return [];
}

describe('training settings', () => {
  test('when only the accounts and tokens are given, then the defaults are the seed\'s and the compose names', () => {
    const settings = loadTrainingSettings(REQUIRED);
    assert.equal(settings.port, 5001);
    assert.deepEqual(settings.schedule, { expression: '*/10 * * * * *', description: 'every 10s' });
    assert.equal(settings.threshold, 10);
    assert.equal(settings.classThreshold, undefined);
    assert.equal(settings.tolerance, 0.01);
    assert.equal(settings.mode, 'fine-tune');
    assert.equal(settings.dataset, 'mnist');
    assert.deepEqual(settings.classes, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.equal(settings.appbuilder.url, 'http://appbuilder:5000/');
    assert.equal(settings.database.host, 'database');
    assert.equal(settings.storage.host, 'storage');
    assert.equal(settings.pretrainedDir, DEFAULT_PRETRAINED_DIR);
    assert.equal(settings.dataDir, DEFAULT_DATA_DIR);
    assert.match(DEFAULT_PRETRAINED_DIR, /pretrained$/);
  });

  test('when settings are given, then they are used', () => {
    const settings = loadTrainingSettings({
      ...REQUIRED,
      TRAINING_INTERVAL: '5m',
      TRAINING_THRESHOLD: '50',
      TRAINING_CLASS_THRESHOLD: '200',
      TRAINING_TOLERANCE: '0.005',
      TRAINING_MODE: 'scratch',
      TRAINING_DATASET: 'fashion-mnist',
      TRAINING_NUMBERS: '0-2, 7',
      TRAINING_EPOCHS: '4',
      APPBUILDER_URL: 'http://127.0.0.1:5000/',
    });
    assert.equal(settings.schedule.expression, '0 */5 * * * *');
    assert.deepEqual(
      [settings.threshold, settings.classThreshold, settings.tolerance, settings.mode, settings.dataset, settings.epochs],
      [50, 200, 0.005, 'scratch', 'fashion-mnist', 4],
    );
    assert.deepEqual(settings.classes, [0, 1, 2, 7]);
  });

  test('when everything is wrong, then one error names every problem', () => {
    assert.deepEqual(
      problems({
        TRAINING_INTERVAL: '7s',
        TRAINING_NUMBERS: '5',
        TRAINING_TOKEN: 'short',
        TRAINING_THRESHOLD: '0',
        TRAINING_TOLERANCE: 'lots',
        TRAINING_MODE: 'quick',
        TRAINING_DATASET: 'cifar',
        TRAINING_HELD_OUT_SHARE: '0.95',
        APPBUILDER_URL: 'ftp://appbuilder',
        MNIST_BASE_URL: 'not a url',
      }),
      [
        'TRAINING_INTERVAL "7s" must divide a minute evenly (e.g. 5s, 10s, 30s), or be a cron expression',
        'TRAINING_NUMBERS: at least two classes are needed to learn anything',
        'TRAINING_TOKEN must be at least 16 characters',
        'TRAINING_THRESHOLD must be between 1 and 1000000, got 0',
        'TRAINING_TOLERANCE must be a number, got "lots"',
        'TRAINING_MODE must be one of fine-tune, scratch, got "quick"',
        'TRAINING_DATASET must be one of mnist, fashion-mnist, got "cifar"',
        'TRAINING_HELD_OUT_SHARE must be between 0 and 0.9, got 0.95',
        'MNIST_BASE_URL must be an http(s) URL, got "not a url"',
        'APPBUILDER_URL must be an http(s) URL, got "ftp://appbuilder"',
        'APPBUILDER_TOKEN is required',
        'MYSQL_USER is required',
        'MYSQL_PASSWORD is required',
        'STORAGE_ACCESS_KEY is required',
        'STORAGE_SECRET_KEY is required',
      ],
    );
  });

  test('when a token is a placeholder, then the error names it', () => {
    assert.deepEqual(
      problems({ ...REQUIRED, TRAINING_TOKEN: 'change-me-training-token', APPBUILDER_TOKEN: 'changeme' }).map((p) => p.split(';')[0]),
      ['TRAINING_TOKEN is a placeholder', 'APPBUILDER_TOKEN is a placeholder'],
    );
  });
});

describe('parseInterval', () => {
  test('when a duration divides its unit, then it becomes a cron step', () => {
    assert.deepEqual(parseInterval('10'), { expression: '*/10 * * * * *', description: 'every 10s' });
    assert.deepEqual(parseInterval('30s'), { expression: '*/30 * * * * *', description: 'every 30s' });
    assert.deepEqual(parseInterval('60s'), { expression: '0 * * * * *', description: 'every 60s' });
    assert.deepEqual(parseInterval('15m'), { expression: '0 */15 * * * *', description: 'every 15m' });
    assert.deepEqual(parseInterval('6h'), { expression: '0 0 */6 * * *', description: 'every 6h' });
    assert.deepEqual(parseInterval('24h'), { expression: '0 0 0 * * *', description: 'every 24h' });
  });

  test('when a cron expression is given, then it is kept', () => {
    assert.deepEqual(parseInterval('0 3 * * *'), { expression: '0 3 * * *', description: 'cron "0 3 * * *"' });
    assert.deepEqual(parseInterval('*/5 * * * * *'), { expression: '*/5 * * * * *', description: 'cron "*/5 * * * * *"' });
  });

  test('when a value is neither, then the reason says so', () => {
    for (const bad of ['0', '0s', '45s', '7m', '5h', '61', '10 seconds', '* * *', '99 * * * *', '']) {
      assert.equal(typeof parseInterval(bad), 'string', bad);
    }
  });
});

describe('parseClasses', () => {
  test('when lists and ranges mix, then the classes come out sorted once each', () => {
    assert.deepEqual(parseClasses('7,0-2, 1'), [0, 1, 2, 7]);
    assert.deepEqual(parseClasses('0-9'), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  test('when a part is not a digit or a range, then it is refused', () => {
    for (const bad of ['10', '3-1', 'a', '1,,2', '-1', '4', '4,4']) assert.equal(typeof parseClasses(bad), 'string', bad);
  });
});
