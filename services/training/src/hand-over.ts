import {
  BUNDLE_FILES,
  bundleHashes,
  checkVersionName,
  commitPromotion,
  errorMessage,
  finishRun,
  putObject,
  recordBundleHashes,
  recordCandidate,
  recordScore,
  serializeModel,
  servingVersion,
} from '@mlpl/shared';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { EpochLog, Evaluation, HeldLock, ModelBundleFiles, RunDataCounts, Storage } from '@mlpl/shared';
import { postToAppbuilder } from './appbuilder-client.js';
import type { CycleDeps, CycleResult, RunContext } from './cycle-types.js';
import { buildMetadata } from './metadata.js';

/**
 * A candidate that passed the gate, handed over: named, recorded with its run and the SHA-256
 * of its three files, stored in the models bucket, posted to the appbuilder, and only once the
 * appbuilder accepts, promoted with its feedback marked used, in one transaction. Any failure
 * before that leaves the images unused for the next cycle.
 */

/** What the run records of its candidate, whatever becomes of it. */
export type CandidateRecord = { history: EpochLog[]; evaluation: Evaluation; gateReason: string; dataCounts: RunDataCounts };

/** A run whose candidate passed the gate. */
export type Promotion = RunContext & { candidate: tfl.LayersModel; record: CandidateRecord };

/**
 * `v<runId>-<yyyymmddHHMMss>` (UTC): unique per run, sortable by time, a valid Docker tag and
 * never a reserved name (checked all the same: the check is the one every entry point uses).
 */
export function versionFor(runId: number, at: Date): string {
  const stamp = at.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  const version = `v${runId}-${stamp}`;
  const problem = checkVersionName(version);
  if (problem !== null) throw new Error(`run ${runId} cannot be named ${version}: ${problem}`);
  return version;
}

export async function handOver(deps: CycleDeps, promotion: Promotion): Promise<CycleResult> {
  const { pool, settings, logger } = deps;
  const { runId, record, lock, started, stages } = promotion;
  const named = (deps.now ?? (() => new Date()))();
  const version = versionFor(runId, named);
  const metadata = buildMetadata({
    version,
    created: named,
    parent: promotion.incumbent.metadata.version,
    settings,
    mode: promotion.mode,
    history: record.history,
    counts: record.dataCounts,
    evaluation: record.evaluation,
  });
  const bundle = await serializeModel(promotion.candidate, metadata);
  await recordCandidate(pool, runId, { modelVersion: version, ...record });
  // Before the files leave: the appbuilder refuses a bundle whose hashes are not recorded, and
  // training checks the files it loads back from the bucket against them.
  await recordBundleHashes(pool, version, bundleHashes(bundle), runId);
  const test = record.evaluation.candidate['test'];
  if (record.dataCounts.testSet !== null && test !== undefined) {
    // Counts towards the floor only once the version has served (see bestServedScore).
    await recordScore(pool, { version, testSet: record.dataCounts.testSet, accuracy: test.accuracy, testCount: test.testCount, runId });
  }
  try {
    await assertLockHeld(lock);
    await assertStillServing(deps, promotion);
    await storeBundle(deps.storage, version, bundle);
    await postToAppbuilder(deps.appbuilder.url, deps.appbuilder.token, bundle, {
      ...(deps.appbuilder.timeoutMs === undefined ? {} : { timeoutMs: deps.appbuilder.timeoutMs }),
      ...(promotion.incumbent.serving === undefined ? {} : { judgedAgainst: promotion.incumbent.serving }),
    });
  } catch (error) {
    // The run keeps what it learnt for the record; its images stay unused for the next cycle.
    await finishRun(pool, runId, { status: 'failed', modelVersion: version, ...record, error: errorMessage(error), durationMs: performance.now() - started });
    logger.error({ err: error, runId, version }, 'candidate could not be handed to the appbuilder');
    return { status: 'failed', runId, reason: errorMessage(error) };
  }
  stages.end('handOver');
  // One transaction: the run is promoted and its images marked, or neither (the run, if still
  // running, is then closed as failed by the cycle's catch and its images stay unused).
  await assertLockHeld(lock);
  const marked = await commitPromotion(pool, runId, { status: 'promoted', modelVersion: version, ...record, durationMs: performance.now() - started }, promotion.feedback.consumed);
  logger.info({ runId, version, marked, seconds: Math.round(performance.now() - started) / 1000 }, 'candidate promoted');
  return { status: 'promoted', runId, version, reason: record.gateReason, bundle, metadata, timings: stages.timings };
}

/**
 * A rollback during the run (someone put another version in service) makes the candidate a
 * descendant of, and judged against, a version nobody serves: it is not handed over, and its
 * images wait for the next cycle, which starts from the version in service.
 */
async function assertStillServing(deps: CycleDeps, promotion: Promotion): Promise<void> {
  const expected = promotion.incumbent.serving;
  if (expected === undefined) return;
  const now = await (deps.serving ?? (() => servingVersion(deps.pool)))();
  if (now !== expected) {
    throw new Error(`the version in service changed during the run (${expected ?? 'the first model'} → ${now ?? 'the first model'}); the next cycle starts from ${now ?? 'the first model'}`);
  }
}

/** A cycle that lost its lock (its connection dropped) may have been taken over: it stops. */
async function assertLockHeld(lock: HeldLock): Promise<void> {
  if (!(await lock.held())) throw new Error('the training lock was lost (database connection dropped); another cycle may have taken over');
}

async function storeBundle(storage: Storage, version: string, bundle: ModelBundleFiles): Promise<void> {
  const bucket = storage.settings.modelsBucket;
  // metadata.json last: its presence says the other two are complete.
  await putObject(storage, bucket, `${version}/${BUNDLE_FILES.modelJson}`, bundle.modelJson, 'application/json');
  await putObject(storage, bucket, `${version}/${BUNDLE_FILES.weightsBin}`, bundle.weightsBin, 'application/octet-stream');
  await putObject(storage, bucket, `${version}/${BUNDLE_FILES.metadataJson}`, bundle.metadataJson, 'application/json');
}
