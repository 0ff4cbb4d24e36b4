import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { CycleDeps, CycleResult } from './cycle.js';
import { backoffMs, createTrainer } from './trainer.js';
import type { TrainerDeps } from './trainer.js';

/** A trainer whose cycle answers from a script: the cycle itself is tested in cycle.test.ts. */
function scripted(results: CycleResult['status'][]) {
  let now = 1_000_000;
  const calls: string[] = [];
  const trainer = createTrainer({
    settings: { threshold: 10, tolerance: 0.01, seed: 1, mode: 'fine-tune', replaySize: 0, feedbackHeldOutShare: 0.2 },
    clock: () => now,
    runCycle: async (deps: CycleDeps) => {
      calls.push(deps.settings.baseSource);
      const status = results.shift() ?? 'skipped';
      return status === 'failed' ? { status, reason: 'appbuilder down' } : ({ status, reason: status, runId: 1 } as CycleResult);
    },
  } as unknown as TrainerDeps);
  trainer.baseData = { state: 'ready', source: 'mnist', registered: 0, seconds: 0 };
  return { trainer, calls, advance: (ms: number) => (now += ms) };
}

describe('trainer', () => {
  test('when the base data is not ready, then a cycle is skipped without running', async () => {
    const { trainer, calls } = scripted(['promoted']);
    trainer.baseData = { state: 'registering' };
    const result = await trainer.run('schedule');
    assert.ok(result !== 'busy' && result.status === 'skipped');
    assert.match(result.reason, /not registered yet \(registering\)/);
    assert.deepEqual(calls, []);
  });

  test('when cycles fail, then scheduled ones back off 30 s, 1 min, … while requested ones still run, and a success resets it', async () => {
    const { trainer, calls, advance } = scripted(['failed', 'failed', 'failed', 'rejected', 'failed']);
    assert.equal(((await trainer.run('schedule')) as CycleResult).status, 'failed');
    assert.match(((await trainer.run('schedule')) as CycleResult).reason, /backing off after 1 failed/);
    advance(30_000);
    assert.equal(((await trainer.run('schedule')) as CycleResult).status, 'failed');
    advance(59_000);
    assert.equal(((await trainer.run('schedule')) as CycleResult).status, 'skipped', 'the second wait is a minute');
    assert.equal(((await trainer.run('request')) as CycleResult).status, 'failed', 'a request does not wait');
    advance(120_000);
    assert.equal(((await trainer.run('schedule')) as CycleResult).status, 'rejected');
    assert.equal(((await trainer.run('schedule')) as CycleResult).status, 'failed', 'the rejection reset the count');
    assert.equal(calls.length, 5);
    assert.deepEqual(calls, new Array(5).fill('mnist'), 'the registered source reaches the cycle');
  });

  test('when failures pile up, then the wait is capped at 15 min', () => {
    assert.deepEqual([0, 1, 2, 3, 10, 50].map(backoffMs), [0, 30_000, 60_000, 120_000, 900_000, 900_000]);
  });

  test('when a cycle runs, then a second is refused as busy; the recent list keeps outcomes in order, skips only as the last check', async () => {
    const { trainer } = scripted(['promoted', 'rejected', 'skipped']);
    const first = trainer.run('request');
    assert.equal(await trainer.run('schedule'), 'busy');
    await first;
    await trainer.run('command');
    await trainer.run('schedule');
    assert.deepEqual(trainer.recent().map((c) => [c.trigger, c.status]), [['command', 'rejected'], ['request', 'promoted']]);
    assert.deepEqual([trainer.lastCheck()?.trigger, trainer.lastCheck()?.status], ['schedule', 'skipped']);
  });
});
