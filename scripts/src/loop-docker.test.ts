import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { createDocker, inspectContainer } from '@mlpl/appbuilder/docker';
import { requireDocker } from '@mlpl/appbuilder/docker-fixtures';
import { LABELS } from '@mlpl/appbuilder/images';
import { webappContainers } from '@mlpl/appbuilder/side-by-side';
import { appbuilderRecords, correct, findMisclassified, score, servedVersion, someDigits, startLoad, trainingStatus, waitForBaseData, waitForNewVersion } from './loop-support.js';
import type { Digit } from './loop-support.js';
import { killAppbuilderMidway, removeDockerLeftovers, startTestStack } from './loop-fixtures.js';
import { waitUntil } from './service-process.js';
import type { Stack } from './stack.js';

/**
 * The whole loop with a real Docker engine: the webapp is a container built from its own
 * Dockerfile (on the local Node base image, no registry reachable here) behind the stack's
 * nginx proxy (the stand-in image), and each promoted model is baked into a new image whose
 * container is rolled out beside the old one, as under compose, the appbuilder reaching the
 * engine through compose's Docker API proxy (Debian's haproxy). A load generator predicts
 * through the proxy throughout: no request may fail.
 */
describe('the loop on the Docker deploy target', () => {
  const suffix = randomBytes(3).toString('hex');
  const repo = `mlpl-e2e-${suffix}/mywebapp`;
  const container = `mlpl-e2e-webapp-${suffix}`;
  let stack: Stack;
  let cleanup: () => Promise<void>;
  let wrong: Digit[];

  before(async () => {
    await requireDocker();
    ({ stack, cleanup } = await startTestStack({ deploy: 'docker', docker: { repo, container } }));
    await waitForBaseData(stack);
    wrong = await findMisclassified(stack.urls.webapp, 10);
  });

  after(async () => {
    await cleanup?.();
    await removeDockerLeftovers(repo, container);
  });

  test('when 10 corrections of misclassified digits arrive, then a new image is built, its container replaces the old one without a failed request and answers them better', async (t) => {
    const before = await servedVersion(stack.urls.webapp);
    const scoreBefore = await score(stack.urls.webapp, wrong);
    const load = startLoad(stack.urls.webapp, (await someDigits(20, 5000)).map((digit) => digit.png), { concurrency: 2 });
    for (const digit of wrong) assert.equal((await correct(stack.urls.webapp, digit)).status, 201);
    const version = await waitForNewVersion(stack.urls.webapp, before, 300_000);
    // A little traffic on the new container, then the figures.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const report = await load.stop();
    // The new container answers a moment before its deployment and run are recorded (the gate runs first).
    await waitUntil('the deployment and the run to be recorded', 60_000, async () =>
      ((await trainingStatus(stack)).runs ?? []).some((r) => r.modelVersion === version && r.status !== 'running'),
    );
    t.diagnostic(`Docker rollout under load: ${report.ok} ok, ${report.failed} failed within ${Math.round(report.failureWindowMs)} ms, longest gap ${Math.round(report.longestGapMs)} ms, versions ${JSON.stringify(report.versions)}; first failures: ${report.failures.join(' | ')}`);
    assert.equal(report.failed, 0, `failed requests: ${report.failures.join(' | ')}`);

    const docker = createDocker('/var/run/docker.sock');
    const running = (await webappContainers(docker, container)).filter((c) => c.State.Running);
    assert.deepEqual(running.map((c) => c.Name), [`/${container}-${version}`], 'one webapp container runs, the new version\'s; the old one is removed');
    assert.equal(running[0]?.Config.Labels?.[LABELS.version], version);
    assert.equal(running[0]?.Config.Image, `${repo}:${version}`);
    assert.equal(await inspectContainer(docker, container), undefined, 'the first container was drained and removed');
    assert.equal((await inspectContainer(docker, `${container}-proxy`))?.State.Running, true, 'the proxy runs');
    const { builds, deployments } = await appbuilderRecords(stack);
    assert.equal(builds.find((b) => b.modelVersion === version)?.status, 'built');
    assert.equal(deployments.find((d) => d.modelVersion === version)?.status, 'deployed');
    assert.equal(((await trainingStatus(stack)).runs ?? []).find((r) => r.modelVersion === version)?.status, 'promoted');

    // scripts/test.sh installs Debian's haproxy: the appbuilder built and rolled out through compose's allow-list.
    assert.ok(stack.dockerApi !== undefined, 'the stack ran the Docker API proxy (/usr/sbin/haproxy)');
    const proxied = await readFile(stack.dockerApi.logFile, 'utf8');
    assert.match(proxied, / POST \/build 200 /);
    assert.match(proxied, / POST \/containers\/create 201 /);
    assert.doesNotMatch(proxied, / 403 /, `the Docker API proxy refused none of the appbuilder's requests:\n${proxied}`);

    const scoreAfter = await score(stack.urls.webapp, wrong);
    t.diagnostic(`corrected digits right: ${scoreBefore.right}/10 before, ${scoreAfter.right}/10 after`);
    assert.equal(scoreBefore.right, 0);
    assert.ok(scoreAfter.right >= 5, `${scoreAfter.right}/10`);
    assert.ok((report.versions[before] ?? 0) > 0 && (report.versions[version] ?? 0) > 0, 'the load was answered by both versions');
  });

  test('when the appbuilder is killed in the middle of a build, then after a restart the next cycle builds and deploys, and the old container served meanwhile without a failed request', async (t) => {
    const before = await servedVersion(stack.urls.webapp);
    const load = startLoad(stack.urls.webapp, (await someDigits(20, 5000)).map((digit) => digit.png), { concurrency: 1 });
    for (const digit of await someDigits(10, 3000)) assert.equal((await correct(stack.urls.webapp, digit)).status, 201);
    const interrupted = await killAppbuilderMidway(stack, 180_000);
    assert.ok(interrupted !== undefined, 'the appbuilder was killed inside a build or deployment');
    t.diagnostic(`killed during the ${interrupted}`);
    const whileDown = load.report().ok;
    await new Promise((resolve) => setTimeout(resolve, 2000));
    assert.ok(load.report().ok > whileDown, 'the webapp answers while the appbuilder is down');
    await stack.appbuilder.start();
    await waitUntil('a later version to be built, deployed and served', 300_000, async () => {
      const serving = await servedVersion(stack.urls.webapp);
      const records = await appbuilderRecords(stack);
      return serving !== before && records.deployments.find((d) => d.status === 'deployed')?.modelVersion === serving;
    }, undefined, 500);
    const report = await load.stop();
    t.diagnostic(`load across the kill and the next rollout: ${report.ok} ok, ${report.failed} failed within ${Math.round(report.failureWindowMs)} ms, longest gap ${Math.round(report.longestGapMs)} ms; first failures: ${report.failures.join(' | ')}`);
    assert.equal(report.failed, 0, `failed requests: ${report.failures.join(' | ')}`);
    const { builds } = await appbuilderRecords(stack);
    assert.ok(!builds.some((b) => b.status === 'building'), 'the interrupted build is closed at restart');
  });

  test('when the stack is stopped and started again, then its proxy is removed and made afresh and the version in service answers through it', async () => {
    const docker = createDocker('/var/run/docker.sock');
    const serving = await servedVersion(stack.urls.webapp);
    await stack.stop();
    assert.equal(await inspectContainer(docker, `${container}-proxy`), undefined, 'the proxy container is removed');
    assert.ok((await webappContainers(docker, container)).every((c) => !c.State.Running), 'no webapp container runs');
    for (const part of stack.parts) await part.start();
    assert.equal(await servedVersion(stack.urls.webapp), serving);
    assert.equal((await webappContainers(docker, container)).filter((c) => c.State.Running).length, 1);
  });
});
