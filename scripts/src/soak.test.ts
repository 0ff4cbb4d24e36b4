import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { appbuilderRecords, correct, someDigits, startLoad, trainingStatus, waitForBaseData } from './loop-support.js';
import type { Digit } from './loop-support.js';
import { startTestStack } from './loop-fixtures.js';
import { waitUntil } from './service-process.js';
import type { Stack } from './stack.js';

const PREDICTIONS = 20_000;
const WARM_UP_PREDICTIONS = 1_000;
const CORRECTIONS = 500;
const WARM_UP_CORRECTIONS = 20;
const MiB = 1024 * 1024;

/** The webapp's live tensor count, from its Prometheus metrics. */
async function webappTensors(stack: Stack): Promise<number> {
  const text = await (await fetch(`${stack.urls.webapp}/metrics`)).text();
  const match = /^mlpl_tfjs_tensors(?:\{[^}]*\})? (\d+)/m.exec(text);
  if (match?.[1] === undefined) throw new Error('no mlpl_tfjs_tensors in /metrics');
  return Number(match[1]);
}

async function memory(stack: Stack): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const part of stack.parts) out[part.name] = (await part.rss()) ?? Number.NaN;
  return out;
}

/**
 * No training cycle running and none about to start: fewer unused corrections than the
 * threshold (10), or the newest run rejected (it then waits for newer corrections); and no
 * build or deployment under way.
 */
async function settled(stack: Stack): Promise<void> {
  await waitUntil('training and the appbuilder to settle', 300_000, async () => {
    const status = (await trainingStatus(stack)) as { busy?: boolean; unusedFeedback?: number; runs?: { status: string }[] };
    const newest = status.runs?.[0]?.status;
    const appbuilder = (await (await fetch(stack.urls.appbuilder)).json()) as { busy?: boolean };
    return status.busy === false && newest !== 'running' && ((status.unusedFeedback ?? 0) < 10 || newest === 'rejected') && appbuilder.busy === false;
  }, undefined, 1000);
}

async function deployedCount(stack: Stack): Promise<number> {
  return (await appbuilderRecords(stack)).deployments.filter((d) => d.status === 'deployed').length;
}

describe('a soak of the whole loop (process deploy target)', () => {
  let stack: Stack;
  let cleanup: () => Promise<void>;

  before(async () => {
    ({ stack, cleanup } = await startTestStack({ deploy: 'process' }));
    await waitForBaseData(stack);
  });

  after(async () => {
    await cleanup?.();
  });

  test(`when ${PREDICTIONS} predictions and ${CORRECTIONS} corrections go through, then none fails and no service's memory grows after the warm-up`, async (t) => {
    const images = (await someDigits(50, 6000)).map((digit) => digit.png);
    const corrections = await someDigits(CORRECTIONS, 11);
    const sendCorrections = async (digits: Digit[]) => {
      const statuses: number[] = [];
      for (const digit of digits) statuses.push((await correct(stack.urls.webapp, digit)).status);
      return statuses;
    };

    // Warm-up: predictions, and enough corrections for two training cycles and their deployments.
    const warm = startLoad(stack.urls.webapp, images, { concurrency: 4, limit: WARM_UP_PREDICTIONS });
    const warmStatuses = await sendCorrections(corrections.slice(0, WARM_UP_CORRECTIONS));
    const warmReport = await warm.done;
    await settled(stack);
    const startRss = await memory(stack);
    const startTensors = await webappTensors(stack);
    const deployedAtStart = await deployedCount(stack);

    const load = startLoad(stack.urls.webapp, images, { concurrency: 4, limit: PREDICTIONS - WARM_UP_PREDICTIONS });
    const statuses = await sendCorrections(corrections.slice(WARM_UP_CORRECTIONS));
    const report = await load.done;
    await settled(stack);
    const endRss = await memory(stack);
    const endTensors = await webappTensors(stack);
    const deployedAfterWarmUp = (await deployedCount(stack)) - deployedAtStart;

    const mb = (bytes: number | undefined) => `${Math.round((bytes ?? Number.NaN) / MiB)}`;
    t.diagnostic(`predictions: ${warmReport.ok + report.ok} ok, ${warmReport.failed + report.failed} failed; ${report.ok / report.seconds >= 0 ? Math.round(report.ok / report.seconds) : 0}/s after the warm-up, longest gap ${Math.round(report.longestGapMs)} ms`);
    t.diagnostic(`corrections: ${[...warmStatuses, ...statuses].filter((s) => s === 201).length} of ${CORRECTIONS} accepted; versions deployed: ${deployedAtStart} during the warm-up, ${deployedAfterWarmUp} after it`);
    t.diagnostic(`RSS MiB after warm-up → end: ${stack.parts.map((p) => `${p.name} ${mb(startRss[p.name])} → ${mb(endRss[p.name])}`).join(', ')}; webapp tensors ${startTensors} → ${endTensors}`);

    assert.equal(warmReport.failed + report.failed, 0, [...warmReport.failures, ...report.failures].join('; '));
    assert.equal(warmReport.ok + report.ok, PREDICTIONS);
    assert.deepEqual([...warmStatuses, ...statuses].filter((s) => s !== 201), [], 'every correction is accepted');
    assert.ok(deployedAfterWarmUp >= 1, 'models were swapped after the warm-up, so the tensor and memory figures cover swaps');
    assert.equal(endTensors, startTensors, 'the webapp holds the same tensors (one model) after thousands of predictions and the swaps');
    for (const part of stack.parts) {
      const start = startRss[part.name] ?? Number.NaN;
      const end = endRss[part.name] ?? Number.NaN;
      // Flat, with room for allocator noise and for caches that fill to a bound (training's image cache).
      assert.ok(end <= start * 1.25 + 64 * MiB, `${part.name}: RSS ${mb(start)} MiB after the warm-up, ${mb(end)} MiB at the end`);
    }
  });
});
