import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { mapLimited } from './map-limited.js';

describe('mapLimited', () => {
  it('when items finish out of order, then the results come in item order, never more than the limit at once', async () => {
    let running = 0;
    let most = 0;
    const results = await mapLimited([30, 5, 20, 1, 10], 2, async (ms) => {
      most = Math.max(most, ++running);
      await sleep(ms);
      running--;
      return ms * 2;
    });
    assert.deepEqual(results, [60, 10, 40, 2, 20]);
    assert.equal(most, 2);
  });

  it('when one item fails, then it rejects with that error and no worker takes another item', async () => {
    const started: number[] = [];
    await assert.rejects(
      mapLimited([1, 2, 3, 4, 5, 6], 2, async (item) => {
        started.push(item);
        await sleep(5);
        if (item === 1) throw new Error('item 1 failed');
        return item;
      }),
      /item 1 failed/,
    );
    await sleep(20);
    assert.deepEqual(started, [1, 2]);
  });
});
