// `npm run test:compose`: the real docker-compose.yml, started and driven through its published
// ports only. No image registry is reached here, so an override file swaps the third-party images
// that cannot be pulled (MySQL, MinIO and its client, nginx, Adminer) for stand-ins built from
// Debian packages that take the same settings (scripts/compose-test/); our own images are built
// from the real Dockerfile on a local Node base image (scripts/make-base-image.sh).
// Not named *.test.ts: `npm test` does not run it; scripts/test.sh runs both.

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { chromium } from 'playwright-core';
import type { Browser } from 'playwright-core';
import { findMisclassified, sendFeedback, servedVersion, startLoad, predict } from './loop-support.js';
import type { Digit } from './loop-support.js';
import { REPO_ROOT, waitUntil } from './service-process.js';

const run = promisify(execFile);
const PROJECT = 'mlpl';
const OVERRIDE = 'scripts/compose-test/docker-compose.standins.yml';
const WEBAPP = 'http://127.0.0.1:5050';
const ADMINER = 'http://127.0.0.1:8080';
const VOLUMES = ['mlpl-database-volume', 'mlpl-storage-volume', 'mlpl-training-volume', 'mlpl-secrets-all', 'mlpl-secrets-database', 'mlpl-secrets-storage', 'mlpl-secrets-webapp', 'mlpl-secrets-training', 'mlpl-secrets-appbuilder'];
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
/** What each of our containers may find in /run/secrets: the ones it needs, no more. */
const SECRETS_OF: Record<string, string[]> = {
  webapp: ['admin_token', 'mysql_password', 'probe_token', 'storage_secret_key'],
  training: ['appbuilder_token', 'mysql_password', 'storage_secret_key', 'training_token'],
  appbuilder: ['admin_token', 'appbuilder_token', 'mysql_password', 'probe_token'],
};

let composeEnv: NodeJS.ProcessEnv = process.env;

/** Runs a command to its end, its output shown as it goes (builds take minutes). */
function loud(command: string, args: string[], env = composeEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      process.stderr.write(chunk);
    });
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`${command} ${args.join(' ')} exited with ${code}`))));
  });
}

async function quiet(command: string, args: string[]): Promise<string> {
  const { stdout } = await run(command, args, { cwd: REPO_ROOT, env: composeEnv, maxBuffer: 64 * 1024 * 1024 });
  return stdout.trim();
}

const compose = (...args: string[]) => loud('docker-compose', ['-f', 'docker-compose.yml', '-f', OVERRIDE, ...args]);

type Container = {
  Id: string;
  Name: string;
  State: { Running: boolean };
  Config: { Env: string[] | null; Labels: Record<string, string> | null };
  HostConfig: { PortBindings: Record<string, { HostIp: string; HostPort: string }[] | null> | null };
};

async function projectContainers(all = false): Promise<Container[]> {
  const ids = (await quiet('docker', ['ps', ...(all ? ['-a'] : []), '-q', '--filter', `label=com.docker.compose.project=${PROJECT}`])).split('\n').filter(Boolean);
  if (ids.length === 0) return [];
  return JSON.parse(await quiet('docker', ['inspect', ...ids])) as Container[];
}

const serviceOf = (container: Container) => container.Config.Labels?.['com.docker.compose.service'] ?? '';

async function waitReady(timeoutMs: number): Promise<void> {
  await waitUntil('the webapp to be ready behind the proxy on :5050', timeoutMs, async () => (await fetch(`${WEBAPP}/readyz`, { signal: AbortSignal.timeout(3000) })).ok, undefined, 1000);
}

async function correctionIds(): Promise<number[]> {
  const response = await fetch(`${WEBAPP}/api/corrections?limit=500`, { signal: AbortSignal.timeout(10_000) });
  assert.equal(response.status, 200);
  const body = (await response.json()) as { corrections: { id: number }[] };
  return body.corrections.map((row) => row.id).sort((a, b) => a - b);
}

describe('docker compose up, through the published ports', { timeout: 40 * 60_000 }, () => {
  let browser: Browser | undefined;
  let started = false;
  let firstVersion = '';
  let newVersion = '';

  before(async () => {
    const leftovers = [...(await projectContainers(true)).map((c) => c.Name), ...(await quiet('docker', ['volume', 'ls', '-q'])).split('\n').filter((name) => VOLUMES.includes(name))];
    if (leftovers.length > 0 && process.env.MLPL_COMPOSE_TEST_RESET !== '1') {
      throw new Error(`a compose project "${PROJECT}" is already here (${leftovers.join(', ')}); this test starts from nothing and removes what it made. Run "docker-compose down -v" first, or set MLPL_COMPOSE_TEST_RESET=1 to let the test do it.`);
    }
    const nodeImage = await loud('bash', ['scripts/make-base-image.sh'], process.env);
    await loud('bash', ['scripts/compose-test/build-standins.sh'], process.env);
    // The load during the rollout comes from this one address, far above a person's predictions
    // a minute: the webapp's rate limit would refuse most of it.
    composeEnv = { ...process.env, COMPOSE_PROJECT_NAME: PROJECT, NODE_IMAGE: nodeImage, TRAINING_INTERVAL: '5s', RATE_LIMIT_PREDICT_PER_MINUTE: '0' };
    await compose('down', '-v', '--remove-orphans');
    const builtAt = performance.now();
    await compose('build');
    console.log(`# images built in ${((performance.now() - builtAt) / 1000).toFixed(0)} s`);
    started = true;
    const upAt = performance.now();
    await compose('up', '-d');
    await waitReady(5 * 60_000);
    console.log(`# up and ready in ${((performance.now() - upAt) / 1000).toFixed(0)} s`);
    firstVersion = await servedVersion(WEBAPP);
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
  });

  after(async () => {
    await browser?.close().catch((error: unknown) => console.error('closing the browser:', error));
    if (!started) return;
    if (process.env.MLPL_COMPOSE_TEST_KEEP === '1') return;
    await compose('logs', '--no-color', '--tail', '40').catch(() => undefined);
    await compose('down', '-v', '--remove-orphans').catch((error: unknown) => console.error('compose down:', error));
    // The appbuilder's containers carry compose's labels, so down removes them; its images stay
    // (mywebapp:<version>): remove those this run made.
    const images = (await quiet('docker', ['images', '--format', '{{.Repository}}:{{.Tag}}', 'mywebapp']).catch(() => '')).split('\n').filter((tag) => tag !== '' && !tag.endsWith(':latest'));
    if (images.length > 0) await quiet('docker', ['rmi', '-f', ...images]).catch(() => undefined);
  });

  it('when a digit is drawn on the page, then it is predicted and the correction is stored', async () => {
    assert.ok(browser);
    const context = await browser.newContext({ viewport: { width: 1000, height: 800 } });
    try {
      const page = await context.newPage();
      page.setDefaultTimeout(20_000);
      await page.goto(WEBAPP);
      await page.locator('#model-version', { hasText: firstVersion }).waitFor();
      const box = await page.locator('#canvas').boundingBox();
      assert.ok(box);
      // A 7: the bar, then the stem.
      const at = (x: number, y: number) => [box.x + x * box.width, box.y + y * box.height] as const;
      await page.mouse.move(...at(0.3, 0.25));
      await page.mouse.down();
      await page.mouse.move(...at(0.7, 0.25), { steps: 8 });
      await page.mouse.move(...at(0.45, 0.8), { steps: 12 });
      await page.mouse.up();
      const before = await correctionIds();
      await page.locator('#predict').click();
      await page.locator('#result[data-state="answered"]').waitFor();
      assert.match((await page.locator('#digit').textContent()) ?? '', /^\d$/);
      await page.locator('[data-label="7"]').click();
      const status = page.locator('#status[data-kind="ok"], #status[data-kind="error"]');
      await status.waitFor();
      assert.equal(await status.getAttribute('data-kind'), 'ok', (await status.textContent()) ?? '');
      assert.equal((await correctionIds()).length, before.length + 1, 'one correction stored');
    } finally {
      await context.close();
    }
  });

  it('when enough corrections arrive, then training retrains and the appbuilder rolls the new image out behind the proxy with no failed request', async () => {
    const digits: Digit[] = await findMisclassified(WEBAPP, 9);
    const load = startLoad(WEBAPP, digits.map((digit) => digit.png), { concurrency: 4 });
    try {
      for (const digit of digits) {
        const prediction = await predict(WEBAPP, digit.png);
        const answer = await sendFeedback(WEBAPP, digit.png, digit.label, prediction.predictionId);
        assert.equal(answer.status, 201, JSON.stringify(answer.body));
      }
      await waitUntil('a new version to serve', 10 * 60_000, async () => {
        newVersion = await servedVersion(WEBAPP);
        return newVersion !== firstVersion;
      }, () => (load.report().failed > 0 ? `requests failed: ${load.report().failures.join('; ')}` : undefined), 1000);
      // Keep predicting while the old container drains and is removed.
      await new Promise((resolve) => setTimeout(resolve, 10_000));
    } finally {
      const report = await load.stop();
      console.log(`# rollout under load: ${report.ok} ok, ${report.failed} failed, longest gap ${report.longestGapMs.toFixed(0)} ms, versions ${JSON.stringify(report.versions)}`);
      assert.equal(report.failed, 0, report.failures.join('\n'));
      assert.ok((report.versions[newVersion] ?? 0) > 0, 'the new version answered the load');
    }
    const webapps = (await projectContainers()).filter((c) => serviceOf(c) === 'webapp');
    assert.equal(webapps.length, 1, `one webapp container runs: ${webapps.map((c) => c.Name).join(', ')}`);
    const image = (await quiet('docker', ['images', '-q', `mywebapp:${newVersion}`]));
    assert.notEqual(image, '', `mywebapp:${newVersion} was built`);
  });

  it('when the stack goes down and up again, then every correction is still there and the new version still serves', async () => {
    assert.notEqual(newVersion, '', 'a new version served before');
    const corrections = await correctionIds();
    await compose('down');
    await compose('up', '-d');
    await waitReady(5 * 60_000);
    assert.deepEqual(await correctionIds(), corrections);
    assert.equal(await servedVersion(WEBAPP), newVersion);
    const webapps = (await projectContainers(true)).filter((c) => serviceOf(c) === 'webapp');
    assert.equal(webapps.length, 1, `no orphan webapp containers: ${webapps.map((c) => c.Name).join(', ')}`);
  });

  it('when the consoles are looked for, then Adminer answers on 127.0.0.1:8080 and nothing but the page is published beyond loopback', async () => {
    const adminer = await fetch(`${ADMINER}/`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(adminer.status, 200);
    assert.match(await adminer.text(), /adminer/i);
    for (const container of await projectContainers()) {
      for (const [port, bindings] of Object.entries(container.HostConfig.PortBindings ?? {})) {
        for (const binding of bindings ?? []) {
          if (port === '5050/tcp') continue;
          assert.equal(binding.HostIp, '127.0.0.1', `${container.Name} publishes ${port} on ${binding.HostIp || 'every interface'}`);
        }
      }
    }
  });

  it('when the Docker engine is looked for, then only docker-proxy holds its socket, the appbuilder (as node) is refused what it does not use, and the webapp cannot reach it', async () => {
    const containers = await projectContainers();
    const inspected = JSON.parse(await quiet('docker', ['inspect', ...containers.map((c) => c.Id)])) as (Container & { Mounts: { Source: string }[] })[];
    assert.deepEqual(inspected.filter((c) => c.Mounts.some((mount) => mount.Source === '/var/run/docker.sock')).map(serviceOf), ['docker-proxy']);
    const appbuilder = containers.find((c) => serviceOf(c) === 'appbuilder');
    const webapp = containers.find((c) => serviceOf(c) === 'webapp');
    assert.ok(appbuilder && webapp);
    assert.equal(await quiet('docker', ['exec', appbuilder.Id, 'id', '-un']), 'node');
    const ask = (id: string, method: string, target: string, body?: string) =>
      quiet('docker', ['exec', id, 'node', '-e', `fetch('http://docker-proxy:2375${target}', { method: '${method}', signal: AbortSignal.timeout(5000)${body === undefined ? '' : `, headers: { 'content-type': 'application/json' }, body: '${body}'`} }).then((r) => console.log(r.status), (e) => console.log('unreachable: ' + (e.cause?.code ?? e.message)))`]);
    assert.equal(await ask(appbuilder.Id, 'GET', '/_ping'), '200');
    assert.equal(await ask(appbuilder.Id, 'GET', '/volumes'), '403');
    assert.equal(await ask(appbuilder.Id, 'POST', '/containers/create', '{"Image":"mywebapp:latest","HostConfig":{"Binds":["/:/host"],"Privileged":true}}'), '403');
    assert.match(await ask(webapp.Id, 'GET', '/_ping'), /^unreachable/);
  });

  it('when the containers are inspected, then no secret is in any environment and each service holds only its own secrets', async () => {
    const secretValues = (await quiet('docker', ['run', '--rm', '--entrypoint', 'sh', '-v', 'mlpl-secrets-all:/s:ro', 'mlpl-secrets:latest', '-c', 'for f in /s/*; do cat "$f"; echo; done'])).split('\n').filter((value) => value.length >= 16);
    assert.ok(secretValues.length >= 8, `the secrets were made (${secretValues.length})`);
    // The README's command shows the admin token again.
    const adminToken = (await quiet('docker-compose', ['-f', 'docker-compose.yml', '-f', OVERRIDE, 'run', '--rm', '-T', 'secrets', 'admin-token'])).split('\n').pop() ?? '';
    assert.ok(adminToken.length >= 16 && secretValues.includes(adminToken), 'docker compose run --rm secrets admin-token prints the admin token');
    for (const container of await projectContainers()) {
      for (const entry of container.Config.Env ?? []) {
        const [name = '', value = ''] = [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)];
        assert.doesNotMatch(value, /change-?me/i, `${container.Name}: ${name} is a placeholder`);
        assert.ok(!secretValues.includes(value), `${container.Name}: ${name} holds a secret in its environment`);
        if (/PASSWORD|SECRET|TOKEN/.test(name)) assert.match(name, /_FILE$/, `${container.Name}: ${name} is passed as a value, not a file`);
      }
      const expected = SECRETS_OF[serviceOf(container)];
      if (expected !== undefined) {
        const found = (await quiet('docker', ['exec', container.Id, 'ls', '/run/secrets'])).split(/\s+/).filter(Boolean).sort();
        assert.deepEqual(found, expected, `${container.Name} holds exactly its own secrets`);
      }
    }
  });
});
