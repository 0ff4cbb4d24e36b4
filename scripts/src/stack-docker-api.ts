import { existsSync } from 'node:fs';
import { HAPROXY_BINARY, startDockerApiProxy } from '@mlpl/appbuilder/docker-fixtures';
import type { DockerApiProxy } from '@mlpl/appbuilder/docker-fixtures';
import { rssOf } from './service-process.js';
import type { Part } from './stack.js';

/** Whether the stack can put the Docker API proxy in front of the engine: Debian's haproxy is installed. */
export function dockerApiProxyAvailable(): boolean {
  return existsSync(HAPROXY_BINARY);
}

/**
 * compose's Docker API proxy (deploy/docker-proxy/haproxy.cfg) as a part of the stack: Debian's
 * haproxy as a process on 127.0.0.1:`port`, in front of the engine's socket, its output appended
 * to `logFile`. The stack's webapp containers use the host's network, so that is allowed here
 * (DOCKER_PROXY_ALLOW_HOST_NETWORK); everything else is refused as under compose.
 */
export type DockerApiPart = Part & { address: string; logFile: string };

export function dockerApiPart(options: { port: number; logFile: string }): DockerApiPart {
  let proxy: DockerApiProxy | undefined;
  return {
    name: 'docker-proxy',
    address: `tcp://127.0.0.1:${options.port}`,
    logFile: options.logFile,
    get running() {
      return proxy !== undefined && proxy.process.exitCode === null && proxy.process.signalCode === null;
    },
    async start() {
      if (this.running) return;
      proxy = await startDockerApiProxy({ port: options.port, allowHostNetwork: true, logFile: options.logFile });
    },
    async stop() {
      await proxy?.stop();
      proxy = undefined;
    },
    async kill() {
      await this.stop();
    },
    async rss() {
      const pid = this.running ? proxy?.process.pid : undefined;
      return pid === undefined ? undefined : rssOf(pid);
    },
  };
}
