import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { listenPort } from '@mlpl/appbuilder/deploy';
import { createDocker, inspectContainer } from '@mlpl/appbuilder/docker';
import { listening, REPO_ROOT } from './service-process.js';
import { OWNER_LABEL } from './stack-docker.js';
import { DEFAULT_PROXY_IMAGE, LOCAL_PROXY_ADVICE, pullProxyImage } from './stack-proxy.js';
import { RunReport } from './stack-output.js';
import type { RunView } from './stack-output.js';
import { startStack, StartAborted } from './stack.js';
import type { Stack } from './stack.js';

const USAGE = `usage: npm run stack [-- --deploy auto|process|docker] [--state-dir DIR]
  Starts the whole pipeline on loopback: MariaDB, s3rver, webapp, appbuilder, training.
  --deploy     docker: the webapp runs as a container the appbuilder rebuilds and replaces;
               process: the webapp is a process whose model the appbuilder swaps;
               auto (default): docker where a Docker engine answers (and as root,
               to make the local base image), else process
  --state-dir  where data, models, logs and secrets are kept (default .stack/ in the
               checkout); one stack per folder. On the Docker target the names of its
               containers and images come from a hash of the folder's path
               (mlpl-stack-<hash>-webapp[-<version>], …-proxy, mlpl-stack-<hash>/mywebapp),
               the containers labelled mlpl.stack.state-dir=<folder>. A container under
               these names made by another folder (or by this one before it was deleted)
               is refused, with the docker rm -f that removes it. A folder whose containers
               carry the earlier fixed names (mlpl-stack-webapp…) keeps them.
  Ports (environment): STACK_WEBAPP_PORT 5050, STACK_TRAINING_PORT 5001,
  STACK_APPBUILDER_PORT 5000, STACK_DATABASE_PORT 3307, STACK_STORAGE_PORT 9000;
  docker: the proxy (STACK_PROXY_IMAGE, default nginx:1.30.4-alpine) holds the webapp
  port and sends to the webapp containers on the next two (5051, 5052); where Debian's
  haproxy is installed, the appbuilder reaches Docker through compose's Docker API proxy
  (deploy/docker-proxy/haproxy.cfg, on a free loopback port; logs/docker-proxy.log);
  TRAINING_INTERVAL (10s) and TRAINING_THRESHOLD (10) are passed on.`;

/**
 * The command that prints the admin token, not the token: terminal output ends up in
 * scrollback, shared screens and pasted bug reports, and the token rolls the model in service
 * back. secrets.json is the user's alone (0600); reading it takes one command.
 */
function adminTokenCommand(stateDir: string): string {
  const file = path.join(stateDir, 'secrets.json').replace(/\\/g, '\\\\').replace(/'/g, "\\'");
  return `node -p "require('${file}').admin"`;
}

/**
 * The ports the Fetch standard blocks (https://fetch.spec.whatwg.org/#port-blocking): Node's
 * fetch, which the stack and its services use to reach each other, refuses them ("bad port").
 */
const FETCH_BLOCKED_PORTS = new Set([
  1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102, 103, 104, 109, 110, 111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161,
  179, 389, 427, 465, 512, 513, 514, 515, 526, 530, 531, 532, 540, 548, 554, 556, 563, 587, 601, 636, 989, 990, 993, 995, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060,
  5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080,
]);

function port(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > 65535) throw new Error(`${name} must be a port number, got "${raw}"`);
  if (FETCH_BLOCKED_PORTS.has(value)) throw new Error(`${name}=${value} is a port web clients refuse to connect to (the Fetch standard's blocked ports, e.g. 6000, 6665-6669): choose another`);
  return value;
}

/**
 * Refuses to start beside a stack already running from this folder (its runner's pid is in
 * `stack.pid`) or where a port is taken, saying which and what to do; else writes the pid file.
 */
async function claim(stateDir: string, ports: Record<string, number>, ours: ReadonlySet<number>): Promise<() => void> {
  const pidFile = path.join(stateDir, 'stack.pid');
  const pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
  if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && (await isStackRunner(pid))) {
    throw new Error(`a stack from ${stateDir} already runs (pid ${pid}): use it, or stop it with Ctrl-C in its terminal (or kill -INT ${pid}) first`);
  }
  const taken = [];
  for (const [name, value] of Object.entries(ports)) if (!ours.has(value) && (await listening(value))) taken.push(`${value} (${PORT_SETTINGS[name] ?? name})`);
  if (taken.length > 0) {
    throw new Error(
      `port${taken.length > 1 ? 's' : ''} ${taken.join(', ')} already in use on 127.0.0.1: another stack (from another --state-dir or checkout) or another program holds ${taken.length > 1 ? 'them' : 'it'}. ` +
        'Stop it, or give this stack other ports, e.g. STACK_WEBAPP_PORT=6050 STACK_TRAINING_PORT=6060 STACK_APPBUILDER_PORT=6070 STACK_DATABASE_PORT=6080 STACK_STORAGE_PORT=6090 (the Docker target also uses the two ports after STACK_WEBAPP_PORT)',
    );
  }
  await mkdir(stateDir, { recursive: true });
  await writeFile(pidFile, `${process.pid}\n`);
  return () => rmSync(pidFile, { force: true });
}

const PORT_SETTINGS: Record<string, string> = {
  webapp: 'STACK_WEBAPP_PORT',
  training: 'STACK_TRAINING_PORT',
  appbuilder: 'STACK_APPBUILDER_PORT',
  database: 'STACK_DATABASE_PORT',
  storage: 'STACK_STORAGE_PORT',
};

/** Whether `pid` is a stack runner (not a process that got the pid of one that ended). */
async function isStackRunner(pid: number): Promise<boolean> {
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return cmdline.includes('run-stack.js');
}

/** Every port given once: two parts on one port would answer each other's health checks. */
function checkPorts(ports: Record<string, number>): void {
  const byPort = new Map<number, string[]>();
  for (const [name, value] of Object.entries(ports)) byPort.set(value, [...(byPort.get(value) ?? []), PORT_SETTINGS[name] ?? name]);
  const shared = [...byPort].filter(([, names]) => names.length > 1).map(([value, names]) => `${names.join(' and ')} are both ${value}`);
  if (shared.length > 0) throw new Error(`each part needs a port of its own: ${shared.join('; ')}`);
  for (const [name, value] of Object.entries(ports)) {
    if (value > 65535 || FETCH_BLOCKED_PORTS.has(value)) throw new Error(`${name} would be ${value}, which ${value > 65535 ? 'is no port' : 'web clients refuse to connect to'}: choose another STACK_WEBAPP_PORT`);
  }
}

/**
 * The host ports this state folder's own containers hold (host networking): each webapp
 * container's PORT, and the webapp's port for its proxy.
 */
async function portsOfOwnContainers(stateDir: string, webappPort: number): Promise<Set<number>> {
  const docker = createDocker('/var/run/docker.sock');
  const containers = await docker.listContainers({ all: true, filters: { label: [`${OWNER_LABEL}=${stateDir}`] } }).catch(() => []);
  const ports = new Set<number>();
  for (const listed of containers) {
    if (listed.Labels['mlpl.stack'] === 'proxy') {
      ports.add(webappPort);
      continue;
    }
    const inspected = await inspectContainer(docker, listed.Id);
    if (inspected !== undefined) ports.add(listenPort(inspected.Config.Env ?? [], 5050));
  }
  return ports;
}

async function dockerAnswers(): Promise<boolean> {
  return promisify(execFile)('docker', ['info', '--format', '{{.ServerVersion}}'], { timeout: 10_000 }).then(() => true, () => false);
}

type Status = {
  baseData?: { state: string; progress?: { split: string; done: number; total: number; imagesPerSecond: number }; source?: string; registered?: number; error?: string };
  runs?: RunView[];
};

/** Prints registration progress, then what was there before (once), then each new training run: running, then its outcome. */
function follow(stack: Stack, signal: AbortSignal): void {
  let lastLine = '';
  const report = new RunReport();
  const tick = async () => {
    const status = (await (await fetch(`${stack.urls.training}/status`, { signal: AbortSignal.timeout(5000) })).json()) as Status;
    const base = status.baseData;
    let line = '';
    if (base?.state === 'registering' && base.progress !== undefined) {
      line = `registering base data: ${base.progress.split} ${base.progress.done}/${base.progress.total} (${Math.round(base.progress.imagesPerSecond)} images/s)`;
    } else if (base?.state === 'ready') {
      const registered = (base.registered ?? 0) > 0 ? `${base.registered} newly registered from ${base.source ?? '?'}` : `registered at an earlier start (${base.source ?? '?'})`;
      line = `base data ready: ${registered}; training checks every interval for new feedback`;
    } else if (base !== undefined) {
      line = `base data: ${base.state}${base.error === undefined ? '' : ` (${base.error})`}`;
    }
    if (line !== lastLine) console.log(line);
    lastLine = line;
    // /status without runs: the database is not reachable this second; not "no runs".
    if (status.runs === undefined) return;
    for (const text of report.lines(status.runs, await servedVersion(stack.urls.webapp))) console.log(text);
  };
  let ticking = false;
  const timer = setInterval(() => {
    if (ticking) return;
    ticking = true;
    void tick()
      .catch(() => undefined)
      .finally(() => (ticking = false));
  }, 1000);
  signal.addEventListener('abort', () => clearInterval(timer));
}

async function servedVersion(webapp: string): Promise<string | undefined> {
  const response = await fetch(`${webapp}/api/model`, { signal: AbortSignal.timeout(5000) }).catch(() => undefined);
  return response?.ok === true ? ((await response.json()) as { version?: string }).version : undefined;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { deploy: { type: 'string', default: 'auto' }, 'state-dir': { type: 'string' }, help: { type: 'boolean' } } });
  if (values.help === true) {
    console.log(USAGE);
    return;
  }
  if (!['auto', 'process', 'docker'].includes(values.deploy)) throw new Error(`--deploy must be auto, process or docker, got "${values.deploy}"\n${USAGE}`);
  // The Docker target makes its base image from the host's files (scripts/make-base-image.sh), which needs root.
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  const proxyImage = process.env.STACK_PROXY_IMAGE;
  let deploy = values.deploy === 'auto' ? (root && (await dockerAnswers()) ? 'docker' : 'process') : (values.deploy as 'process' | 'docker');
  if (values.deploy === 'auto' && deploy === 'process') {
    console.log(`deploy target: process (the whole pipeline without Docker containers): ${root ? 'no Docker engine answers' : 'the Docker target needs root (it makes its base image from this machine\'s files)'}`);
  }
  if (values.deploy === 'auto' && deploy === 'docker') {
    // Where no registry answers (our CI machines), the proxy's image cannot be pulled: auto
    // means "Docker where it can work", so the stack runs on the process target and says why.
    const problem = await pullProxyImage(createDocker('/var/run/docker.sock'), proxyImage === undefined || proxyImage === '' ? DEFAULT_PROXY_IMAGE : proxyImage);
    if (problem !== undefined) {
      console.log(`deploy target: process (the whole pipeline without Docker containers). The Docker target needs a proxy image: ${problem}; to use it, ${LOCAL_PROXY_ADVICE}`);
      deploy = 'process';
    }
  }
  const stateDir = path.resolve(values['state-dir'] ?? path.join(REPO_ROOT, '.stack'));
  const ports = {
    webapp: port('STACK_WEBAPP_PORT', 5050),
    training: port('STACK_TRAINING_PORT', 5001),
    appbuilder: port('STACK_APPBUILDER_PORT', 5000),
    database: port('STACK_DATABASE_PORT', 3307),
    storage: port('STACK_STORAGE_PORT', 9000),
  };
  const interval = process.env.TRAINING_INTERVAL;
  const threshold = process.env.TRAINING_THRESHOLD;
  const ownPorts: Record<string, number> = deploy === 'docker' ? { ...ports, 'STACK_WEBAPP_PORT + 1': ports.webapp + 1, 'STACK_WEBAPP_PORT + 2': ports.webapp + 2 } : ports;
  checkPorts(ownPorts);
  // On the Docker target this folder's own containers may still hold their ports (restarted by
  // the engine after a reboot, or left by a runner that was killed): the stack takes them over.
  const release = await claim(stateDir, ownPorts, deploy === 'docker' ? await portsOfOwnContainers(stateDir, ports.webapp) : new Set());
  process.once('exit', release);
  console.log(`mlpl stack: deploy target ${deploy}, state in ${stateDir}`);

  // Ctrl-C from the first moment: while starting, what has started is stopped (the services run
  // in process groups of their own, so the terminal's signal reaches this runner only).
  let stack: Stack | undefined;
  let stopping = false;
  const starting = new AbortController();
  const following = new AbortController();
  const stop = (signal: string) => {
    if (stopping) {
      console.log(`${signal}: still stopping (a build or swap may take up to a minute to finish)`);
      return;
    }
    stopping = true;
    if (stack === undefined) {
      console.log(`\n${signal}: stopping what has started so far`);
      starting.abort();
      return;
    }
    console.log(`\n${signal}: stopping ${stack.parts.map((part) => part.name).reverse().join(', ')}`);
    following.abort();
    stack.stop().then(
      () => console.log('stopped'),
      (error: unknown) => {
        console.error('unclean stop:', error);
        process.exitCode = 1;
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  // A closed terminal: the services run in sessions of their own and would outlive the runner.
  process.on('SIGHUP', () => stop('SIGHUP'));

  try {
    stack = await startStack(
      {
        stateDir,
        deploy,
        ports,
        signal: starting.signal,
        ...(proxyImage === undefined || proxyImage === '' ? {} : { proxyImage }),
        ...(interval === undefined ? {} : { trainingInterval: interval }),
        ...(threshold === undefined ? {} : { threshold: Number(threshold) }),
      },
      (line) => console.log(line),
    );
  } catch (error) {
    if (!(error instanceof StartAborted)) throw error;
    console.log('stopped before it was ready; nothing of it runs');
    process.exitCode = 130;
    return;
  }
  console.log(`
  webapp      ${stack.urls.webapp}          (the page; API docs at /docs)
  training    ${stack.urls.training}/status
  appbuilder  ${stack.urls.appbuilder}/deployments
  database    mysql://mlpl@127.0.0.1:${ports.database}/mlpl   (password in ${path.join(stateDir, 'secrets.json')})
  storage     http://127.0.0.1:${ports.storage}   (s3rver; key ${stack.settings.storage.accessKey}, secret in secrets.json)
  logs        ${path.join(stateDir, 'logs')}/   (webapp.log, appbuilder.log, training.log${stack.dockerApi === undefined ? '' : ', docker-proxy.log'})
  admin token (rollbacks on /models): ${adminTokenCommand(stateDir)}
Ctrl-C stops everything; the data stays in ${stateDir}.`);
  follow(stack, following.signal);
}

main().catch((error: unknown) => {
  console.error('the stack did not start (what it had started is stopped again):', error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
