import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EnvReader, readDatabaseSettings, readLogLevel, readStorageSettings, SettingsError } from './settings.js';

function read(env: Record<string, string>) {
  const reader = new EnvReader(env);
  const settings = { database: readDatabaseSettings(reader), storage: readStorageSettings(reader), logLevel: readLogLevel(reader) };
  reader.done();
  return settings;
}

const ACCOUNTS = { MYSQL_USER: 'app', MYSQL_PASSWORD: 'pw', STORAGE_ACCESS_KEY: 'ak', STORAGE_SECRET_KEY: 'sk' };

describe('settings', () => {
  it('when only the accounts are given, then the defaults are the compose service names', () => {
    assert.deepEqual(read(ACCOUNTS), {
      database: { host: 'database', port: 3306, database: 'mlpl', user: 'app', password: 'pw' },
      storage: {
        host: 'storage',
        port: 9000,
        useSSL: false,
        accessKey: 'ak',
        secretKey: 'sk',
        region: 'us-east-1',
        imagesBucket: 'images',
        modelsBucket: 'models',
      },
      logLevel: 'info',
    });
  });

  it('when several variables are wrong, then one error names every one of them', () => {
    const error = (() => {
      try {
        read({ DATABASE_PORT: '70000', STORAGE_PORT: 'abc', STORAGE_USE_SSL: 'maybe', LOG_LEVEL: 'loud', STORAGE_IMAGES_BUCKET: 'Bad_Bucket' });
      } catch (caught) {
        return caught;
      }
      return undefined;
    })();
    assert.ok(error instanceof SettingsError);
    assert.deepEqual(error.problems, [
      'DATABASE_PORT must be between 1 and 65535, got 70000',
      'MYSQL_USER is required',
      'MYSQL_PASSWORD is required',
      'STORAGE_PORT must be a whole number, got "abc"',
      'STORAGE_USE_SSL must be true or false, got "maybe"',
      'STORAGE_ACCESS_KEY is required',
      'STORAGE_SECRET_KEY is required',
      'STORAGE_IMAGES_BUCKET must be a valid bucket name, got "Bad_Bucket"',
      'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got "loud"',
    ]);
    assert.match(error.message, /invalid settings \(9\)/);
  });

  it('when a variable is blank, then it counts as unset', () => {
    assert.equal(read({ ...ACCOUNTS, DATABASE_HOST: '  ', STORAGE_USE_SSL: '' }).database.host, 'database');
  });

  it('when values are valid, then they are parsed', () => {
    const settings = read({ ...ACCOUNTS, DATABASE_PORT: '3307', STORAGE_USE_SSL: 'yes', LOG_LEVEL: 'debug' });
    assert.equal(settings.database.port, 3307);
    assert.equal(settings.storage.useSSL, true);
    assert.equal(settings.logLevel, 'debug');
  });

  it('when decimals and optional whole numbers are read, then bad ones are named and unset ones stay undefined', () => {
    const reader = new EnvReader({ SHARE: '0.25', DOT: '.5', BAD: '1e3', HIGH: '1.5', OPT: '7', OPT_BAD: 'x' });
    assert.equal(reader.number('SHARE', { min: 0, max: 1 }), 0.25);
    assert.equal(reader.number('DOT'), 0.5);
    assert.equal(reader.number('MISSING', { default: 0.1 }), 0.1);
    reader.number('BAD');
    reader.number('HIGH', { max: 1 });
    assert.equal(reader.optionalInt('OPT', { min: 1 }), 7);
    assert.equal(reader.optionalInt('UNSET'), undefined);
    reader.optionalInt('OPT_BAD');
    assert.throws(
      () => reader.done(),
      (error: unknown) =>
        error instanceof SettingsError &&
        error.problems.join('|') === 'BAD must be a number, got "1e3"|HIGH must be at most 1, got 1.5|OPT_BAD must be a whole number, got "x"',
    );
  });
});
