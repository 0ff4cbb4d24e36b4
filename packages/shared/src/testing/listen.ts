import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** An app listening on a free loopback port, for tests that talk real HTTP to it. */
export type ListeningApp = { server: Server; url: string; close(): Promise<void> };

/** Listens on 127.0.0.1:0; `close` drops open (keep-alive) connections and waits for the server to stop. */
export async function listenOnLoopback(app: { listen(port: number, host: string): Server }): Promise<ListeningApp> {
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    server,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
