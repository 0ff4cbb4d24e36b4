import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RunReport } from './stack-output.js';
import type { RunView } from './stack-output.js';

const run = (id: number, status: string, more: Partial<RunView> = {}): RunView => ({ id, status, modelVersion: null, gateReason: null, error: null, ...more });

describe("the stack's lines about training runs", () => {
  test('when a running run carries the gate verdict while its image rolls out, then it is told as running once and its outcome only once it has one', () => {
    const report = new RunReport();
    assert.deepEqual(report.lines([]), ['no training runs yet']);
    assert.deepEqual(report.lines([run(1, 'running')]), ['training run 1: running']);
    // recordCandidate: the version and the gate's reason are written before the build and rollout.
    assert.deepEqual(report.lines([run(1, 'running', { modelVersion: 'v1-a', gateReason: 'promoted: +1.2 points' })]), []);
    assert.deepEqual(report.lines([run(1, 'promoted', { modelVersion: 'v1-a', gateReason: 'promoted: +1.2 points' })]), ['training run 1: promoted v1-a (+1.2 points)']);
    assert.deepEqual(report.lines([run(1, 'promoted', { modelVersion: 'v1-a', gateReason: 'promoted: +1.2 points' })]), []);
  });

  test('when a run finished between two answers, then only its outcome is told', () => {
    const report = new RunReport();
    report.lines([]);
    assert.deepEqual(report.lines([run(1, 'failed', { error: 'interrupted' })]), ['training run 1: failed (interrupted) — its feedback stays unused; the next check tries again (the reason is in logs/training.log)']);
    assert.deepEqual(report.lines([run(2, 'rejected', { modelVersion: 'v2-b', gateReason: 'rejected: lost 2 points' }), run(1, 'failed', { error: 'interrupted' })]), [
      'training run 2: rejected v2-b (lost 2 points) — the model in service stays; training tries again once new feedback arrives (or at once: POST /train?force=true, see services/training/README.md)',
    ]);
  });

  test('when the stack starts again over earlier runs, then they are summed up in one line with the version serving, and only new runs follow', () => {
    const report = new RunReport();
    const earlier = [run(3, 'promoted', { modelVersion: 'v3-c', gateReason: 'better' }), run(2, 'rejected', { gateReason: 'worse' }), run(1, 'promoted', { modelVersion: 'v1-a' })];
    assert.deepEqual(report.lines(earlier, 'v3-c'), ['earlier training runs: 1–3, the last promoted v3-c (better); serving v3-c']);
    assert.deepEqual(report.lines(earlier), []);
    assert.deepEqual(report.lines([run(4, 'running'), ...earlier]), ['training run 4: running']);
  });

  test('when the version served changes (a rollout or a rollback), then a line says so', () => {
    const report = new RunReport();
    assert.deepEqual(report.lines([], 'pretrained-1'), ['no training runs yet; serving pretrained-1']);
    assert.deepEqual(report.lines([], 'pretrained-1'), []);
    assert.deepEqual(report.lines([], undefined), [], 'the webapp not answering this second is no change');
    assert.deepEqual(report.lines([], 'v1-a'), ['the webapp now serves v1-a (was pretrained-1)']);
  });
});
