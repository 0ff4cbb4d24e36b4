import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { containerLogs, createContainer, inspectContainer, inspectImage, removeContainer, startContainer, stopContainer } from '@mlpl/appbuilder/docker';
import type { Docker } from '@mlpl/appbuilder/docker';
import { REPO_ROOT, rssOf, waitUntil } from './service-process.js';
import type { Part } from './stack.js';

/** compose's proxy image (docker-compose.yml); the stack's Docker target runs the same one. */
export const DEFAULT_PROXY_IMAGE = 'nginx:1.30.4-alpine';

/** compose's proxy config: the stack's is made from it, so the two behave alike. */
export const PROXY_TEMPLATE = path.join(REPO_ROOT, 'deploy/proxy/nginx.conf');

/** Replaces what `pattern` matches, which must occur exactly `count` times in the template. */
function edit(text: string, pattern: RegExp, replacement: string, count: number): string {
  const found = text.match(new RegExp(pattern.source, `${pattern.flags.replace('g', '')}g`))?.length ?? 0;
  if (found !== count) {
    throw new Error(`deploy/proxy/nginx.conf has ${found} lines matching ${pattern}, the stack's proxy config expects ${count}: update scripts/src/stack-proxy.ts`);
  }
  return text.replace(new RegExp(pattern.source, `${pattern.flags.replace('g', '')}g`), replacement);
}

/**
 * The stack's proxy config, made from compose's (`template`): the same limits, timeouts, retries
 * (connection failures only; predictions also once sent), JSON errors and /proxy-health, but
 * listening on 127.0.0.1:`listen` with host networking, and sending to a static upstream of the
 * two loopback ports the webapp containers take turns on (`backends`) instead of resolving
 * compose's network alias. A port nothing listens on refuses at once; it is then skipped for a
 * second (max_fails=1 fail_timeout=1s, shared by the workers), so a request costs at most one
 * refused connection and the log one line a second. Comments are left out: they describe
 * compose's variant.
 */
export function stackProxyConfig(template: string, options: { listen: number; backends: readonly [number, number] }): string {
  let config = template
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n')
    .replace(/\n{3,}/g, '\n\n');
  config = edit(config, /^[ \t]*resolver(_timeout)? [^\n]*;\n/m, '', 2);
  config = edit(config, /^[ \t]*set \$webapp_upstream webapp;\n/m, '', 1);
  config = edit(config, /proxy_pass http:\/\/\$webapp_upstream:5050;/, 'proxy_pass http://webapp;', 2);
  config = edit(config, /^([ \t]*)listen 5050;/m, `$1listen 127.0.0.1:${options.listen};`, 1);
  const upstream = [
    'http {',
    '    # The webapp containers (host networking): the serving one listens on one of these ports, a',
    '    # new version starts on the other (services/appbuilder: side by side under host networking).',
    '    # A port that refused is skipped for fail_timeout; then one request tries it while the others',
    '    # skip it, until one succeeds. The zone shares that state between the workers, so the',
    "    # appbuilder's request through the proxy to the new version clears its port for all of them",
    '    # before the old one is drained (were it still skipped when the old one refuses: a 503).',
    '    upstream webapp {',
    '        zone webapp 64k;',
    ...options.backends.map((port) => `        server 127.0.0.1:${port} max_fails=1 fail_timeout=1s;`),
    '    }',
    '',
  ].join('\n');
  config = edit(config, /^http \{/m, upstream, 1).replace(/\n{3,}/g, '\n\n');
  const header = [
    '# The stack\'s proxy (npm run stack, Docker target), made by scripts/src/stack-proxy.ts from',
    '# deploy/proxy/nginx.conf at each start: edit that file, not this one.',
    '',
  ].join('\n');
  return `${header}${config.replace(/^\n+/, '')}`;
}

/** `labels`: added to the container's (the stack's owner label). */
type ProxyOptions = { image: string; container: string; configFile: string; listen: number; backends: readonly [number, number]; labels?: Record<string, string> };

/** Where the proxy image cannot be had: the way to a local stand-in from Debian packages. */
export const LOCAL_PROXY_ADVICE =
  'build a local nginx image from Debian packages with `bash scripts/compose-test/build-standins.sh proxy` and set STACK_PROXY_IMAGE=mlpl-test/proxy:latest';

/**
 * The image, pulled if this engine does not have it yet. `undefined` when it is there (or now
 * pulled), else why not, in words.
 */
export async function pullProxyImage(docker: Docker, image: string): Promise<string | undefined> {
  if ((await inspectImage(docker, image)) !== undefined) return undefined;
  return promisify(execFile)('docker', ['pull', image], { timeout: 300_000 }).then(
    () => undefined,
    (error: unknown) => `the proxy image ${image} is not on this Docker engine and could not be pulled (${(error as Error).message.split('\n').find((line) => line.startsWith('Error')) ?? 'docker pull failed'})`,
  );
}

async function ensureImage(docker: Docker, image: string): Promise<void> {
  const problem = await pullProxyImage(docker, image);
  if (problem !== undefined) throw new Error(`${problem}: ${LOCAL_PROXY_ADVICE}, or use \`--deploy process\``);
}

/**
 * The proxy as a part of the stack: an nginx container with host networking holding the
 * webapp's port. Each start writes its config and creates the container afresh (the ports or
 * the image may have changed); each stop removes it (nginx finishes what it holds first).
 */
export function proxyPart(docker: Docker, options: ProxyOptions): Part {
  let running = false;
  const url = `http://127.0.0.1:${options.listen}`;
  return {
    name: 'proxy',
    get running() {
      return running;
    },
    async start() {
      await mkdir(path.dirname(options.configFile), { recursive: true });
      await writeFile(options.configFile, stackProxyConfig(await readFile(PROXY_TEMPLATE, 'utf8'), options));
      await ensureImage(docker, options.image);
      await removeContainer(docker, options.container);
      const id = await createContainer(docker, {
        name: options.container,
        Image: options.image,
        Labels: { ...options.labels, 'mlpl.stack': 'proxy' },
        HostConfig: { NetworkMode: 'host', Binds: [`${options.configFile}:/etc/nginx/nginx.conf:ro`], RestartPolicy: { Name: 'unless-stopped' } },
      });
      await startContainer(docker, id);
      try {
        await waitUntil(`the proxy ${options.container} to answer ${url}/proxy-health`, 30_000, async () => (await fetch(`${url}/proxy-health`, { signal: AbortSignal.timeout(5000) })).ok);
      } catch (error) {
        const state = (await inspectContainer(docker, id))?.State;
        throw new Error(`${(error as Error).message} (${state?.Running === true ? 'running' : `exited ${state?.ExitCode}`}); its output:\n${await containerLogs(docker, id)}`);
      }
      running = true;
    },
    async stop() {
      await stopContainer(docker, options.container);
      await removeContainer(docker, options.container);
      running = false;
    },
    async kill() {
      await this.stop();
    },
    async rss() {
      const pid = (await inspectContainer(docker, options.container))?.State.Pid;
      return pid === undefined || pid === 0 ? undefined : rssOf(pid);
    },
  };
}
