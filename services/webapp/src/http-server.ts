import http from 'node:http';
import type { RequestListener, Server } from 'node:http';

export type ServerLimits = {
  /** Connections held at once; more are closed as soon as they are accepted (MAX_CONNECTIONS). */
  maxConnections: number;
  /**
   * A client must have sent its request headers this long after connecting (or after its
   * previous answer, on a kept-alive connection): a client trickling headers byte by byte
   * (slowloris) holds a connection for no longer.
   */
  headersTimeoutMs: number;
  /**
   * The whole request, body included, within this: a slow client may not hold an upload
   * buffer (up to MAX_UPLOAD_BYTES) for Node's default of 300 s. At 30 s even a 5 MiB upload
   * from a slow phone line (~1.5 Mbit/s) arrives.
   */
  requestTimeoutMs: number;
  /**
   * An idle kept-alive connection is closed after this. Node's default, stated: the proxy
   * sends `Connection: close` anyway, and a browser drawing digits reuses its connection
   * within seconds or opens another.
   */
  keepAliveTimeoutMs: number;
  /** How often the two request timeouts are checked: Node's default of 30 s would let a slow client hold a connection for up to 40 s. */
  checkIntervalMs: number;
};

export const SERVER_LIMITS: Omit<ServerLimits, 'maxConnections'> = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  checkIntervalMs: 1_000,
};

/** The webapp's HTTP server, its timeouts and connection bound set deliberately rather than left to Node's defaults. */
export function createHttpServer(listener: RequestListener, limits: Pick<ServerLimits, 'maxConnections'> & Partial<ServerLimits>): Server {
  const { maxConnections, headersTimeoutMs, requestTimeoutMs, keepAliveTimeoutMs, checkIntervalMs } = { ...SERVER_LIMITS, ...limits };
  const server = http.createServer({ headersTimeout: headersTimeoutMs, requestTimeout: requestTimeoutMs, keepAliveTimeout: keepAliveTimeoutMs, connectionsCheckingInterval: checkIntervalMs }, listener);
  server.maxConnections = maxConnections;
  return server;
}
