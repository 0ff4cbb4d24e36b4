import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SettingsError } from '@mlpl/shared';
import { loadAppbuilderSettings, repositoryOf } from './settings.js';

const REQUIRED = { MYSQL_USER: 'u', MYSQL_PASSWORD: 'p', APPBUILDER_TOKEN: 'appbuilder-token-0123' };

describe('appbuilder settings', () => {
  test('when only the account and token are given, then the defaults match compose', () => {
    const settings = loadAppbuilderSettings(REQUIRED);
    assert.equal(settings.port, 5000);
    assert.equal(settings.webappImage, 'mywebapp');
    assert.equal(settings.webappContainer, 'mlpl-webapp');
    assert.equal(settings.webappPort, 5050);
    assert.equal(settings.reach, 'network');
    assert.equal(settings.registry, undefined);
    assert.equal(settings.database.host, 'database');
    assert.equal(repositoryOf(settings), 'mywebapp');
  });

  test("when LOCAL_REGISTRY is set as compose writes it (with a slash), then images are named in it", () => {
    const settings = loadAppbuilderSettings({ ...REQUIRED, LOCAL_REGISTRY: 'localhost:5000/' });
    assert.equal(settings.registry, 'localhost:5000');
    assert.equal(repositoryOf(settings), 'localhost:5000/mywebapp');
  });

  test('when settings are wrong, then one error names each', () => {
    assert.throws(
      () => loadAppbuilderSettings({ APPBUILDER_TOKEN: 'short', WEBAPP_IMAGE: 'My Webapp', LOCAL_REGISTRY: 'http://x', DEPLOY_REACH: 'magic', HEALTH_TIMEOUT_MS: '5' }),
      (error: unknown) =>
        error instanceof SettingsError &&
        JSON.stringify(error.problems) ===
          JSON.stringify([
            'APPBUILDER_TOKEN must be at least 16 characters',
            'DEPLOY_REACH must be one of network, host, published, got "magic"',
            'HEALTH_TIMEOUT_MS must be between 1000 and 600000, got 5',
            'MYSQL_USER is required',
            'MYSQL_PASSWORD is required',
            'WEBAPP_IMAGE must be an image repository name, got "My Webapp"',
            'LOCAL_REGISTRY must be host[:port], got "http://x"',
          ]),
    );
  });
});
