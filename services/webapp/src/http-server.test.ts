import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Server } from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { createHttpServer, SERVER_LIMITS } from './http-server.js';

const ok = (_req: unknown, res: { end(body: string): void }) => res.end('ok');

async function listening(server: Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

async function stop(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}

/** A raw connection that has sent `sent`; resolves with what came back when the server closed it. */
async function openConnection(port: number, sent: string): Promise<{ socket: net.Socket; closed: Promise<string> }> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
  socket.on('error', () => undefined);
  const closed = once(socket, 'close').then(() => received);
  socket.write(sent);
  return { socket, closed };
}

describe('the webapp HTTP server', () => {
  it('when made with only the connection bound, then its timeouts are the stated ones, not Node\'s defaults', () => {
    const server = createHttpServer(ok, { maxConnections: 7 });
    assert.deepEqual(
      [server.maxConnections, server.headersTimeout, server.requestTimeout, server.keepAliveTimeout],
      [7, SERVER_LIMITS.headersTimeoutMs, SERVER_LIMITS.requestTimeoutMs, SERVER_LIMITS.keepAliveTimeoutMs],
    );
    assert.deepEqual([SERVER_LIMITS.headersTimeoutMs, SERVER_LIMITS.requestTimeoutMs, SERVER_LIMITS.keepAliveTimeoutMs], [10_000, 30_000, 5_000]);
  });

  it('when a client trickles its headers, then it is answered 408 and cut off once the headers timeout passed', async () => {
    const server = createHttpServer(ok, { maxConnections: 10, headersTimeoutMs: 300, requestTimeoutMs: 600, checkIntervalMs: 50 });
    const port = await listening(server);
    try {
      const started = performance.now();
      const slow = await openConnection(port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n');
      const timer = setInterval(() => slow.socket.write('X-Slow: 1\r\n'), 100);
      try {
        const answer = await slow.closed;
        assert.match(answer, /^HTTP\/1\.1 408/);
        assert.ok(performance.now() - started < 5000, 'cut off within seconds');
      } finally {
        clearInterval(timer);
      }
    } finally {
      await stop(server);
    }
  });

  it('when more clients connect than it holds, then the extra connection is closed unanswered and the others are served', async () => {
    const server = createHttpServer(ok, { maxConnections: 2 });
    const port = await listening(server);
    try {
      // Two connections held open mid-request.
      const held = [await openConnection(port, 'GET / HTTP/1.1\r\n'), await openConnection(port, 'GET / HTTP/1.1\r\n')];
      const extra = await openConnection(port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      assert.equal(await extra.closed, '', 'closed without an answer');
      held[0]?.socket.write('Host: x\r\nConnection: close\r\n\r\n');
      assert.match((await held[0]?.closed) ?? '', /^HTTP\/1\.1 200[\s\S]*ok$/);
      for (const connection of held) connection.socket.destroy();
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(await (await fetch(`http://127.0.0.1:${port}/`)).text(), 'ok', 'served again once connections are free');
    } finally {
      await stop(server);
    }
  });
});
