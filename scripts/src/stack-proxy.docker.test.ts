import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createDocker, inspectContainer } from '@mlpl/appbuilder/docker';
import { requireDocker } from '@mlpl/appbuilder/docker-fixtures';
import { freePort } from '@mlpl/shared/testing';
import { testProxyImage } from './loop-fixtures.js';
import { proxyPart } from './stack-proxy.js';
import type { Part } from './stack.js';

/** A stand-in webapp on a loopback port: answers every request with its port. */
async function backend(port: number): Promise<http.Server> {
  const server = http.createServer((request, response) => {
    request.resume();
    request.on('end', () => response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ port })));
  });
  server.listen(port, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return server;
}

const close = (server: http.Server) => new Promise<void>((resolve) => server.close(() => resolve()));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A port that refused is skipped for a second (max_fails=1 fail_timeout=1s, nginx's clock in
 * whole seconds): with both skipped nginx answers 503 at once, for up to 2 s after one listens
 * again. Then one request tries it at a time; once one succeeds, every worker uses it (zone).
 * Returns how long until the first 200 (from `port`, if given), in ms, polling one request at a time.
 */
async function msUntilAnswered(url: string, port?: number): Promise<number> {
  const started = performance.now();
  while (performance.now() - started < 10_000) {
    const response = await fetch(`${url}/api/model`);
    const by = response.status === 200 ? ((await response.json()) as { port: number }).port : undefined;
    if (by !== undefined && (port === undefined || by === port)) return performance.now() - started;
    await sleep(50);
  }
  return Number.POSITIVE_INFINITY;
}

/**
 * The stack's proxy (the stand-in image with the config made from compose's), in front of two
 * plain HTTP servers taking turns on its two ports, as the webapp containers do in a rollout.
 */
describe("the stack's proxy on a real Docker engine", () => {
  const docker = createDocker('/var/run/docker.sock');
  const container = `mlpl-stackwt-proxy-${randomBytes(3).toString('hex')}`;
  let stateDir: string;
  let proxy: Part;
  let url: string;
  let ports: [number, number];

  before(async () => {
    await requireDocker();
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'mlpl-stack-proxy-'));
    ports = [await freePort(), await freePort()];
    const listen = await freePort();
    url = `http://127.0.0.1:${listen}`;
    proxy = proxyPart(docker, { image: await testProxyImage(), container, configFile: path.join(stateDir, 'proxy', 'nginx.conf'), listen, backends: ports });
    await proxy.start();
  });

  after(async () => {
    await proxy?.stop().catch(() => undefined);
    if (stateDir !== undefined) await rm(stateDir, { recursive: true, force: true });
  });

  test('when no port listens, then the proxy answers 503 in the webapp\'s error shape; when one does, then within 2 s it answers every request', async () => {
    const none = await fetch(`${url}/api/model`);
    assert.equal(none.status, 503);
    assert.equal(none.headers.get('retry-after'), '1');
    assert.deepEqual(((await none.json()) as { error: { code: string } }).error.code, 'webapp_unavailable');
    const second = await backend(ports[1]);
    try {
      assert.ok((await msUntilAnswered(url)) < 2500);
      for (let i = 0; i < 20; i++) assert.deepEqual(await (await fetch(`${url}/api/model`)).json(), { port: ports[1] });
    } finally {
      await close(second);
    }
  });

  test('when the serving port stops listening under load after the other one started (a rollout), then no request fails and both answered', async () => {
    const old = await backend(ports[0]);
    assert.ok((await msUntilAnswered(url)) < 2500);
    const answeredBy = new Map<number, number>();
    const failures: string[] = [];
    const started = performance.now();
    const at = () => `${Math.round(performance.now() - started)} ms`;
    const events: string[] = [];
    let stopped = false;
    const client = async () => {
      while (!stopped) {
        try {
          const response = await fetch(`${url}/api/predict`, { method: 'POST', body: 'x'.repeat(1000), signal: AbortSignal.timeout(10_000) });
          if (response.status !== 200) throw new Error(`${response.status} ${await response.text()}`);
          const { port } = (await response.json()) as { port: number };
          answeredBy.set(port, (answeredBy.get(port) ?? 0) + 1);
        } catch (error) {
          failures.push(`${at()}: ${(error as Error).message}`);
          await sleep(50);
        }
      }
    };
    const clients = Promise.all(Array.from({ length: 4 }, client));
    await sleep(500);
    const next = await backend(ports[1]);
    events.push(`${at()}: the other port listens`);
    // As the appbuilder does: one request through the proxy answered by the new port, and at least 3 s.
    assert.ok((await msUntilAnswered(url, ports[1])) < 2500);
    await sleep(3000);
    events.push(`${at()}: the serving port closes`);
    await close(old);
    events.push(`${at()}: closed`);
    await sleep(1000);
    stopped = true;
    await clients;
    await close(next);
    assert.deepEqual(failures, [], events.join('; '));
    assert.ok((answeredBy.get(ports[0]) ?? 0) > 0 && (answeredBy.get(ports[1]) ?? 0) > 0, JSON.stringify([...answeredBy]));
  });

  test('when the body is over 8 MiB, then the proxy refuses it in the webapp\'s error shape', async () => {
    const response = await fetch(`${url}/api/predict`, { method: 'POST', body: Buffer.alloc(9 * 1024 * 1024) });
    assert.equal(response.status, 413);
    assert.equal(((await response.json()) as { error: { code: string } }).error.code, 'image_too_large');
  });

  test('when stopped and started again, then the container is removed and made afresh', async () => {
    await proxy.stop();
    assert.equal(await inspectContainer(docker, container), undefined);
    await proxy.start();
    assert.equal((await fetch(`${url}/proxy-health`)).status, 200);
  });
});
