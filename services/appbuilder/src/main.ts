import { once } from 'node:events';
import { statSync } from 'node:fs';
import {
  createLogger,
  createPool,
  failInterruptedBuilds,
  listDeployments,
  migrate,
  pingDatabase,
  readinessChecks,
  retry,
  runMain,
  settingsOrExit,
  stopOnSignals,
} from '@mlpl/shared';
import type { Logger, Pool } from '@mlpl/shared';
import { createAppbuilderApp } from './app.js';
import { createDocker, socketPathOf } from './docker.js';
import { dockerTarget } from './docker-target.js';
import { createPipeline } from './pipeline.js';
import type { Pipeline } from './pipeline.js';
import { readProbeImage } from './probe-image.js';
import { processTarget } from './process-target.js';
import type { ReleaseTarget } from './release-target.js';
import { loadAppbuilderSettings, repositoryOf } from './settings.js';
import { createBundleValidator } from './validate.js';
import type { AppbuilderSettings } from './settings.js';

/**
 * A process started as root becomes `user` (the node image's, uid 1000), joining the group of
 * the Docker socket when it talks to the engine through one (the group differs per host). Under
 * compose it talks to the Docker API proxy over TCP and the image starts as `node` already: this
 * is for a container or host that starts it as root. `root` keeps root (the local stack).
 */
function dropPrivileges(dockerHost: string, user: string, logger: Logger): void {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0 || user === 'root') return;
  const socket = socketPathOf(dockerHost);
  const groups = socket === undefined ? [] : [statSync(socket).gid];
  process.setgroups?.(groups);
  process.setgid?.(user);
  process.setuid?.(user);
  logger.info({ uid: process.getuid(), groups: process.getgroups?.() }, socket === undefined ? `running as ${user}` : `running as ${user}, in the Docker socket's group ${groups[0]}`);
}

/**
 * Puts the webapp right after whatever happened while the appbuilder was away (what a swap
 * killed half-way left is cleared before the server listens): a webapp serving another version
 * than the last one deployed (as after `docker compose build`, which re-tags `mywebapp:latest`
 * with the pretrained model, or a swap the appbuilder was killed in) gets that version deployed
 * again, through the same gates and the pipeline's one-at-a-time lock.
 */
async function reconcile(pool: Pool, pipeline: Pipeline, target: ReleaseTarget, logger: Logger): Promise<void> {
  try {
    const last = (await listDeployments(pool, 20)).find((deployment) => deployment.status === 'deployed');
    const serving = await target.serving();
    if (last !== undefined && serving !== undefined && serving !== last.modelVersion) {
      logger.warn({ serving, deployed: last.modelVersion }, 'the webapp serves another version than the last deployed one; deploying that again');
      await pipeline.rollback(last.modelVersion, 'restore');
    }
  } catch (error) {
    logger.error({ err: error }, 'could not reconcile the webapp with the deployments');
  }
}

function createTarget(settings: AppbuilderSettings, probeImage: Buffer, logger: Logger): ReleaseTarget {
  if (settings.process !== undefined) {
    return processTarget({ ...settings.process, probeImage, probeToken: settings.probeToken, healthTimeoutMs: settings.healthTimeoutMs, logger });
  }
  return dockerTarget({
    repo: repositoryOf(settings),
    push: settings.registry !== undefined,
    imageRetention: settings.imageRetention,
    ...(settings.webappBaseImage === undefined ? {} : { baseImage: settings.webappBaseImage }),
    deploy: {
      docker: createDocker(settings.dockerHost),
      containerName: settings.webappContainer,
      webappPort: settings.webappPort,
      reach: settings.reach,
      healthTimeoutMs: settings.healthTimeoutMs,
      probeImage,
      probeToken: settings.probeToken,
      logger,
      rollout: settings.rollout,
      drainGraceMs: settings.drainGraceMs,
      ...(settings.proxyUrl === undefined ? {} : { proxyUrl: settings.proxyUrl }),
      ...(settings.webappPorts === undefined ? {} : { webappPorts: settings.webappPorts }),
    },
  });
}

async function main(): Promise<void> {
  const settings = settingsOrExit('appbuilder', () => loadAppbuilderSettings(process.env));
  if (settings === undefined) return;
  const logger = createLogger({ name: 'appbuilder', level: settings.logLevel });
  if (settings.target === 'docker') dropPrivileges(settings.dockerHost, settings.runAs, logger);
  // Uploads are loaded in a child process each, bounded (validate.ts); this process holds no model.
  const validateBundle = createBundleValidator({ ...settings.validation, tfjsBackend: settings.tfjsBackend });
  if (validateBundle.unbounded !== undefined) logger.warn(validateBundle.unbounded);
  else logger.info({ ...settings.validation, target: settings.target }, 'bundles are validated in a child process with these limits');

  const pool = createPool(settings.database, { connectionLimit: 4 });
  await retry(() => migrate(pool), { what: 'database migrations', logger });
  const closed = await failInterruptedBuilds(pool);
  if (closed > 0) logger.warn({ closed }, 'closed builds and deployments left unfinished by a stopped appbuilder');

  // The probe every new webapp must answer: a real MNIST digit, drawn as the page would send it.
  const probeImage = await readProbeImage();
  const target = createTarget(settings, probeImage, logger);
  await retry(() => target.reachable(), { what: target.kind === 'docker' ? 'Docker engine' : 'webapp process', logger });
  // Before anything is accepted: a build started now must not lose its folder or candidate to this.
  // Two webapps serving (killed mid-rollout): the one the records say serves is kept.
  const lastDeployed = (await listDeployments(pool, 20)).find((deployment) => deployment.status === 'deployed')?.modelVersion;
  const recovered = await target.recover(lastDeployed);
  if (recovered.length > 0) logger.warn({ recovered }, 'put right what an interrupted deployment left');
  const pipeline = createPipeline({ pool, logger, target });
  // A first model whose version is no version is not adopted (no rollback can return to it);
  // the appbuilder still builds and deploys what training sends.
  const adopted = await pipeline.adoptBase().catch((error: unknown) => {
    logger.error({ err: error }, 'the first webapp model could not be recorded as a build');
    return undefined;
  });
  if (adopted !== undefined) logger.info({ version: adopted }, 'the first webapp model is recorded as a build');
  // 'ok' or 'failed' per check; why one failed (addresses, users, Docker's words) goes to the log.
  const readiness = readinessChecks({ database: () => pingDatabase(pool), ...target.checks }, { logger });
  const app = createAppbuilderApp({ pipeline, pool, logger, token: settings.token, adminToken: settings.adminToken, limits: settings.limits, readiness, validateBundle });
  const server = app.listen(settings.port, settings.host);
  await once(server, 'listening');
  void reconcile(pool, pipeline, target, logger);
  logger.info({ url: `http://localhost:${settings.port}`, target: settings.target }, 'appbuilder listening');

  stopOnSignals(logger, async (signal) => {
    logger.info({ signal }, 'stopping');
    const closedServer = once(server, 'close');
    server.close();
    server.closeIdleConnections();
    await closedServer;
    await pool.end();
  });
}

runMain('appbuilder', main);
