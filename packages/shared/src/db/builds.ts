import { BACKGROUND, REQUEST_PATH, select, write } from './pool.js';
import type { Deadline, Pool } from './pool.js';
import { date, dateOrNull, numberOrNull, textOrNull, wholeMs } from './rows.js';
import type { Row } from './rows.js';

/**
 * The `builds` and `deployments` tables: the appbuilder's record of its work, written as the
 * work goes (BACKGROUND: a record cut off by a deadline would leave a finished build
 * 'building'), listed by its API and the webapp's registry (REQUEST_PATH).
 */

export type BuildStatus = 'building' | 'built' | 'failed';

export type BuildRow = {
  id: number;
  startedAt: Date;
  finishedAt: Date | null;
  modelVersion: string;
  status: BuildStatus;
  image: string | null;
  imageId: string | null;
  digest: string | null;
  baseImage: string | null;
  addedBytes: number | null;
  durationMs: number | null;
  error: string | null;
};

export async function startBuild(pool: Pool, modelVersion: string): Promise<number> {
  const result = await write(pool, BACKGROUND, "INSERT INTO builds (model_version, status) VALUES (?, 'building')", [modelVersion]);
  return result.insertId;
}

export type BuildOutcome = {
  status: Exclude<BuildStatus, 'building'>;
  image?: string | null;
  imageId?: string | null;
  digest?: string | null;
  baseImage?: string | null;
  addedBytes?: number | null;
  error?: string | null;
  durationMs: number;
};

export async function finishBuild(pool: Pool, id: number, outcome: BuildOutcome): Promise<void> {
  await write(
    pool,
    BACKGROUND,
    `UPDATE builds SET status = ?, finished_at = CURRENT_TIMESTAMP(3), image = ?, image_id = ?, digest = ?, base_image = ?,
       added_bytes = ?, duration_ms = ?, error = ? WHERE id = ? AND status = 'building'`,
    [
      outcome.status,
      outcome.image ?? null,
      outcome.imageId ?? null,
      outcome.digest ?? null,
      outcome.baseImage ?? null,
      outcome.addedBytes ?? null,
      wholeMs(outcome.durationMs),
      outcome.error ?? null,
      id,
    ],
  );
}

function toBuildRow(row: Row): BuildRow {
  return {
    id: Number(row.id),
    startedAt: date(row.started_at),
    finishedAt: dateOrNull(row.finished_at),
    modelVersion: String(row.model_version),
    status: String(row.status) as BuildStatus,
    image: textOrNull(row.image),
    imageId: textOrNull(row.image_id),
    digest: textOrNull(row.digest),
    baseImage: textOrNull(row.base_image),
    addedBytes: numberOrNull(row.added_bytes),
    durationMs: numberOrNull(row.duration_ms),
    error: textOrNull(row.error),
  };
}

/** Builds, newest first. */
export async function listBuilds(pool: Pool, limit = 50): Promise<BuildRow[]> {
  const rows = await select(pool, REQUEST_PATH, 'SELECT * FROM builds ORDER BY id DESC LIMIT ?', [limit]);
  return rows.map(toBuildRow);
}

/** The newest successful build of a version: what a rollback deploys. */
export async function findBuild(pool: Pool, modelVersion: string): Promise<BuildRow | undefined> {
  const [row] = await select(pool, BACKGROUND, "SELECT * FROM builds WHERE model_version = ? AND status = 'built' ORDER BY id DESC LIMIT 1", [modelVersion]);
  return row === undefined ? undefined : toBuildRow(row);
}

/** Builds and deployments left unfinished by an appbuilder that stopped; closed as failed at start-up. */
export async function failInterruptedBuilds(pool: Pool): Promise<number> {
  const builds = await write(
    pool,
    BACKGROUND,
    "UPDATE builds SET status = 'failed', finished_at = CURRENT_TIMESTAMP(3), error = 'interrupted: the appbuilder stopped during the build' WHERE status = 'building'",
  );
  const deployments = await write(
    pool,
    BACKGROUND,
    "UPDATE deployments SET status = 'failed', finished_at = CURRENT_TIMESTAMP(3), error = 'interrupted: the appbuilder stopped during the deployment' WHERE status = 'deploying'",
  );
  return builds.affectedRows + deployments.affectedRows;
}

/** 'restore': the appbuilder, at start, putting back the last deployed version (e.g. after `docker compose build`). */
export type DeploymentKind = 'deploy' | 'rollback' | 'restore';
export type DeploymentStatus = 'deploying' | 'deployed' | 'failed';

export type DeploymentRow = {
  id: number;
  startedAt: Date;
  finishedAt: Date | null;
  kind: DeploymentKind;
  modelVersion: string;
  image: string;
  previousVersion: string | null;
  containerId: string | null;
  status: DeploymentStatus;
  durationMs: number | null;
  error: string | null;
};

export async function startDeployment(pool: Pool, deployment: { kind: DeploymentKind; modelVersion: string; image: string; previousVersion: string | null }): Promise<number> {
  const result = await write(
    pool,
    BACKGROUND,
    "INSERT INTO deployments (kind, model_version, image, previous_version, status) VALUES (?, ?, ?, ?, 'deploying')",
    [deployment.kind, deployment.modelVersion, deployment.image, deployment.previousVersion],
  );
  return result.insertId;
}

export async function finishDeployment(
  pool: Pool,
  id: number,
  outcome: { status: Exclude<DeploymentStatus, 'deploying'>; containerId?: string | null; error?: string | null; durationMs: number },
): Promise<void> {
  await write(
    pool,
    BACKGROUND,
    `UPDATE deployments SET status = ?, finished_at = CURRENT_TIMESTAMP(3), container_id = ?, duration_ms = ?, error = ?
     WHERE id = ? AND status = 'deploying'`,
    [outcome.status, outcome.containerId ?? null, wholeMs(outcome.durationMs), outcome.error ?? null, id],
  );
}

/**
 * The version in service as the deployments record it: the newest one deployed (a rollback
 * included), or null before any deployment, when the first webapp's own model serves.
 */
export async function servingVersion(pool: Pool, deadline: Deadline = BACKGROUND): Promise<string | null> {
  const [row] = await select(pool, deadline, "SELECT model_version FROM deployments WHERE status = 'deployed' ORDER BY id DESC LIMIT 1");
  return row === undefined ? null : String(row.model_version);
}

/** Deployments, newest first. */
export async function listDeployments(pool: Pool, limit = 50): Promise<DeploymentRow[]> {
  const rows = await select(pool, REQUEST_PATH, 'SELECT * FROM deployments ORDER BY id DESC LIMIT ?', [limit]);
  return rows.map((row) => ({
    id: Number(row.id),
    startedAt: date(row.started_at),
    finishedAt: dateOrNull(row.finished_at),
    kind: String(row.kind) as DeploymentKind,
    modelVersion: String(row.model_version),
    image: String(row.image),
    previousVersion: textOrNull(row.previous_version),
    containerId: textOrNull(row.container_id),
    status: String(row.status) as DeploymentStatus,
    durationMs: numberOrNull(row.duration_ms),
    error: textOrNull(row.error),
  }));
}
