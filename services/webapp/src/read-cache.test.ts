import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ReadCache } from './read-cache.js';

/** A clock the test moves by hand. */
function clock() {
  let now = 1_000_000;
  return { now: () => now, advance: (ms: number) => void (now += ms) };
}

describe('ReadCache', () => {
  it('when a key is asked twice within the TTL, then it is computed once; after the TTL, again', async () => {
    const time = clock();
    const cache = new ReadCache<number>({ ttlMs: 5000, maxEntries: 4, now: time.now });
    let computed = 0;
    const compute = async () => ++computed;
    assert.equal(await cache.get('models', compute), 1);
    time.advance(4999);
    assert.equal(await cache.get('models', compute), 1);
    assert.equal(computed, 1);
    time.advance(1);
    assert.equal(await cache.get('models', compute), 2, 'fresh once the TTL is over');
  });

  it('when the same key misses several times at once, then one computation answers them all', async () => {
    const cache = new ReadCache<string>({ ttlMs: 5000, maxEntries: 4 });
    let computed = 0;
    let finish: (value: string) => void = () => undefined;
    const compute = () => {
      computed++;
      return new Promise<string>((resolve) => {
        finish = resolve;
      });
    };
    const answers = Promise.all([cache.get('k', compute), cache.get('k', compute), cache.get('k', compute)]);
    finish('one');
    assert.deepEqual(await answers, ['one', 'one', 'one']);
    assert.equal(computed, 1);
  });

  it('when a computation is slow, then the TTL counts from its answer, not its start', async () => {
    const time = clock();
    const cache = new ReadCache<number>({ ttlMs: 1000, maxEntries: 4, now: time.now });
    let finish: (value: number) => void = () => undefined;
    const first = cache.get('k', () => new Promise<number>((resolve) => { finish = resolve; }));
    time.advance(5000);
    // Still running after five TTLs: shared, not started again.
    const second = cache.get('k', async () => 2);
    finish(1);
    assert.deepEqual([await first, await second], [1, 1]);
    time.advance(999);
    assert.equal(await cache.get('k', async () => 3), 1);
  });

  it('when a computation fails, then the failure is not remembered', async () => {
    const cache = new ReadCache<number>({ ttlMs: 5000, maxEntries: 4 });
    await assert.rejects(cache.get('k', async () => { throw new Error('database down'); }), /database down/);
    await assert.rejects(cache.get('k', () => { throw new Error('thrown before any promise'); }), /thrown before/);
    assert.equal(await cache.get('k', async () => 7), 7);
  });

  it('when more keys are asked than it holds, then the oldest are forgotten and its size stays bounded', async () => {
    const cache = new ReadCache<string>({ ttlMs: 60_000, maxEntries: 3 });
    for (let i = 0; i < 100; i++) await cache.get(`v${i}`, async () => `answer ${i}`);
    assert.equal(cache.size, 3);
    let computed = 0;
    assert.equal(await cache.get('v99', async () => { computed++; return 'again'; }), 'answer 99', 'the newest is kept');
    assert.equal(await cache.get('v0', async () => { computed++; return 'again'; }), 'again', 'the oldest was forgotten');
    assert.equal(computed, 1);
  });

  it('when the TTL is 0, then every call computes', async () => {
    const cache = new ReadCache<number>({ ttlMs: 0, maxEntries: 1 });
    let computed = 0;
    await cache.get('k', async () => ++computed);
    await cache.get('k', async () => ++computed);
    assert.equal(computed, 2);
    assert.equal(cache.size, 0);
  });

  it('when cleared, then the next call computes afresh', async () => {
    const cache = new ReadCache<number>({ ttlMs: 60_000, maxEntries: 4 });
    await cache.get('k', async () => 1);
    cache.clear();
    assert.equal(await cache.get('k', async () => 2), 2);
  });
});
