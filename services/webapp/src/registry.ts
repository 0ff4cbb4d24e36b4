import { Router } from 'express';
import type { RequestHandler } from 'express';
import {
  checkVersionName,
  countFeedbackKinds,
  FEEDBACK_KINDS,
  findVersionRun,
  firstPredictionAt,
  getImage,
  getObjectBytes,
  HttpError,
  IMAGE_CONTENT_TYPES,
  listBaseTrainingIds,
  listBuilds,
  listDeployments,
  listModelVersions,
  listVersionRuns,
  liveCountsByDigit,
  liveCountsByVersion,
  liveSeries,
  MODEL_VERSION_PATTERN,
  recentCorrections,
  requireBearer,
  SERIES_BUCKETS,
  unavailable,
} from '@mlpl/shared';
import type { BuildRow, DeploymentRow, FeedbackKind, LiveCountRow, Logger, ModelMetadata, Pool, SeriesBucket, Storage, VersionRunRow } from '@mlpl/shared';
import type { Classifier } from './classifier.js';
import { evaluationOf, gateVerdict } from './gate-words.js';
import { lineageText } from './lineage-words.js';
import { ReadCache } from './read-cache.js';
import type { Correction, CorrectionList, ErrorRateSeries, LiveCounts, ModelDetail, ModelList, ModelSummary, RegistryWindow, ServicePeriod, TrainingImages } from './registry-types.js';

export type RegistryDeps = {
  /** Registers what to call when a feedback is stored here (the corrections a reader just sent must show). */
  onFeedbackStored?: (forget: () => void) => void;
  pool: Pool;
  storage: Storage;
  classifier: () => Classifier;
  logger: Logger;
  /** Bearer token for actions that change something (rollback); undefined: none allowed. */
  adminToken: string | undefined;
  /** Aborted when the webapp stops: a rollback that replaces this very webapp (Docker) must not hold its shutdown. */
  stopping?: AbortSignal;
  /** Where rollbacks go. The admin's token is relayed: the appbuilder accepts ADMIN_TOKEN for deployments, so the webapp holds no build token. */
  appbuilderUrl: string;
  /** How long the anonymous reads' answers are remembered, ms (default READ_CACHE_MS); 0: not at all. */
  readCacheMs?: number;
};

/**
 * The builds, deployments and training runs the registry reads: the newest this many of each.
 * Months of versions at one an hour; what is older is left out, and the answer says so
 * (`window.recordsTruncated`), rather than an anonymous request reading tables without end.
 */
export const RECORD_LIMIT = 1000;

/** Live counts are of the predictions of the last this many days: predictions grow with traffic. */
export const LIVE_WINDOW_DAYS = 30;

/** The error-rate series of each bucket covers the last this many days: at most 1,440, 720 and 365 points per version. */
export const SERIES_WINDOW_DAYS: Readonly<Record<SeriesBucket, number>> = { minute: 1, hour: 30, day: 365 };

/**
 * How long the registry's anonymous reads are remembered: a page polled or reloaded in a loop,
 * or many people at once, cost one computation per answer per 5 s, and an answer is at most
 * that much older than the records. A rollback through this webapp and a change of the model
 * in service show at once (see `registryRouter`).
 */
export const READ_CACHE_MS = 5000;

const DAY_MS = 86_400_000;
const daysAgo = (days: number) => new Date(Date.now() - days * DAY_MS);

/** The image types /api/feedback stores (by the bytes' own format): the only ones served as what they are. */
const SERVED_IMAGE_TYPES: ReadonlySet<string> = new Set(Object.values(IMAGE_CONTENT_TYPES));

function live(row: LiveCountRow | undefined): LiveCounts {
  const predictions = row?.predictions ?? 0;
  const wrong = row?.wrong ?? 0;
  return { predictions, corrections: row?.corrections ?? 0, wrong, errorRate: predictions === 0 ? null : wrong / predictions };
}

type Deployed = DeploymentRow & { finishedAt: Date };

/** The deployments that succeeded, oldest first. */
function successful(deployments: DeploymentRow[]): Deployed[] {
  return deployments.filter((d): d is Deployed => d.status === 'deployed' && d.finishedAt !== null).sort((a, b) => a.id - b.id);
}

/** Periods in service, from the deployments that succeeded, oldest first: each lasts until the next one. */
function servicePeriods(deployed: Deployed[]): Map<string, ServicePeriod[]> {
  const periods = new Map<string, ServicePeriod[]>();
  deployed.forEach((deployment, i) => {
    const next = deployed[i + 1];
    const list = periods.get(deployment.modelVersion) ?? [];
    list.push({ from: deployment.finishedAt.toISOString(), until: next?.finishedAt.toISOString() ?? null, basis: 'deployment' });
    periods.set(deployment.modelVersion, list);
  });
  return periods;
}

/**
 * The first model a webapp loaded served from the first start, with no deployment record:
 * from its earliest trace (its first load, or its first prediction if that is older, as on a
 * database that predates the record of loads) until the first deployment. None when the first
 * deployment was of this very version, or finished before that trace (the records then say
 * it was deployed like any other).
 */
async function firstStartPeriod(pool: Pool, version: string, firstLoadedAt: Date | undefined, deployed: Deployed[]): Promise<ServicePeriod | undefined> {
  const first = deployed[0];
  if (first?.modelVersion === version) return undefined;
  const predictedAt = await firstPredictionAt(pool, version);
  const traces = [firstLoadedAt, predictedAt].filter((date): date is Date => date !== undefined).map((date) => date.getTime());
  if (traces.length === 0) return undefined;
  const from = Math.min(...traces);
  if (first !== undefined && first.finishedAt.getTime() <= from) return undefined;
  return { from: new Date(from).toISOString(), until: first?.finishedAt.toISOString() ?? null, basis: 'first-start' };
}

type Sources = {
  runs: Map<string, VersionRunRow>;
  builds: Map<string, BuildRow>;
  metadata: Map<string, { metadata: ModelMetadata; firstServedAt: Date }>;
  periods: Map<string, ServicePeriod[]>;
  live: Map<string, LiveCountRow>;
  serving: string;
  /** The first model a webapp loaded (compose's first image, the stack's seed): it served without a deployment. */
  initial: string | undefined;
  window: RegistryWindow;
};

function summary(version: string, sources: Sources): ModelSummary {
  const run = sources.runs.get(version);
  const build = sources.builds.get(version);
  const metadata = sources.metadata.get(version)?.metadata;
  const served = sources.periods.get(version) ?? [];
  // A run's own figure, unless it was not a number (written as null, read as NaN): then the bundle's.
  const runAccuracy = evaluationOf(run)?.candidate['test']?.accuracy;
  const testAccuracy = runAccuracy !== undefined && !Number.isNaN(runAccuracy) ? runAccuracy : (metadata?.metrics.accuracy ?? null);
  return {
    version,
    parentVersion: run?.parentVersion ?? metadata?.parent ?? null,
    servingVersion: run?.servingVersion ?? null,
    incumbentNote: run?.incumbentNote ?? null,
    lineage: run === undefined ? null : lineageText(run),
    runId: run?.id ?? null,
    createdAt: metadata?.created ?? run?.finishedAt?.toISOString() ?? build?.startedAt.toISOString() ?? null,
    // model_versions also holds candidates that failed their gate, so it says nothing of serving.
    state: version === sources.serving ? 'serving' : served.length > 0 || version === sources.initial ? 'retired' : build !== undefined ? 'built' : 'unreleased',
    testAccuracy,
    gate: run === undefined ? null : gateVerdict(run, evaluationOf(run)),
    image: build?.image ?? null,
    digest: build?.digest ?? null,
    served,
    live: live(sources.live.get(version)),
  };
}

/** The metadata of every model a webapp loaded; the one in service is known from itself, even before it was recorded. */
async function knownMetadata(deps: RegistryDeps): Promise<Sources['metadata']> {
  const metadata = await listModelVersions(deps.pool);
  const current = deps.classifier().metadata;
  if (!metadata.has(current.version)) metadata.set(current.version, { metadata: current, firstServedAt: new Date() });
  return metadata;
}

async function loadSources(deps: RegistryDeps): Promise<Sources> {
  const liveSince = daysAgo(LIVE_WINDOW_DAYS);
  // One more than kept: whether any was left out is then known, not guessed from a full page.
  const [allRuns, allBuilds, metadata, allDeployments, counts] = await Promise.all([
    listVersionRuns(deps.pool, RECORD_LIMIT + 1),
    listBuilds(deps.pool, RECORD_LIMIT + 1),
    knownMetadata(deps),
    listDeployments(deps.pool, RECORD_LIMIT + 1),
    liveCountsByVersion(deps.pool, liveSince),
  ]);
  const [runs, builds, deployments] = [allRuns.slice(0, RECORD_LIMIT), allBuilds.slice(0, RECORD_LIMIT), allDeployments.slice(0, RECORD_LIMIT)];
  const initial = [...metadata.entries()].sort(([, a], [, b]) => a.firstServedAt.getTime() - b.firstServedAt.getTime())[0]?.[0];
  const deployed = successful(deployments);
  const periods = servicePeriods(deployed);
  // With older deployments left out, the first one read is not the first: the first start's end is unknown.
  const deploymentsTruncated = allDeployments.length > RECORD_LIMIT;
  const firstStart = initial === undefined || deploymentsTruncated ? undefined : await firstStartPeriod(deps.pool, initial, metadata.get(initial)?.firstServedAt, deployed);
  if (initial !== undefined && firstStart !== undefined) periods.set(initial, [firstStart, ...(periods.get(initial) ?? [])]);
  return {
    runs: new Map(runs.map((run) => [run.modelVersion, run])),
    builds: new Map(builds.filter((build) => build.status === 'built').map((build) => [build.modelVersion, build])),
    metadata,
    periods,
    live: new Map(counts.map((row) => [row.key, row])),
    serving: deps.classifier().metadata.version,
    initial,
    window: {
      liveDays: LIVE_WINDOW_DAYS,
      liveSince: liveSince.toISOString(),
      recordLimit: RECORD_LIMIT,
      recordsTruncated: deploymentsTruncated || allBuilds.length > RECORD_LIMIT || allRuns.length > RECORD_LIMIT,
    },
  };
}

/** Every version any record knows, newest first (by creation; unknown creation last). */
function allSummaries(sources: Sources): ModelSummary[] {
  const versions = new Set([...sources.runs.keys(), ...sources.builds.keys(), ...sources.metadata.keys(), sources.serving]);
  const created = (s: ModelSummary) => Date.parse(s.createdAt ?? '') || 0;
  return [...versions].map((v) => summary(v, sources)).sort((a, b) => created(b) - created(a) || b.version.localeCompare(a.version));
}

/** The base source a run trained on, as its parameters recorded it. */
function baseSourceOf(run: VersionRunRow): string | undefined {
  const source = run.parameters?.['baseSource'];
  return typeof source === 'string' ? source : undefined;
}

/** What a version was trained on: its run's counts, or (no run made it: the pretrained model) its metadata's. */
function trainingData(run: VersionRunRow | undefined, metadata: ModelMetadata | undefined): ModelDetail['trainingData'] {
  const counts = run?.dataCounts ?? metadata?.training.counts;
  if (counts === undefined) return null;
  const baseSource = run === undefined ? (metadata?.training.baseSource ?? 'base') : (baseSourceOf(run) ?? 'base');
  const earlier = counts.earlierFeedbackReplayed;
  const feedback = counts.feedbackTrained + earlier;
  const base = counts.replay - earlier;
  return {
    mode: counts.mode,
    byClass: counts.trainedByClass,
    // A run lists its feedback even when there was none; a model no run made, only when it had some.
    bySource: run !== undefined || feedback > 0 ? { feedback, [baseSource]: base } : { [baseSource]: base },
    heldOutFeedback: counts.feedbackHeldOut,
    test: counts.test,
    // From scratch every label trains (the pretrained model: none): new and earlier ones are not told apart.
    newFeedback: counts.mode === 'scratch' ? null : counts.feedbackTrained,
    earlierFeedback: counts.mode === 'scratch' ? null : earlier,
  };
}

/** Whether a model's training images were exactly its base source's train split (of its classes): the pretrained model. */
function trainedOnBaseSplit(metadata: ModelMetadata): boolean {
  const { mode, counts } = metadata.training;
  return mode === 'scratch' && counts.feedbackTrained === 0 && counts.earlierFeedbackReplayed === 0 && counts.replay > 0;
}

/** The same split as FEEDBACK_KINDS' SQL, for one row. */
function feedbackKind(label: number, predictedDigit: number | null): FeedbackKind {
  if (predictedDigit === null) return 'unlinked';
  return label === predictedDigit ? 'confirmation' : 'correction';
}

function versionParam(raw: unknown): string {
  if (typeof raw !== 'string' || !MODEL_VERSION_PATTERN.test(raw)) throw new HttpError(400, 'invalid_version', 'not a model version');
  return raw;
}

/** Database failures are 503s here too: the registry is read from it. */
async function fromDatabase<T>(read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    if (error instanceof HttpError) throw error;
    throw unavailable('database', error, 'the registry cannot be read');
  }
}

/**
 * The model registry: every version with its lineage, training, evaluation, gate verdict,
 * image and time in service, and how people judged it live. Read-only routes need no token;
 * a rollback needs the admin token and goes through the appbuilder.
 *
 * The read-only answers are remembered for READ_CACHE_MS (see read-cache.ts), keyed by their
 * parameters and the version in service, so a swap shows at once; a rollback through this
 * webapp forgets them all.
 */
export function registryRouter(deps: RegistryDeps): Router {
  const router = Router();
  const log = deps.logger.child({ module: 'registry' });
  const ttlMs = deps.readCacheMs ?? READ_CACHE_MS;
  // Bounded per kind of answer by how many keys make sense: one list per version in service,
  // three buckets, details and correction pages for a few dozen keys; training images are
  // the largest answers (a base split's 60,000 ids), so few of them.
  const caches = {
    registry: new ReadCache<{ sources: Sources; list: ModelList }>({ ttlMs, maxEntries: 2 }),
    details: new ReadCache<ModelDetail | undefined>({ ttlMs, maxEntries: 64 }),
    series: new ReadCache<ErrorRateSeries>({ ttlMs, maxEntries: 3 }),
    trainingImages: new ReadCache<TrainingImages | undefined>({ ttlMs, maxEntries: 8 }),
    corrections: new ReadCache<CorrectionList>({ ttlMs, maxEntries: 32 }),
  };
  const serving = () => deps.classifier().metadata.version;
  // A person who sends a correction and opens /models expects to see it: the answers that list
  // or count feedback are forgotten (feedback is rate limited per client, so this stays rare).
  deps.onFeedbackStored?.(() => {
    caches.corrections.clear();
    caches.registry.clear();
    caches.details.clear();
  });

  const registry = () => caches.registry.get(serving(), async () => {
    const sources = await loadSources(deps);
    return { sources, list: { serving: sources.serving, models: allSummaries(sources), window: sources.window } };
  });

  router.get('/models', async (_req, res) => {
    const { list } = await fromDatabase(registry);
    res.json(list);
  });

  router.get('/models/error-rate', async (req, res) => {
    const bucket = (req.query.bucket ?? 'hour') as string;
    if (!Object.hasOwn(SERIES_BUCKETS, bucket)) throw new HttpError(400, 'invalid_bucket', `bucket must be one of ${Object.keys(SERIES_BUCKETS).join(', ')}`);
    const series = await fromDatabase(() => caches.series.get(bucket, async () => {
      const days = SERIES_WINDOW_DAYS[bucket as SeriesBucket];
      const since = daysAgo(days);
      const rows = await liveSeries(deps.pool, bucket as SeriesBucket, since);
      return {
        bucket: bucket as SeriesBucket,
        days,
        since: since.toISOString(),
        points: rows.map((row) => {
          const { predictions, wrong, errorRate } = live(row);
          return { version: row.version, start: row.start.toISOString(), predictions, wrong, errorRate };
        }),
      };
    }));
    res.json(series);
  });

  router.get('/models/:version', async (req, res) => {
    const version = versionParam(req.params.version);
    const detail = await fromDatabase(() => caches.details.get(`${serving()} ${version}`, async (): Promise<ModelDetail | undefined> => {
      const { sources, list } = await registry();
      const found = list.models.find((s) => s.version === version);
      if (found === undefined) return undefined;
      const byDigit = await liveCountsByDigit(deps.pool, version, new Date(sources.window.liveSince));
      const run = sources.runs.get(version);
      const metadata = sources.metadata.get(version)?.metadata;
      const digits = new Map(byDigit.map((row) => [row.key, row]));
      return {
        ...found,
        parameters: run?.parameters ?? (metadata === undefined ? null : recipeOf(metadata.training)),
        history: (run?.history ?? metadata?.training.history ?? []).map((epoch, i) => ({ ...epoch, epoch: epoch.epoch ?? i + 1 })),
        evaluation: evaluationOf(run) ?? (metadata === undefined ? null : { candidate: { test: metadata.metrics }, incumbent: {}, checks: [] }),
        trainingData: trainingData(run, metadata),
        liveByClass: Array.from({ length: 10 }, (_, digit) => live(digits.get(String(digit)))),
        window: sources.window,
      };
    }));
    if (detail === undefined) throw new HttpError(404, 'unknown_version', `no model version ${version} is recorded`);
    res.json(detail);
  });

  router.get('/models/:version/training-images', async (req, res) => {
    const version = versionParam(req.params.version);
    const body = await fromDatabase(() => caches.trainingImages.get(version, async (): Promise<TrainingImages | undefined> => {
      // A base split named by a rule (from scratch: all of it; the pretrained model: the split it was made from), listed.
      const baseIds = (source: string, classes: readonly number[]) => listBaseTrainingIds(deps.pool, source, classes);
      const run = await findVersionRun(deps.pool, version);
      const counts = run?.dataCounts;
      if (run !== undefined && counts !== null && counts !== undefined) {
        const replay = typeof counts.replayImageIds === 'string' ? await baseIds(baseSourceOf(run) ?? '', counts.classes) : counts.replayImageIds;
        return { version, feedback: counts.feedbackImageIds, replay, heldOut: counts.heldOutImageIds };
      }
      const metadata = (await knownMetadata(deps)).get(version)?.metadata;
      if (metadata === undefined || !trainedOnBaseSplit(metadata)) return undefined;
      return { version, feedback: [], replay: await baseIds(metadata.training.baseSource, metadata.training.classes), heldOut: [] };
    }));
    if (body === undefined) throw new HttpError(404, 'unknown_version', `no training run or model metadata records the data of ${version}`);
    res.json(body);
  });

  router.get('/corrections', async (req, res) => {
    const raw = (req.query.limit ?? '24') as string;
    if (!/^\d{1,3}$/.test(raw) || Number(raw) < 1) throw new HttpError(400, 'invalid_limit', 'limit must be a whole number from 1 to 999');
    const kind = (req.query.kind ?? 'all') as string;
    if (kind !== 'all' && !Object.hasOwn(FEEDBACK_KINDS, kind)) throw new HttpError(400, 'invalid_kind', `kind must be all, ${Object.keys(FEEDBACK_KINDS).join(', ')}`);
    const answer = await fromDatabase(() => caches.corrections.get(`${Number(raw)} ${kind}`, async (): Promise<CorrectionList> => {
      const [rows, counts] = await Promise.all([recentCorrections(deps.pool, Number(raw), kind === 'all' ? undefined : (kind as FeedbackKind)), countFeedbackKinds(deps.pool)]);
      const corrections: Correction[] = rows.map((row) => ({
        id: row.id,
        createdAt: row.createdAt.toISOString(),
        label: row.label,
        predictedDigit: row.predictedDigit,
        kind: feedbackKind(row.label, row.predictedDigit),
        modelVersion: row.modelVersion,
        imageUrl: `/api/corrections/${row.id}/image`,
      }));
      return { corrections, counts };
    }));
    res.json(answer);
  });

  router.get('/corrections/:id/image', async (req, res) => {
    if (!/^\d{1,18}$/.test(req.params.id)) throw new HttpError(400, 'invalid_id', 'not a correction id');
    const row = await fromDatabase(() => getImage(deps.pool, Number(req.params.id)));
    if (row === undefined || row.source !== 'feedback') throw new HttpError(404, 'unknown_correction', `no correction ${req.params.id}`);
    const bytes = await getObjectBytes(deps.storage, deps.storage.settings.imagesBucket, row.objectKey).catch((error: unknown) => {
      throw unavailable('storage', error, 'the image cannot be read');
    });
    // Content-addressed: the bytes under this id never change.
    res.setHeader('Cache-Control', 'private, max-age=86400, immutable');
    // The stored type is a string in a row, not a promise: served as is, "text/html" would be a
    // page of this origin. Only the image types feedback is stored with show inline.
    if (SERVED_IMAGE_TYPES.has(row.contentType)) {
      res.type(row.contentType);
    } else {
      res.attachment(`correction-${row.id}.bin`).type('application/octet-stream');
    }
    res.send(bytes);
  });

  // Without an ADMIN_TOKEN every rollback is refused, with its own code: no token can help, and
  // the page says so rather than "wrong token". Past this, the token is set.
  const admin: RequestHandler = deps.adminToken === undefined
    ? (_req, _res, next) => next(new HttpError(401, 'rollback_disabled', 'this webapp was started without an ADMIN_TOKEN, so it deploys nothing; give it one to allow rollbacks'))
    : requireBearer({ ADMIN_TOKEN: deps.adminToken });
  router.post('/models/:version/rollback', admin, async (req, res) => {
    const version = versionParam(req.params.version);
    // A reserved name (`latest`, `current`, …) is no version to deploy, whatever the appbuilder holds.
    const problem = checkVersionName(version);
    if (problem !== null) throw new HttpError(400, 'invalid_version', problem);
    // Already in service: nothing to do (and a browser re-sending the request changes nothing).
    if (version === deps.classifier().metadata.version) {
      res.status(200).json({ version, previousVersion: version, unchanged: true });
      return;
    }
    let response: Response;
    // A deployment waits for the new webapp to pass its gate: up to the appbuilder's HEALTH_TIMEOUT_MS twice.
    const timeout = AbortSignal.timeout(300_000);
    try {
      response = await fetch(new URL('/deployments', deps.appbuilderUrl), {
        method: 'POST',
        headers: { authorization: `Bearer ${deps.adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ version }),
        signal: deps.stopping === undefined ? timeout : AbortSignal.any([timeout, deps.stopping]),
      });
    } catch (error) {
      // Under Docker the deployment replaces this webapp: it is told to stop while the request
      // is under way, and the deployment goes on without it.
      if (deps.stopping?.aborted === true) {
        res.status(202).json({ version, status: 'deploying', message: 'this webapp is being replaced; follow /api/models' });
        return;
      }
      if (timeout.aborted) throw new HttpError(504, 'still_deploying', `the appbuilder has not finished deploying ${version}; follow /api/models`);
      log.error({ err: error, version }, 'the appbuilder could not be reached for a rollback');
      throw new HttpError(503, 'appbuilder_unavailable', `the appbuilder at ${deps.appbuilderUrl} could not be reached`);
    }
    const answer = (await response.json().catch(() => ({}))) as { error?: { code?: string; message?: string } };
    if (response.ok) {
      for (const cache of Object.values(caches)) cache.clear();
      log.info({ version }, 'rollback deployed');
      res.status(201).json(answer);
      return;
    }
    const message = answer.error?.message ?? `the appbuilder answered ${response.status}`;
    // The appbuilder's 4xx are about the request (unknown version, busy, image gone); its 5xx
    // are its own failures; its 401 means it was not given the same ADMIN_TOKEN.
    if (response.status === 401) throw new HttpError(502, 'appbuilder_refused_token', 'the appbuilder does not accept this ADMIN_TOKEN: give both services the same one');
    if (response.status >= 400 && response.status < 500) throw new HttpError(response.status, answer.error?.code ?? 'rollback_refused', message);
    throw new HttpError(502, 'rollback_failed', message);
  });

  return router;
}

/**
 * How a model no run made was trained, as a run's parameters read: its mode, data, seed and
 * epochs, then its recipe (batch size, learning rate, …), not its figures (those have cards).
 */
function recipeOf(training: ModelMetadata['training']): Record<string, unknown> {
  return { mode: training.mode, baseSource: training.baseSource, classes: training.classes, seed: training.seed, epochs: training.epochs, ...training.recipe };
}
