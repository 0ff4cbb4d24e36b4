import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { EnvReader, isPlaceholder, readDatabaseSettings, readLogLevel, readStorageSettings, SettingsError, toDatabaseEnv, toStorageEnv } from './settings.js';
import type { DatabaseSettings, StorageSettings } from './settings.js';

function read(env: Record<string, string>) {
  const reader = new EnvReader(env);
  const settings = { database: readDatabaseSettings(reader), storage: readStorageSettings(reader), logLevel: readLogLevel(reader) };
  reader.done();
  return settings;
}

const PASSWORD = 'a-database-password-of-enough';
const SECRET_KEY = 'a-storage-secret-key-of-enough';
const ACCOUNTS = { MYSQL_USER: 'app', MYSQL_PASSWORD: PASSWORD, STORAGE_ACCESS_KEY: 'ak', STORAGE_SECRET_KEY: SECRET_KEY };

function problems(env: Record<string, string>): readonly string[] {
  try {
    read(env);
  } catch (error) {
    if (error instanceof SettingsError) return error.problems;
    throw error;
  }
  return [];
}

describe('settings', () => {
  it('when only the accounts are given, then the defaults are the compose service names', () => {
    assert.deepEqual(read(ACCOUNTS), {
      database: { host: 'database', port: 3306, database: 'mlpl', user: 'app', password: PASSWORD },
      storage: {
        host: 'storage',
        port: 9000,
        useSSL: false,
        accessKey: 'ak',
        secretKey: SECRET_KEY,
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

describe('settings written back as variables', () => {
  // No field at its default: a variable the writer forgot would read back as the default.
  const database: DatabaseSettings = { host: 'db.internal', port: 3307, database: 'mlpl_other', user: 'app', password: PASSWORD };
  const storage: StorageSettings = {
    host: 'minio.internal',
    port: 9443,
    useSSL: true,
    accessKey: 'ak',
    secretKey: SECRET_KEY,
    region: 'eu-west-1',
    imagesBucket: 'other-images',
    modelsBucket: 'other-models',
  };

  it('when database settings are written and read again, then they are the same', () => {
    const reader = new EnvReader(toDatabaseEnv(database));
    assert.deepEqual(readDatabaseSettings(reader), database);
    reader.done();
  });

  it('when storage settings are written and read again, then they are the same', () => {
    const reader = new EnvReader(toStorageEnv(storage));
    assert.deepEqual(readStorageSettings(reader), storage);
    reader.done();
  });
});

describe('settings from files (NAME_FILE)', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mlpl-settings-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, content: string) => {
    const full = path.join(dir, name);
    writeFileSync(full, content);
    return full;
  };
  const { MYSQL_PASSWORD: _password, ...withoutPassword } = ACCOUNTS;

  it('when MYSQL_PASSWORD_FILE names a file, then its content is the password, trailing newline dropped', () => {
    const settings = read({ ...withoutPassword, MYSQL_PASSWORD_FILE: file('mysql_password', `${PASSWORD}\n`) });
    assert.equal(settings.database.password, PASSWORD);
  });

  it('when a setting that is no secret names a file, then it is read too; a blank NAME counts as unset', () => {
    const settings = read({ ...ACCOUNTS, DATABASE_HOST: ' ', DATABASE_HOST_FILE: file('host', 'db.internal\n'), DATABASE_PORT_FILE: file('port', '3307') });
    assert.deepEqual([settings.database.host, settings.database.port], ['db.internal', 3307]);
  });

  it('when both NAME and NAME_FILE are set, then the error says to set one', () => {
    assert.deepEqual(problems({ ...ACCOUNTS, MYSQL_PASSWORD_FILE: file('both', PASSWORD) }), ['set MYSQL_PASSWORD or MYSQL_PASSWORD_FILE, not both']);
  });

  it('when the file is missing or empty, then the error names the variable and the path, once, beside every other problem', () => {
    const missing = path.join(dir, 'no-such-file');
    const empty = file('empty', '\n');
    const { STORAGE_SECRET_KEY: _key, ...withoutKey } = withoutPassword;
    assert.deepEqual(problems({ ...withoutKey, MYSQL_PASSWORD_FILE: missing, STORAGE_SECRET_KEY_FILE: empty, LOG_LEVEL: 'loud' }), [
      `MYSQL_PASSWORD_FILE names ${missing}, which cannot be read (ENOENT)`,
      `STORAGE_SECRET_KEY_FILE names ${empty}, which is empty`,
      'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got "loud"',
    ]);
  });

  it('when NAME_FILE names a folder, then it cannot be read, and says why', () => {
    assert.deepEqual(problems({ ...withoutPassword, MYSQL_PASSWORD_FILE: dir }), [`MYSQL_PASSWORD_FILE names ${dir}, which cannot be read (EISDIR)`]);
  });
});

describe('secrets', () => {
  it('when a secret is a placeholder, then the error names it and says what to do, whatever its length', () => {
    for (const placeholder of ['change-me', 'CHANGE-ME-please-a-long-one', 'changeme', 'password', 'secret', 'Password123']) {
      const found = problems({ ...ACCOUNTS, MYSQL_PASSWORD: placeholder });
      assert.equal(found.length, 1, `${placeholder}: ${found.join('; ')}`);
      assert.match(found[0] ?? '', /^MYSQL_PASSWORD is a placeholder; set it \(or MYSQL_PASSWORD_FILE\) to a random value of at least 16 characters/);
    }
  });

  it('when a secret from a file is a placeholder, then it is refused like one from the environment', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mlpl-settings-'));
    try {
      const file = path.join(dir, 'storage_secret_key');
      writeFileSync(file, 'change-me-storage-secret-key\n');
      const { STORAGE_SECRET_KEY: _key, ...rest } = ACCOUNTS;
      assert.match(problems({ ...rest, STORAGE_SECRET_KEY_FILE: file }).join('; '), /^STORAGE_SECRET_KEY is a placeholder/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('when a secret is shorter than 16 characters, then the error names it', () => {
    assert.deepEqual(problems({ ...ACCOUNTS, MYSQL_PASSWORD: 'x'.repeat(15), STORAGE_SECRET_KEY: 'sk' }), [
      'MYSQL_PASSWORD must be at least 16 characters',
      'STORAGE_SECRET_KEY must be at least 16 characters',
    ]);
  });

  it('when an optional secret is unset, then it is undefined; set, it is checked', () => {
    const reader = new EnvReader({ GOOD: 'x'.repeat(16), SHORT: 'abc', TEMPLATE: 'change-me' });
    assert.equal(reader.optionalSecret('UNSET'), undefined);
    assert.equal(reader.optionalSecret('GOOD'), 'x'.repeat(16));
    reader.optionalSecret('SHORT');
    reader.optionalSecret('TEMPLATE');
    assert.throws(
      () => reader.done(),
      (error: unknown) => error instanceof SettingsError && error.problems.length === 2 && /^SHORT must be at least 16/.test(error.problems[0] ?? '') && /^TEMPLATE is a placeholder/.test(error.problems[1] ?? ''),
    );
  });

  it('when a value only contains a placeholder word, then it is no placeholder', () => {
    assert.equal(isPlaceholder('mlpl-test-password-3f9a'), false);
    assert.equal(isPlaceholder('secretive-but-random-9f8e7d'), false);
    assert.equal(isPlaceholder('Change_Me_later'), true);
    assert.equal(isPlaceholder('replace-me'), true);
  });
});
