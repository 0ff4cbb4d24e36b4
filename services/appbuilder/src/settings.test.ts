import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, test } from 'node:test';
import { SettingsError } from '@mlpl/shared';
import { loadAppbuilderSettings, repositoryOf } from './settings.js';

const REQUIRED = { MYSQL_USER: 'u', MYSQL_PASSWORD: 'database-password-0123', APPBUILDER_TOKEN: 'appbuilder-token-0123' };

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
    assert.equal(settings.target, 'docker');
    assert.equal(settings.process, undefined);
    assert.equal(settings.runAs, 'node');
    assert.equal(settings.healthTimeoutMs, 60_000);
    assert.equal(settings.dockerHost, 'tcp://docker-proxy:2375', "compose's Docker API proxy");
    assert.deepEqual(settings.validation, { memoryMb: 2048, timeoutMs: 30_000 });
  });

  test('when the validation limits are set, then they are kept; below what Node needs to start, or not numbers, they are named', () => {
    assert.deepEqual(loadAppbuilderSettings({ ...REQUIRED, VALIDATION_MEMORY_MB: '4096', VALIDATION_TIMEOUT_MS: '60000' }).validation, { memoryMb: 4096, timeoutMs: 60_000 });
    assert.throws(
      () => loadAppbuilderSettings({ ...REQUIRED, VALIDATION_MEMORY_MB: '1024', VALIDATION_TIMEOUT_MS: 'soon' }),
      (error: unknown) =>
        error instanceof SettingsError &&
        JSON.stringify(error.problems) === JSON.stringify(['VALIDATION_MEMORY_MB must be between 1280 and 65536, got 1024', 'VALIDATION_TIMEOUT_MS must be a whole number, got "soon"']),
    );
  });

  test('when DOCKER_HOST is a TCP address or a socket, then it is kept; anything else, or the old DOCKER_SOCKET, is named', () => {
    for (const value of ['tcp://127.0.0.1:2375', 'tcp://[::1]:2375', 'unix:///var/run/docker.sock']) {
      assert.equal(loadAppbuilderSettings({ ...REQUIRED, DOCKER_HOST: value }).dockerHost, value);
    }
    for (const value of ['/var/run/docker.sock', 'http://docker-proxy:2375', 'tcp://docker-proxy', 'ssh://me@host', 'unix://relative.sock']) {
      assert.throws(
        () => loadAppbuilderSettings({ ...REQUIRED, DOCKER_HOST: value }),
        (error: unknown) => error instanceof SettingsError && JSON.stringify(error.problems) === JSON.stringify([`DOCKER_HOST must be tcp://host:port or unix:///path, got "${value}"`]),
        value,
      );
    }
    assert.throws(
      () => loadAppbuilderSettings({ ...REQUIRED, DOCKER_SOCKET: '/var/run/docker.sock' }),
      (error: unknown) => error instanceof SettingsError && /^DOCKER_SOCKET is no longer read: set DOCKER_HOST/.test(error.problems[0] ?? ''),
    );
  });

  test('when PROBE_TOKEN is not set, then the gate sends none; when set, it is used; when short, it is named', () => {
    assert.equal(loadAppbuilderSettings(REQUIRED).probeToken, undefined);
    assert.equal(loadAppbuilderSettings({ ...REQUIRED, PROBE_TOKEN: 'a-probe-token-of-enough' }).probeToken, 'a-probe-token-of-enough');
    assert.throws(
      () => loadAppbuilderSettings({ ...REQUIRED, PROBE_TOKEN: 'short' }),
      (error: unknown) => error instanceof SettingsError && JSON.stringify(error.problems) === JSON.stringify(['PROBE_TOKEN must be at least 16 characters']),
    );
  });

  test('when DEPLOY_TARGET is process with its folder and token, then the webapp is looked for on the local stack\'s port', () => {
    const settings = loadAppbuilderSettings({ ...REQUIRED, DEPLOY_TARGET: 'process', MODELS_ROOT: 'run/models', MODEL_SWAP_TOKEN: 'model-swap-token-0123' });
    assert.equal(settings.target, 'process');
    assert.deepEqual(settings.process, { modelsRoot: path.resolve('run/models'), webappUrl: 'http://127.0.0.1:5050', swapToken: 'model-swap-token-0123' });
    assert.equal(settings.runAs, 'node');
  });

  test('when WEBAPP_URL ends in a slash or APPBUILDER_USER is set, then the slash is dropped and the user kept', () => {
    const settings = loadAppbuilderSettings({ ...REQUIRED, DEPLOY_TARGET: 'process', MODELS_ROOT: '/srv/models', MODEL_SWAP_TOKEN: 'model-swap-token-0123', WEBAPP_URL: 'https://webapp.internal:8443/', APPBUILDER_USER: 'root' });
    assert.equal(settings.process?.webappUrl, 'https://webapp.internal:8443');
    assert.equal(settings.process?.modelsRoot, '/srv/models');
    assert.equal(settings.runAs, 'root');
  });

  test('when DEPLOY_TARGET is process without MODELS_ROOT and MODEL_SWAP_TOKEN, then one error names both', () => {
    assert.throws(
      () => loadAppbuilderSettings({ ...REQUIRED, DEPLOY_TARGET: 'process' }),
      (error: unknown) => error instanceof SettingsError && JSON.stringify(error.problems) === JSON.stringify(['MODELS_ROOT is required', 'MODEL_SWAP_TOKEN is required']),
    );
  });

  test('when the process target\'s token is short or WEBAPP_URL is not http(s)://host[:port], then each is named', () => {
    for (const [webappUrl, shown] of [
      ['ftp://127.0.0.1:5050', 'ftp://127.0.0.1:5050'],
      ['127.0.0.1:5050', '127.0.0.1:5050'],
      ['http://127.0.0.1:5050/api', 'http://127.0.0.1:5050/api'],
      ['http://', 'http:'],
    ] as const) {
      assert.throws(
        () => loadAppbuilderSettings({ ...REQUIRED, DEPLOY_TARGET: 'process', MODELS_ROOT: '/srv/models', MODEL_SWAP_TOKEN: 'short', WEBAPP_URL: webappUrl }),
        (error: unknown) =>
          error instanceof SettingsError &&
          JSON.stringify(error.problems) === JSON.stringify([`WEBAPP_URL must be http(s)://host[:port], got "${shown}"`, 'MODEL_SWAP_TOKEN must be at least 16 characters']),
        webappUrl,
      );
    }
  });

  test('when DEPLOY_TARGET is unknown, then it is named with the choices, and the process settings are not asked for', () => {
    assert.throws(
      () => loadAppbuilderSettings({ ...REQUIRED, DEPLOY_TARGET: 'kubernetes' }),
      (error: unknown) => error instanceof SettingsError && JSON.stringify(error.problems) === JSON.stringify(['DEPLOY_TARGET must be one of docker, process, got "kubernetes"']),
    );
  });

  test('when ADMIN_TOKEN is set, then deployments accept it; a short one or a placeholder is named', () => {
    assert.equal(loadAppbuilderSettings(REQUIRED).adminToken, undefined);
    assert.equal(loadAppbuilderSettings({ ...REQUIRED, ADMIN_TOKEN: 'admin-token-0123456' }).adminToken, 'admin-token-0123456');
    assert.throws(
      () => loadAppbuilderSettings({ ...REQUIRED, ADMIN_TOKEN: 'short' }),
      (error: unknown) => error instanceof SettingsError && error.problems.includes('ADMIN_TOKEN must be at least 16 characters'),
    );
    assert.throws(
      () => loadAppbuilderSettings({ ...REQUIRED, ADMIN_TOKEN: 'change-me-admin-token' }),
      (error: unknown) => error instanceof SettingsError && error.problems.length === 1 && /^ADMIN_TOKEN is a placeholder/.test(error.problems[0] ?? ''),
    );
  });

  test('when nothing says how to roll out, then compose (network reach) rolls out side by side and the host and published reaches in place', () => {
    const compose = loadAppbuilderSettings(REQUIRED);
    assert.deepEqual([compose.rollout, compose.proxyUrl, compose.drainGraceMs, compose.imageRetention], ['side-by-side', undefined, 30_000, 10]);
    assert.equal(loadAppbuilderSettings({ ...REQUIRED, DEPLOY_REACH: 'host' }).rollout, 'in-place');
    assert.equal(loadAppbuilderSettings({ ...REQUIRED, DEPLOY_REACH: 'published' }).rollout, 'in-place');
    assert.equal(loadAppbuilderSettings({ ...REQUIRED, WEBAPP_ROLLOUT: 'in-place' }).rollout, 'in-place');
    const set = loadAppbuilderSettings({ ...REQUIRED, PROXY_URL: 'http://proxy:5050/', DRAIN_GRACE_MS: '0', IMAGE_RETENTION: '3' });
    assert.deepEqual([set.proxyUrl, set.drainGraceMs, set.imageRetention], ['http://proxy:5050', 0, 3]);
  });

  test('when a side-by-side rollout is asked for with published ports, or the rollout settings are wrong, then one error names each', () => {
    assert.throws(
      () => loadAppbuilderSettings({ ...REQUIRED, DEPLOY_REACH: 'published', WEBAPP_ROLLOUT: 'side-by-side', PROXY_URL: 'proxy:5050', DRAIN_GRACE_MS: '-1', IMAGE_RETENTION: 'all' }),
      (error: unknown) =>
        error instanceof SettingsError &&
        JSON.stringify(error.problems) ===
          JSON.stringify([
            'DRAIN_GRACE_MS must be between 0 and 600000, got -1',
            'IMAGE_RETENTION must be a whole number, got "all"',
            'WEBAPP_ROLLOUT=side-by-side needs DEPLOY_REACH=network or host, got "published"',
            'PROXY_URL must be http(s)://host[:port], got "proxy:5050"',
          ]),
    );
    assert.throws(
      () => loadAppbuilderSettings({ ...REQUIRED, WEBAPP_ROLLOUT: 'blue-green' }),
      (error: unknown) => error instanceof SettingsError && JSON.stringify(error.problems) === JSON.stringify(['WEBAPP_ROLLOUT must be one of side-by-side, in-place, got "blue-green"']),
    );
  });

  test('when side by side runs under host networking (the stack) with its two ports, then they are kept; network reach needs none', () => {
    const stack = loadAppbuilderSettings({ ...REQUIRED, DEPLOY_REACH: 'host', WEBAPP_ROLLOUT: 'side-by-side', WEBAPP_PORTS: ' 5051, 5052 ', PROXY_URL: 'http://127.0.0.1:5050' });
    assert.deepEqual([stack.rollout, stack.reach, stack.webappPorts, stack.proxyUrl], ['side-by-side', 'host', [5051, 5052], 'http://127.0.0.1:5050']);
    assert.equal(loadAppbuilderSettings(REQUIRED).webappPorts, undefined);
    assert.equal(loadAppbuilderSettings({ ...REQUIRED, WEBAPP_PORTS: '5051,5052' }).webappPorts, undefined, 'only side by side under host networking uses them');
    assert.equal(loadAppbuilderSettings({ ...REQUIRED, DEPLOY_REACH: 'host', WEBAPP_PORTS: '5051,5052' }).rollout, 'in-place', 'the default rollout under host reach stays in place');
  });

  test('when side by side under host networking lacks WEBAPP_PORTS or they are not two different ports, then it is named', () => {
    const problems = (env: Record<string, string>) => {
      try {
        loadAppbuilderSettings({ ...REQUIRED, DEPLOY_REACH: 'host', WEBAPP_ROLLOUT: 'side-by-side', ...env });
      } catch (error) {
        if (error instanceof SettingsError) return error.problems;
        throw error;
      }
      return [];
    };
    assert.deepEqual(problems({}), ['WEBAPP_ROLLOUT=side-by-side with DEPLOY_REACH=host needs WEBAPP_PORTS (two host ports, "A,B")']);
    for (const raw of ['5051', '5051,5051', '5051,5052,5053', '5051,port', '0,5052', '5051,70000', '5051;5052']) {
      assert.deepEqual(problems({ WEBAPP_PORTS: raw }), [`WEBAPP_PORTS must be two different ports "A,B", got "${raw}"`], raw);
    }
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
