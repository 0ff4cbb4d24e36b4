import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InFlight } from './in-flight.js';

describe('InFlight', () => {
  it('when work is running, then drained waits for it to finish', async () => {
    const inFlight = new InFlight();
    let finish = () => {};
    const work = inFlight.run(() => new Promise<void>((resolve) => (finish = resolve)));
    assert.equal(inFlight.count, 1);
    let drained = false;
    const waiting = inFlight.drained(5000).then(() => (drained = true));
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(drained, false);
    finish();
    await work;
    await waiting;
    assert.equal(drained, true);
    assert.equal(inFlight.count, 0);
  });

  it('when work fails, then it is still counted out', async () => {
    const inFlight = new InFlight();
    await assert.rejects(inFlight.run(async () => Promise.reject(new Error('boom'))), /boom/);
    assert.equal(inFlight.count, 0);
    await inFlight.drained(10);
  });
});
