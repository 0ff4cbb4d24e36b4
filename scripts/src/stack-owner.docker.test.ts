import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createContainer, createDocker, inspectContainer, removeContainer, startContainer } from '@mlpl/appbuilder/docker';
import { requireDocker } from '@mlpl/appbuilder/docker-fixtures';
import { LABELS } from '@mlpl/appbuilder/images';
import { webappContainers } from '@mlpl/appbuilder/side-by-side';
import { freePort } from '@mlpl/shared/testing';
import { correct, someDigits } from './loop-support.js';
import { feedbackRows, removeDockerLeftovers, testProxyImage } from './loop-fixtures.js';
import { listening, waitUntil } from './service-process.js';
import { derivedNames, OWNER_LABEL, resolveDockerNames } from './stack-docker.js';
import type { DockerNames } from './stack-docker.js';
import { startStack } from './stack.js';
import type { Stack, StackOptions } from './stack.js';

/**
 * The Docker target's containers belong to one state folder: what another folder (or another
 * checkout, or this folder before it was deleted) left under the same names is never restarted
 * as if it were this stack's. The earlier fixed names (`legacy`) are unique here, not the real
 * mlpl-stack-webapp a user's own stack may hold.
 */
describe("the stack's Docker target and the containers it did not make", () => {
  const docker = createDocker('/var/run/docker.sock');
  const suffix = randomBytes(3).toString('hex');
  const legacy: DockerNames = { container: `mlpl-stackwt-legacy-${suffix}`, repo: `mlpl-stackwt-legacy-${suffix}/mywebapp` };
  let image: string;
  let stateDir: string;
  let names: DockerNames;
  let options: StackOptions;
  let stack: Stack | undefined;
  const said: string[] = [];

  /** A container as a stack's webapp would be (never started): a model version label, a database password. */
  const leftover = (name: string, password: string, labels: Record<string, string> = {}) =>
    createContainer(docker, { name, Image: image, Env: [`MYSQL_PASSWORD=${password}`, 'PORT=5051'], Labels: { [LABELS.version]: 'pretrained-1', ...labels } });

  before(async () => {
    await requireDocker();
    image = await testProxyImage();
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'mlpl-stack-owner-'));
    names = derivedNames(stateDir);
    options = {
      stateDir,
      deploy: 'docker',
      proxyImage: image,
      legacyDocker: legacy,
      trainingInterval: '1h',
      ports: {
        webapp: await freePort(),
        training: await freePort(),
        appbuilder: await freePort(),
        database: await freePort(),
        storage: await freePort(),
        webappContainers: [await freePort(), await freePort()],
      },
    };
  });

  after(async () => {
    await stack?.stop();
    if (names !== undefined) await removeDockerLeftovers(names.repo, names.container);
    await removeDockerLeftovers(legacy.repo, legacy.container);
    if (stateDir !== undefined) await rm(stateDir, { recursive: true, force: true });
  });

  test('when containers under the earlier fixed names reach the database with this folder\'s password, then they are kept; made by another folder, then they are left alone and named', async () => {
    const owner = { stateDir, databasePassword: 'this-folder' };
    const proxyConfig = path.join(stateDir, 'proxy', 'nginx.conf');
    const id = await leftover(legacy.container, 'this-folder');
    try {
      const kept = await resolveDockerNames(docker, { owner, proxyConfig, legacy });
      assert.deepEqual(kept.names, legacy);
      const other = await resolveDockerNames(docker, { owner: { stateDir, databasePassword: 'a-new-folder' }, proxyConfig, legacy });
      assert.deepEqual(other.names, names);
      assert.match(other.names.container, /^mlpl-stack-[0-9a-f]{8}-webapp$/);
      assert.match(other.notes.join('\n'), new RegExp(`${legacy.container} \\(created\\): it has no state folder label and its database password is not the one in ${path.join(stateDir, 'secrets.json')}[^]*when no longer needed: docker rm -f ${legacy.container}$`));
    } finally {
      await removeContainer(docker, id);
    }
  });

  test('when this folder was deleted and made again, then what the old one left under its names is refused: it cannot reach the new database', async () => {
    const owner = { stateDir, databasePassword: 'the-new-folder' };
    const id = await leftover(names.container, 'the-old-folder', { [OWNER_LABEL]: stateDir });
    try {
      await assert.rejects(resolveDockerNames(docker, { owner, proxyConfig: path.join(stateDir, 'proxy', 'nginx.conf'), legacy }), (error: Error) => {
        assert.ok(error.message.includes(`${names.container} (created): it was made for an earlier ${stateDir} (its database password is not the one in ${path.join(stateDir, 'secrets.json')}`), error.message);
        assert.match(error.message, new RegExp(`\n  docker rm -f ${names.container}\n`));
        return true;
      });
    } finally {
      await removeContainer(docker, id);
    }
  });

  test("when a container under this folder's names belongs to another state folder, then the stack refuses before starting anything, naming it, that folder and the command that removes it", async () => {
    const id = await leftover(names.container, 'another-password', { [OWNER_LABEL]: '/elsewhere/.stack' });
    await assert.rejects(startStack(options), (error: Error) => {
      assert.match(error.message, new RegExp(`${names.container} \\(created\\): it belongs to the state folder /elsewhere/\\.stack`));
      assert.match(error.message, new RegExp(`\n  docker rm -f ${names.container}\n`));
      return true;
    });
    assert.equal((await inspectContainer(docker, id))?.State.Running, false, 'the foreign container is not started');
    assert.equal(await listening(options.ports.database), false, 'the database was not started');
    await removeContainer(docker, id);
  });

  test("when the foreign container is removed as told and another folder's container holds the earlier names, then the stack runs under its own names: ready, storing a correction, its webapp's output in logs/webapp.log", async () => {
    const stranger = await leftover(legacy.container, 'another-password');
    stack = await startStack(options, (line) => said.push(line));
    assert.match(said.join('\n'), new RegExp(`not using these containers[^]*${legacy.container}`));

    const ready = await fetch(`${stack.urls.webapp}/readyz`);
    assert.equal(ready.status, 200, await ready.text());
    const [digit] = await someDigits(1);
    assert.ok(digit !== undefined);
    assert.equal((await correct(stack.urls.webapp, digit)).status, 201);
    assert.equal((await feedbackRows(stack)).length, 1, 'the correction is stored');

    const running = (await webappContainers(docker, names.container)).filter((c) => c.State.Running);
    assert.deepEqual(running.map((c) => c.Name), [`/${names.container}`]);
    assert.equal(running[0]?.Config.Labels?.[OWNER_LABEL], path.resolve(stateDir));
    assert.equal((await inspectContainer(docker, `${names.container}-proxy`))?.Config.Labels?.[OWNER_LABEL], path.resolve(stateDir));
    const left = await inspectContainer(docker, stranger);
    assert.equal(left?.State.Running, false, "the other folder's container is left as it was");

    const log = path.join(stateDir, 'logs', 'webapp.log');
    await waitUntil('the webapp container\'s output in webapp.log', 30_000, async () => /webapp listening/.test(await readFile(log, 'utf8')));
    assert.match(await readFile(log, 'utf8'), new RegExp(`the output of container ${names.container} \\(model pretrained-1\\) follows`));

    // A rollout's container (<container>-<version>): its output follows it into the same file.
    const rollout = await createContainer(docker, {
      name: `${names.container}-v9-test`,
      Image: image,
      Entrypoint: ['sh', '-c', 'echo the rollout container speaks; sleep 600'],
      Labels: { [LABELS.version]: 'v9-test', [OWNER_LABEL]: path.resolve(stateDir) },
    });
    await startContainer(docker, rollout);
    try {
      await waitUntil("the rollout container's output in webapp.log", 30_000, async () => /the rollout container speaks/.test(await readFile(log, 'utf8')));
      assert.match(await readFile(log, 'utf8'), new RegExp(`the output of container ${names.container}-v9-test \\(model v9-test\\) follows ---\\n[^]*the rollout container speaks`));
    } finally {
      await removeContainer(docker, rollout);
    }
  });
});
