import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { readinessChecks } from './readiness.js';

/** A logger whose lines the test reads. */
function capturedLogger() {
  const lines: { level: number; msg: string; check?: string; err?: { message: string } }[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { logger, lines };
}

const driverError = () => Object.assign(new Error("Access denied for user 'mlpl'@'10.0.3.9' (using password: YES)"), { code: 'ER_ACCESS_DENIED_ERROR' });

describe('readinessChecks', () => {
  it('when a check fails, then it answers "failed" only, and the log has why', async () => {
    const { logger, lines } = capturedLogger();
    const checks = readinessChecks({ database: () => Promise.reject(driverError()), storage: async () => undefined }, { logger });
    const answer = await checks();
    assert.deepEqual(answer, { database: 'failed', storage: 'ok' });
    assert.doesNotMatch(JSON.stringify(answer), /mlpl|10\.0\.3\.9|denied/);
    assert.equal(lines.length, 1);
    assert.equal(lines[0]?.check, 'database');
    assert.match(lines[0]?.msg ?? '', /readiness check database failed: Access denied for user 'mlpl'@'10\.0\.3\.9'/);
    assert.equal(lines[0]?.err?.message, driverError().message);
  });

  it('when a check keeps failing the same way, then the log says so once, again when the reason changes, and once when it passes', async () => {
    const { logger, lines } = capturedLogger();
    let failure: Error | undefined = driverError();
    const checks = readinessChecks({ database: async () => { if (failure !== undefined) throw failure; } }, { logger });
    for (let i = 0; i < 5; i++) await checks();
    assert.equal(lines.length, 1);
    failure = new Error('connect ECONNREFUSED 10.0.3.7:3306');
    await checks();
    await checks();
    assert.equal(lines.length, 2);
    failure = undefined;
    assert.deepEqual(await checks(), { database: 'ok' });
    await checks();
    assert.deepEqual(lines.map((line) => line.msg), [
      `readiness check database failed: ${driverError().message}`,
      'readiness check database failed: connect ECONNREFUSED 10.0.3.7:3306',
      'readiness check database passes again',
    ]);
  });

  it('when a check does not answer within the timeout, then it failed', async () => {
    const { logger, lines } = capturedLogger();
    const checks = readinessChecks({ stalled: () => new Promise(() => undefined), thrown: () => { throw new Error('sync'); } }, { logger, timeoutMs: 50 });
    const started = Date.now();
    assert.deepEqual(await checks(), { stalled: 'failed', thrown: 'failed' });
    assert.ok(Date.now() - started < 1000);
    assert.ok(lines.some((line) => line.msg === 'readiness check stalled failed: no answer within 50 ms'));
  });
});
