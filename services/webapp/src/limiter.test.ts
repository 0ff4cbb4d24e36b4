import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AbandonedError, Limiter, QueueFullError } from './limiter.js';

describe('Limiter', () => {
  it('when more tasks arrive than the limit, then no more than the limit run at once and all finish', async () => {
    const limiter = new Limiter(2);
    let running = 0;
    let peak = 0;
    const results = await Promise.all(
      Array.from({ length: 7 }, (_, i) =>
        limiter.run(async () => {
          running++;
          peak = Math.max(peak, running);
          await new Promise((resolve) => setTimeout(resolve, 5));
          running--;
          return i;
        }),
      ),
    );
    assert.equal(peak, 2);
    assert.deepEqual(results, [0, 1, 2, 3, 4, 5, 6]);
  });

  it('when as many tasks wait as the queue holds, then the next is refused at once and those waiting still run', async () => {
    const limiter = new Limiter(1, 2);
    let release = () => {};
    const holding = limiter.run(() => new Promise<void>((resolve) => (release = resolve)));
    const ran: number[] = [];
    const waiting = [1, 2].map((i) => limiter.run(async () => ran.push(i)));
    assert.equal(limiter.queued, 2);
    await assert.rejects(limiter.run(async () => ran.push(3)), QueueFullError);
    assert.equal(limiter.queued, 2);
    release();
    await Promise.all([holding, ...waiting]);
    assert.deepEqual(ran, [1, 2]);
    assert.deepEqual([limiter.running, limiter.queued], [0, 0]);
  });

  it('when the queue holds none, then a task runs if a place is free and is refused otherwise', async () => {
    const limiter = new Limiter(1, 0);
    let release = () => {};
    const holding = limiter.run(() => new Promise<void>((resolve) => (release = resolve)));
    await assert.rejects(limiter.run(async () => 'refused'), QueueFullError);
    release();
    await holding;
    assert.equal(await limiter.run(async () => 'free'), 'free');
  });

  it('when a waiting task is abandoned, then it leaves the queue and never runs, and the others keep their turn', async () => {
    const limiter = new Limiter(1, 5);
    let release = () => {};
    const holding = limiter.run(() => new Promise<void>((resolve) => (release = resolve)));
    const ran: string[] = [];
    const gone = new AbortController();
    const abandoned = limiter.run(async () => ran.push('abandoned'), gone.signal);
    const next = limiter.run(async () => ran.push('next'));
    assert.equal(limiter.queued, 2);
    gone.abort();
    await assert.rejects(abandoned, AbandonedError);
    assert.equal(limiter.queued, 1);
    release();
    await Promise.all([holding, next]);
    assert.deepEqual(ran, ['next']);
    assert.deepEqual([limiter.running, limiter.queued], [0, 0]);
  });

  it('when the signal aborted before the task was given, then it is not run even with a place free', async () => {
    const limiter = new Limiter(1);
    const gone = new AbortController();
    gone.abort();
    let ran = false;
    await assert.rejects(limiter.run(async () => (ran = true), gone.signal), AbandonedError);
    assert.equal(ran, false);
    assert.equal(limiter.running, 0);
  });

  it('when a task fails, then its place is given to the next', async () => {
    const limiter = new Limiter(1);
    await assert.rejects(limiter.run(async () => Promise.reject(new Error('boom'))));
    assert.equal(await limiter.run(async () => 'next'), 'next');
  });
});
