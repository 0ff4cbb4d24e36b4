import { once } from 'node:events';
import { statSync } from 'node:fs';
import {
  createLogger,
  createPool,
  failInterruptedBuilds,
  initTf,
  listDeployments,
  loadPackagedMnist,
  migrate,
  renderDigitPng,
  retry,
  runMain,
  settingsOrExit,
  stopOnSignals,
} from '@mlpl/shared';
import type { Logger, Pool } from '@mlpl/shared';
import { createAppbuilderApp } from './app.js';
import { createDocker, inspectContainer, pingDocker } from './docker.js';
import type { Docker } from './docker.js';
import { recoverInterruptedDeploy } from './deploy.js';
import { LABELS, resolveBaseImage } from './images.js';
import { createPipeline } from './pipeline.js';
import type { Pipeline } from './pipeline.js';
import { loadAppbuilderSettings, repositoryOf } from './settings.js';

/** The user the appbuilder runs as once it holds what it needs (the node image's, uid 1000). */
const RUN_AS = 'node';

/**
 * Started as root (the socket's group differs per host), the process joins the Docker socket's
 * group and becomes `node`: it can reach the engine and nothing else root could.
 */
function dropPrivileges(socket: string, logger: Logger): void {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return;
  const group = statSync(socket).gid;
  process.setgroups?.([group]);
  process.setgid?.(RUN_AS);
  process.setuid?.(RUN_AS);
  logger.info({ uid: process.getuid(), groups: process.getgroups?.() }, `running as ${RUN_AS}, in the Docker socket's group ${group}`);
}

/**
 * Puts the webapp right after whatever happened while the appbuilder was away: a swap it was
 * killed in the middle of, and a webapp serving another version than the last one deployed
 * (as after `docker compose build`, which re-tags `mywebapp:latest` with the pretrained model):
 * that version is deployed again, through the same gates.
 */
async function reconcile(docker: Docker, pool: Pool, pipeline: Pipeline, containerName: string, logger: Logger): Promise<void> {
  try {
    const recovered = await recoverInterruptedDeploy(docker, containerName);
    if (recovered.length > 0) logger.warn({ recovered }, 'put right what an interrupted deployment left');
    const last = (await listDeployments(pool, 20)).find((deployment) => deployment.status === 'deployed');
    const serving = (await inspectContainer(docker, containerName))?.Config.Labels?.[LABELS.version];
    if (last !== undefined && serving !== undefined && serving !== last.modelVersion) {
      logger.warn({ serving, deployed: last.modelVersion }, 'the webapp serves another version than the last deployed one; deploying that again');
      await pipeline.rollback(last.modelVersion, 'restore');
    }
  } catch (error) {
    logger.error({ err: error }, 'could not reconcile the webapp container with the deployments');
  }
}

async function main(): Promise<void> {
  const settings = settingsOrExit('appbuilder', () => loadAppbuilderSettings(process.env));
  if (settings === undefined) return;
  const logger = createLogger({ name: 'appbuilder', level: settings.logLevel });
  dropPrivileges(settings.dockerSocket, logger);
  const backend = await initTf(settings.tfjsBackend);
  logger.info({ backend }, 'tfjs backend ready (for validating bundles)');

  const docker = createDocker(settings.dockerSocket);
  const pool = createPool(settings.database, { connectionLimit: 4 });
  await retry(() => migrate(pool), { what: 'database migrations', logger });
  const closed = await failInterruptedBuilds(pool);
  if (closed > 0) logger.warn({ closed }, 'closed builds and deployments left unfinished by a stopped appbuilder');
  await retry(() => pingDocker(docker), { what: 'Docker engine', logger });

  const repo = repositoryOf(settings);
  // The probe every new container must answer: a real MNIST digit, drawn as the page would send it.
  const digits = loadPackagedMnist();
  const probeImage = await renderDigitPng(digits.images.subarray(0, 784), { scale: 10, invert: true });
  const pipeline = createPipeline({
    pool,
    logger,
    repo,
    push: settings.registry !== undefined,
    ...(settings.webappBaseImage === undefined ? {} : { baseImage: settings.webappBaseImage }),
    target: {
      docker,
      containerName: settings.webappContainer,
      webappPort: settings.webappPort,
      reach: settings.reach,
      healthTimeoutMs: settings.healthTimeoutMs,
      probeImage,
      logger,
    },
  });
  const adopted = await pipeline.adoptBase();
  if (adopted !== undefined) logger.info({ version: adopted }, 'the first webapp image is recorded as a build');
  const readiness = async () => {
    const check = async (probe: () => Promise<unknown>) => {
      try {
        await probe();
        return 'ok';
      } catch (error) {
        return (error as Error).message;
      }
    };
    return {
      docker: await check(() => pingDocker(docker)),
      database: await check(() => pool.query('SELECT 1')),
      baseImage: await check(() => resolveBaseImage(docker, repo, settings.webappBaseImage)),
      webappContainer: await check(async () => {
        if ((await inspectContainer(docker, settings.webappContainer)) === undefined) throw new Error(`no container named ${settings.webappContainer}`);
      }),
    };
  };
  const app = createAppbuilderApp({ pipeline, pool, logger, token: settings.token, limits: settings.limits, readiness });
  const server = app.listen(settings.port, settings.host);
  await once(server, 'listening');
  void reconcile(docker, pool, pipeline, settings.webappContainer, logger);
  logger.info({ url: `http://localhost:${settings.port}`, repo, baseImage: settings.webappBaseImage ?? `${repo}:latest` }, 'appbuilder listening');

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
