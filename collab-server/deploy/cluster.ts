/**
 * `npm run cluster`: a whole Tandem cluster on one machine, against the local PostgreSQL and Redis.
 * Starts CLUSTER_APPS app instances (`next start`, ports from CLUSTER_APP_PORT), CLUSTER_COLLABS
 * collab-servers (ports from CLUSTER_COLLAB_PORT, INSTANCE_ID collab-1…) and nginx on
 * CLUSTER_HOST:CLUSTER_PORT in front of them (nginx.conf.template). Output is prefixed and coloured
 * per process (concurrently); Ctrl-C / SIGTERM stops everything. One instance exiting does not stop
 * the others: kill one to watch its clients move to another through nginx. The app is built
 * first (`next build`) when .next is missing or older than its sources.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { concurrently, type ConcurrentlyCommandInput } from 'concurrently';
import pg from 'pg';
import { Redis } from 'ioredis';
import { z } from 'zod';
import { ensureKeyFiles } from '../../lib/keys';
import { nginxBinary, prepareNginxPrefix, renderNginxConfig } from './nginx';

const ROOT = resolve(import.meta.dirname, '../..');

const port = (def: number) => z.coerce.number().int().min(1).max(65_535).default(def);
const count = (def: number) => z.coerce.number().int().min(1).max(32).default(def);

/** The launcher's own settings (README "Scaling out" lists them); everything else passes through. */
export const ClusterEnvSchema = z.object({
  CLUSTER_HOST: z.string().default('127.0.0.1'),
  CLUSTER_PORT: port(8080),
  CLUSTER_APPS: count(2),
  CLUSTER_APP_PORT: port(3001),
  CLUSTER_COLLABS: count(3),
  CLUSTER_COLLAB_PORT: port(1241),
  CLUSTER_DATA_DIR: z.string().default('./data/cluster'),
  DATABASE_URL: z.string().default('postgres://postgres@127.0.0.1:5432/postgres'),
  DATABASE_SCHEMA: z.string().default('tandem'),
  REDIS_URL: z.string().default('redis://127.0.0.1:6379'),
  COLLAB_PUBLIC_URL: z.string().optional(),
});
export type ClusterEnv = z.infer<typeof ClusterEnvSchema>;

export interface ClusterProcess {
  name: string;
  command: string;
  env: Record<string, string>;
  /** URL that answers once the process is up. */
  readyUrl: string;
  color: string;
}

export interface ClusterPlan {
  dataDir: string;
  nginxPrefix: string;
  nginxConf: string;
  publicHttpUrl: string;
  publicCollabUrl: string;
  processes: ClusterProcess[];
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const url = (host: string, p: number) => `${host.includes(':') ? `[${host}]` : host}:${p}`;

/** What `npm run cluster` runs for `c`, with the token key pair given as PEM (pure: no side effects). */
export function clusterPlan(c: ClusterEnv, keys: { privatePem: string; publicPem: string }, root = ROOT): ClusterPlan {
  const dataDir = resolve(root, c.CLUSTER_DATA_DIR);
  const nginxPrefix = join(dataDir, 'nginx');
  // Browsers and stock clients reach collab-server through nginx only: /collab/<docId>.
  const publicHost = c.CLUSTER_HOST === '0.0.0.0' || c.CLUSTER_HOST === '::' ? '127.0.0.1' : c.CLUSTER_HOST;
  const publicHttpUrl = `http://${url(publicHost, c.CLUSTER_PORT)}`;
  const publicCollabUrl = c.COLLAB_PUBLIC_URL ?? `ws://${url(publicHost, c.CLUSTER_PORT)}/collab`;
  const shared = {
    DATA_DIR: dataDir,
    DATABASE_URL: c.DATABASE_URL,
    DATABASE_SCHEMA: c.DATABASE_SCHEMA,
    REDIS_URL: c.REDIS_URL,
    NEXT_TELEMETRY_DISABLED: '1',
  };
  const collabPorts = Array.from({ length: c.CLUSTER_COLLABS }, (_, i) => c.CLUSTER_COLLAB_PORT + i);
  const appPorts = Array.from({ length: c.CLUSTER_APPS }, (_, i) => c.CLUSTER_APP_PORT + i);
  const collabColors = ['magenta', 'green', 'yellow', 'red'];
  const processes: ClusterProcess[] = [
    ...appPorts.map((p, i) => ({
      name: `app-${i + 1}`,
      command: `exec next start -p ${p} -H ${q(c.CLUSTER_HOST)}`,
      env: {
        ...shared,
        INSTANCE_ID: `app-${i + 1}`,
        COLLAB_TOKEN_PRIVATE_KEY: keys.privatePem,
        COLLAB_PUBLIC_URL: publicCollabUrl,
        // The admin console's live sessions: asked of the first collab-server directly (its
        // /admin/* is not exposed through nginx).
        COLLAB_HTTP_URL: `http://${url(publicHost, collabPorts[0]!)}`,
      },
      readyUrl: `http://${url(publicHost, p)}/api/me`,
      color: i % 2 ? 'cyan' : 'blue',
    })),
    ...collabPorts.map((p, i) => ({
      name: `collab-${i + 1}`,
      command: 'exec node --import tsx collab-server/main.ts',
      env: {
        ...shared,
        INSTANCE_ID: `collab-${i + 1}`,
        COLLAB_HOST: c.CLUSTER_HOST,
        // Browsers load the app through nginx: that is the Origin their sockets carry.
        ALLOWED_ORIGINS: `http://${url(publicHost, c.CLUSTER_PORT)}`,
        COLLAB_PORT: String(p),
        COLLAB_TOKEN_PUBLIC_KEY: keys.publicPem,
      },
      readyUrl: `http://${url(publicHost, p)}/readyz`,
      color: collabColors[i % collabColors.length]!,
    })),
  ];
  const nginxConf = renderNginxConfig({
    prefix: nginxPrefix,
    listen: url(c.CLUSTER_HOST, c.CLUSTER_PORT),
    appServers: appPorts.map((p) => url(publicHost, p)),
    collabServers: collabPorts.map((p) => url(publicHost, p)),
    workers: 'auto',
  });
  processes.push({
    name: 'nginx',
    // Relative -c, -e and pid paths are taken from the prefix.
    command: `exec ${q(nginxBinary())} -p ${q(nginxPrefix)} -c nginx.conf -e error.log -g 'daemon off; pid nginx.pid;'`,
    env: {},
    readyUrl: `${publicHttpUrl}/`,
    color: 'gray',
  });
  return { dataDir, nginxPrefix, nginxConf, publicHttpUrl, publicCollabUrl, processes };
}

/** Fail early, naming the service, instead of five processes each printing a connection error. */
async function preflight(c: ClusterEnv): Promise<void> {
  const client = new pg.Client({ connectionString: c.DATABASE_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch (err) {
    throw new Error(`PostgreSQL at DATABASE_URL=${c.DATABASE_URL} is not reachable: ${(err as Error).message}`);
  } finally {
    await client.end().catch(() => {});
  }
  const redis = new Redis(c.REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 3000, retryStrategy: () => null });
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    throw new Error(`Redis at REDIS_URL=${c.REDIS_URL} is not reachable: ${(err as Error).message}`);
  } finally {
    redis.disconnect();
  }
  if (!existsSync(nginxBinary()) && spawnSync('nginx', ['-v']).error) {
    throw new Error('nginx is not installed. Run: sudo apt-get install -y nginx');
  }
}

/** Sources the app's production build is made from (everything `next build` reads). */
const BUILD_INPUTS = ['app', 'lib', 'observability', 'public', 'package.json', 'package-lock.json', 'next.config.js', 'tsconfig.json', 'instrumentation.ts', 'middleware.ts', 'proxy.ts'];

function newestMtime(path: string): number {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const e of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, e)));
  return newest;
}

/**
 * Why the build must be (re)made, or null: two `next start`s from a build older than the sources
 * would serve old code against collab-servers that run the current sources (tsx).
 */
export function buildIsStale(root: string, distDir = '.next'): string | null {
  const id = join(root, distDir, 'BUILD_ID');
  if (!existsSync(id)) return 'no production build yet';
  const built = statSync(id).mtimeMs;
  const changed = BUILD_INPUTS.find((p) => newestMtime(join(root, p)) > built);
  return changed ? `${changed} changed since the last build` : null;
}

async function waitReady(urlToPoll: string, deadline: number, stopped: () => boolean): Promise<void> {
  for (;;) {
    if (stopped()) throw new Error('stopped');
    try {
      const res = await fetch(urlToPoll, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      // Any HTTP answer from an app means it is up (/api/me answers 401 to a stranger); a
      // collab-server's /readyz must say 200 (its database answers).
      if (res.status < 500) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${urlToPoll} did not answer in time`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function main(): Promise<void> {
  const c = ClusterEnvSchema.parse(process.env);
  await preflight(c);
  const stale = buildIsStale(ROOT);
  if (stale) {
    console.log(`[cluster] ${stale}: running next build`);
    const b = spawnSync(join(ROOT, 'node_modules/.bin/next'), ['build'], { cwd: ROOT, stdio: 'inherit', env: { ...process.env, NEXT_TELEMETRY_DISABLED: '1' } });
    if (b.status !== 0) throw new Error('next build failed');
  }
  const dataDir = resolve(ROOT, c.CLUSTER_DATA_DIR);
  mkdirSync(dataDir, { recursive: true });
  // One key pair for the whole cluster: apps sign with the private half, collab-servers verify.
  const keys = await ensureKeyFiles(join(dataDir, 'keys'));
  const plan = clusterPlan(c, keys);
  prepareNginxPrefix(plan.nginxPrefix, plan.nginxConf);

  const commands: ConcurrentlyCommandInput[] = plan.processes.map((p) => ({
    name: p.name,
    command: p.command,
    // Commands run in the repository root with its node_modules/.bin (next) and this node first on PATH.
    env: { ...process.env, ...p.env, PATH: [join(ROOT, 'node_modules/.bin'), dirname(process.execPath), process.env.PATH].join(delimiter) },
    cwd: ROOT,
    prefixColor: p.color,
  }));
  const { result, commands: running } = concurrently(commands, { prefix: 'name', padPrefix: true, killOthersOn: [], handleInput: false });
  let finished = false;
  // Stopped on purpose (concurrently forwards the signal to every process): `next start` exits 143
  // on SIGTERM, which is not a failure of the cluster.
  let signalled = false;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(sig, () => (signalled = true));
  const done = result.then(
    () => 0,
    () => (signalled ? 0 : 1),
  ).finally(() => {
    finished = true;
  });

  const deadline = Date.now() + 180_000;
  try {
    await Promise.all(plan.processes.map((p) => waitReady(p.readyUrl, deadline, () => finished)));
    const pids = running.map((r) => `${r.name}=${r.pid}`).join(' ');
    console.log(
      [
        '',
        '[cluster] ready',
        `[cluster]   app:           ${plan.publicHttpUrl}/  (instances on ports ${c.CLUSTER_APP_PORT}..${c.CLUSTER_APP_PORT + c.CLUSTER_APPS - 1})`,
        `[cluster]   collab-server: ${plan.publicCollabUrl}/<docId>  (instances on ports ${c.CLUSTER_COLLAB_PORT}..${c.CLUSTER_COLLAB_PORT + c.CLUSTER_COLLABS - 1})`,
        `[cluster]   PostgreSQL:    ${c.DATABASE_URL} (schema ${c.DATABASE_SCHEMA}), Redis: ${c.REDIS_URL}`,
        `[cluster]   data and keys: ${plan.dataDir}; nginx logs: ${plan.nginxPrefix}`,
        `[cluster]   pids: ${pids}`,
        '[cluster]   Ctrl-C stops everything; `kill -TERM <pid>` drains one collab instance (clients move on).',
        '',
      ].join('\n'),
    );
  } catch (err) {
    if (!finished) {
      console.error(`[cluster] startup failed: ${(err as Error).message}; stopping`);
      for (const r of running) r.kill('SIGTERM');
    }
  }
  process.exitCode = await done;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: Error) => {
    console.error(`[cluster] ${err.message}`);
    process.exit(1);
  });
}
