/**
 * A collab-server cluster for tests: N collab-server CHILD processes (so a test can SIGKILL or
 * SIGTERM one) in PostgreSQL + Redis mode, each test file in its own PostgreSQL schema `t_<hex>`
 * and Redis key prefix, optionally behind nginx rendered from the shipped template
 * (collab-server/deploy/nginx.conf.template). Seeds users, documents and grants straight into
 * PostgreSQL (the tables of lib/db-schema.ts) and mints tokens with the cluster's key pair.
 *
 *   const c = useCluster({ instances: 3, nginx: true });      // beforeAll/afterAll registered
 *   const owner = await c.user(); const doc = await c.doc(owner);
 *   provider(c.nginxUrl!, doc, await c.token(owner, doc));    // or c.instances[i].url directly
 *   await c.kill(1); await c.restart(1);
 *
 * With `apps: n` it also runs n app instances (`next start`, built into .next-cluster-test when
 * that build is older than the sources) on the same schema, round-robined by nginx at `appUrl`:
 * the whole product behind nginx, for browser tests.
 *
 * Env: TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres), TEST_REDIS_URL
 * (default redis://127.0.0.1:6379).
 */
import { randomBytes } from 'node:crypto';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import pg from 'pg';
import { Redis } from 'ioredis';
import { migratePostgres, pgIdent } from '../../lib/db-schema';
import { ensureKeyFiles, importPrivateKey } from '../../lib/keys';
import { newId } from '../../lib/ids';
import { signAdminToken, signCollabToken } from '../../lib/token';
import { buildIsStale } from '../../collab-server/deploy/cluster';
import { startNginx, type RunningNginx } from '../../collab-server/deploy/nginx';
import { ROOT } from './fixture';
import { waitFor } from './wait';
import { HARNESS_APP_ENV } from './harness-env';

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export interface ClusterOptions {
  /** collab-server child processes (default 3). */
  instances?: number;
  /** Put nginx with the shipped template in front, on a free loopback port (default false). */
  nginx?: boolean;
  /** Extra environment for every instance (e.g. short CLUSTER_POLL_MS). */
  env?: Record<string, string>;
  /** Instances also read the key ring in DATA_DIR/keys (COLLAB_TOKEN_KEYS_DIR, a shared volume): rotation and revocation tests. */
  keyRing?: boolean;
  /** Extra environment for instance `i` (0-based), applied after `env`. */
  instanceEnv?: (i: number) => Record<string, string>;
  /** App instances (`next start`) behind nginx too (default 0; implies `nginx`). */
  apps?: number;
  /** Extra environment for every app instance. */
  appEnv?: Record<string, string>;
  /** Redis to use instead of TEST_REDIS_URL, e.g. a private redis-server a chaos test may pause or kill. */
  redisUrl?: string;
}

export interface AppInstance {
  port: number;
  /** http://127.0.0.1:<port>, the instance itself (nginx is `appUrl`). */
  url: string;
  proc: ChildProcess;
  output: string[];
  exited: Promise<number | string | null>;
}

/** Where the cluster helper builds the app, apart from `.next` (npm start, the e2e harness). */
export const CLUSTER_TEST_DIST_DIR = '.next-cluster-test';

export interface ClusterInstance {
  /** 0-based position; INSTANCE_ID is `collab-<index + 1>`. */
  index: number;
  id: string;
  port: number;
  /** ws://127.0.0.1:<port>: append /<docId> (the stock provider does). */
  url: string;
  /** http://127.0.0.1:<port>: /healthz, /readyz, /metrics, /admin/sessions. */
  httpUrl: string;
  proc: ChildProcess;
  /** stdout (pino JSON lines) and stderr of this run of the instance. */
  output: string[];
  /** Resolves with the exit code, or the signal name when killed by one. */
  exited: Promise<number | string | null>;
}

export interface LiveSession {
  connId: string;
  docId: string;
  userId: string;
  role: string | null;
}

export interface TestCluster {
  /** PostgreSQL schema of this cluster (`t_<hex>`), dropped at close. */
  schema: string;
  /** Redis key prefix (`t_<hex>:`), its keys deleted at close. */
  redisPrefix: string;
  databaseUrl: string;
  redisUrl: string;
  /** Temporary DATA_DIR of the instances (token keys, nginx prefix). */
  dataDir: string;
  /** Current instances; `restart(i)` replaces entry i. */
  instances: ClusterInstance[];
  /** nginx in front (with `nginx: true`): ws://127.0.0.1:<port>/collab, append /<docId>. */
  nginxUrl?: string;
  nginx?: RunningNginx;
  /** With `apps`: the app instances, and nginx's http://127.0.0.1:<port> that balances them. */
  apps: AppInstance[];
  appUrl?: string;
  /** A pool on the cluster's schema (search_path set), BIGINT read as number. */
  pool: pg.Pool;
  redis: Redis;
  /** Create a user; returns its id. */
  user(opts?: { name?: string; isAdmin?: boolean }): Promise<string>;
  /** Create a document owned by `ownerId`; returns its id. */
  doc(ownerId: string, opts?: { general?: 'viewer' | 'editor' | null; id?: string; title?: string }): Promise<string>;
  /** Set (or remove, with null) a grant, bumping the ACL version and appending to the change feed, in one transaction. */
  grant(docId: string, userId: string, role: 'viewer' | 'editor' | null): Promise<void>;
  /** A collab token for (user, doc). */
  token(userId: string, docId: string, ttlSeconds?: number): Promise<string>;
  /** Live sessions of instance `i` (its admin API, as a seeded instance admin). */
  sessions(i: number): Promise<LiveSession[]>;
  /** The value of an unlabelled metric (e.g. tandem_open_sockets) on instance `i`. */
  metric(i: number, name: string): Promise<number>;
  /** Send `signal` (default SIGKILL) to instance `i` and wait for it to exit; resolves with its exit code or signal. */
  kill(i: number, signal?: NodeJS.Signals): Promise<number | string | null>;
  /** Start instance `i` again on the same port (nginx's upstream stays valid). */
  restart(i: number): Promise<ClusterInstance>;
  /** Stop everything, drop the schema and the Redis keys. */
  close(): Promise<void>;
}

/** A free TCP port on loopback (the OS picks it; a tiny race with other processes is accepted). */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** A PostgreSQL pool the way the lead's decision says: BIGINT as number, named, on `schema`. */
function openPool(connectionString: string, schema: string): pg.Pool {
  const pool = new pg.Pool({
    connectionString,
    max: 4,
    application_name: 'tandem-test-cluster',
    options: `-c search_path=${pgIdent(schema)}`,
    types: { getTypeParser: ((oid: number, fmt?: 'text' | 'binary') => (oid === 20 ? Number : pg.types.getTypeParser(oid, fmt))) as typeof pg.types.getTypeParser },
  });
  pool.on('error', () => {
    // An idle client killed by a chaos test: the next query gets a fresh one.
  });
  return pool;
}

function spawnInstance(index: number, port: number, env: Record<string, string>): Promise<ClusterInstance> {
  const id = `collab-${index + 1}`;
  const proc = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'collab-server/main.ts')], {
    cwd: ROOT,
    // Browsers come through nginx on a port chosen later: any Origin (origin checks have their own tests).
    env: { ...process.env, COLLAB_HOST: '127.0.0.1', ALLOWED_ORIGINS: '*', COLLAB_PORT: String(port), INSTANCE_ID: id, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const exited = new Promise<number | string | null>((r) => proc.on('exit', (code, signal) => r(code ?? signal)));
  let buf = '';
  return new Promise<ClusterInstance>((resolve, reject) => {
    proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        output.push(line);
        // main.ts prints this machine-readable line once it listens.
        if (line.includes('"collab-server ready"')) {
          const p = JSON.parse(line).port as number;
          resolve({ index, id, port: p, url: `ws://127.0.0.1:${p}`, httpUrl: `http://127.0.0.1:${p}`, proc, output, exited });
        }
      }
    });
    proc.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
    void exited.then((code) => reject(new Error(`${id} exited with ${code} before it was ready:\n${output.join('\n')}`)));
  });
}

function spawnApp(index: number, port: number, env: Record<string, string>): AppInstance {
  const proc = spawn(process.execPath, [join(ROOT, 'node_modules/next/dist/bin/next'), 'start', '-p', String(port), '-H', '127.0.0.1'], {
    cwd: ROOT,
    env: { ...process.env, INSTANCE_ID: `app-${index + 1}`, LOG_LEVEL: 'warn', NEXT_TELEMETRY_DISABLED: '1', NEXT_DIST_DIR: CLUSTER_TEST_DIST_DIR, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const keep = (d: Buffer) => {
    output.push(d.toString());
    if (output.length > 400) output.splice(0, output.length - 400);
  };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  const exited = new Promise<number | string | null>((r) => proc.on('exit', (code, signal) => r(code ?? signal)));
  return { port, url: `http://127.0.0.1:${port}`, proc, output, exited };
}

/** `next build` into CLUSTER_TEST_DIST_DIR unless that build is newer than every source. */
function buildAppIfStale(): void {
  if (!buildIsStale(ROOT, CLUSTER_TEST_DIST_DIR)) return;
  const r = spawnSync(process.execPath, [join(ROOT, 'node_modules/next/dist/bin/next'), 'build'], {
    cwd: ROOT,
    env: { ...process.env, NEXT_TELEMETRY_DISABLED: '1', NEXT_DIST_DIR: CLUSTER_TEST_DIST_DIR },
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`next build failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
}

async function stopProcess(proc: ChildProcess, exited: Promise<unknown>, timeoutMs = 10_000): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  proc.kill('SIGTERM');
  const t = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
  await exited;
  clearTimeout(t);
}

/** Start a cluster; call `close()` when done (or use `useCluster`, which does both for a file). */
export async function startCluster(opts: ClusterOptions = {}): Promise<TestCluster> {
  const tag = randomBytes(6).toString('hex');
  const schema = `t_${tag}`;
  const redisPrefix = `t_${tag}:`;
  const dataDir = mkdtempSync(join(tmpdir(), 'tandem-cluster-'));
  const pool = openPool(TEST_DATABASE_URL, schema);
  const redisUrl = opts.redisUrl ?? TEST_REDIS_URL;
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1, lazyConnect: true });
  const instances: ClusterInstance[] = [];
  const apps: AppInstance[] = [];
  let nginx: RunningNginx | undefined;
  let adminId: string | null = null;

  const keys = await ensureKeyFiles(join(dataDir, 'keys'));
  const priv = await importPrivateKey(keys.privatePem);
  const names = new Map<string, string>();
  const env = (i: number): Record<string, string> => ({
    DATA_DIR: dataDir,
    DATABASE_URL: TEST_DATABASE_URL,
    DATABASE_SCHEMA: schema,
    REDIS_URL: redisUrl,
    REDIS_PREFIX: redisPrefix,
    COLLAB_TOKEN_PUBLIC_KEY: keys.publicPem,
    ...(opts.keyRing ? { COLLAB_TOKEN_KEYS_DIR: join(dataDir, 'keys') } : {}),
    // Revocations and grants made by seeding are seen quickly.
    ACL_POLL_MS: '50',
    ...opts.env,
    ...opts.instanceEnv?.(i),
  });

  const close = async () => {
    await nginx?.stop().catch(() => {});
    await Promise.all(apps.map((a) => stopProcess(a.proc, a.exited)));
    await Promise.all(
      instances.map(async (inst) => {
        if (inst.proc.exitCode === null && inst.proc.signalCode === null) {
          inst.proc.kill('SIGKILL');
          await inst.exited;
        }
      }),
    );
    try {
      await pool.query(`DROP SCHEMA IF EXISTS ${pgIdent(schema)} CASCADE`);
    } finally {
      await pool.end();
    }
    try {
      if (redis.status === 'ready') {
        let cursor = '0';
        do {
          const [next, found] = await redis.scan(cursor, 'MATCH', `${redisPrefix}*`, 'COUNT', 500);
          cursor = next;
          if (found.length) await redis.del(...found);
        } while (cursor !== '0');
      }
    } catch (err) {
      // A private Redis a test stopped: nothing left to clean there.
      if (!opts.redisUrl) throw err;
    } finally {
      redis.disconnect();
    }
    rmSync(dataDir, { recursive: true, force: true });
  };

  try {
    await redis.connect();
    // The instances migrate too; doing it first lets the test seed before (or without) them.
    await migratePostgres(pool, schema);
    const n = opts.instances ?? 3;
    const appCount = opts.apps ?? 0;
    if (appCount) buildAppIfStale();
    instances.push(...(await Promise.all(Array.from({ length: n }, (_, i) => spawnInstance(i, 0, env(i))))));
    if (opts.nginx || appCount) {
      const nginxPort = await freePort();
      for (let i = 0; i < appCount; i++) {
        apps.push(
          spawnApp(i, await freePort(), {
            DATA_DIR: dataDir,
            DATABASE_URL: TEST_DATABASE_URL,
            DATABASE_SCHEMA: schema,
            REDIS_URL: redisUrl,
            REDIS_PREFIX: redisPrefix,
            COLLAB_TOKEN_PRIVATE_KEY: keys.privatePem,
            // Browsers reach collab-server through nginx, as with `npm run cluster`.
            COLLAB_PUBLIC_URL: `ws://127.0.0.1:${nginxPort}/collab`,
            COLLAB_HTTP_URL: instances[0]!.httpUrl,
            // Cheaper password hashing: tests sign up many users (from one address, verified at once).
            PASSWORD_SCRYPT_LOG2N: '14',
            ...HARNESS_APP_ENV,
            ...opts.appEnv,
          }),
        );
      }
      await Promise.all(
        apps.map((a) =>
          waitFor(
            async () => {
              if (a.proc.exitCode !== null) throw new Error(`next start exited: ${a.output.join('')}`);
              return (await fetch(`${a.url}/signin`)).ok;
            },
            { timeout: 60_000, interval: 100, what: `next start on ${a.port}` },
          ),
        ),
      );
      nginx = await startNginx({
        prefix: join(dataDir, 'nginx'),
        listen: `127.0.0.1:${nginxPort}`,
        appServers: apps.map((a) => `127.0.0.1:${a.port}`),
        collabServers: instances.map((x) => `127.0.0.1:${x.port}`),
        // Short, so a test that restarts an instance sees nginx use it again soon.
        failTimeoutSeconds: 2,
      });
    }
  } catch (err) {
    await close().catch(() => {});
    throw err;
  }

  const cluster: TestCluster = {
    schema,
    redisPrefix,
    databaseUrl: TEST_DATABASE_URL,
    redisUrl,
    dataDir,
    instances,
    nginx,
    nginxUrl: nginx?.collabUrl,
    apps,
    appUrl: apps.length ? nginx?.httpUrl : undefined,
    pool,
    redis,
    async user(o = {}) {
      const id = newId();
      const name = o.name ?? `User ${id.slice(0, 4)}`;
      names.set(id, name);
      await pool.query('INSERT INTO users (id, email, name, password_hash, is_admin, created_at) VALUES ($1, $2, $3, $4, $5, $6)', [
        id,
        `${id}@example.test`,
        name,
        'x',
        o.isAdmin ? 1 : 0,
        Date.now(),
      ]);
      return id;
    },
    async doc(ownerId, o = {}) {
      const id = o.id ?? newId();
      const now = Date.now();
      await pool.query('INSERT INTO docs (id, title, owner_id, general_access, acl_version, created_at, updated_at) VALUES ($1, $2, $3, $4, 1, $5, $5)', [
        id,
        o.title ?? 'Test doc',
        ownerId,
        o.general ?? null,
        now,
      ]);
      return id;
    },
    async grant(docId, userId, role) {
      const c = await pool.connect();
      try {
        await c.query('BEGIN');
        if (role) {
          await c.query('INSERT INTO grants (doc_id, user_id, role) VALUES ($1, $2, $3) ON CONFLICT (doc_id, user_id) DO UPDATE SET role = excluded.role', [docId, userId, role]);
        } else {
          await c.query('DELETE FROM grants WHERE doc_id = $1 AND user_id = $2', [docId, userId]);
        }
        const now = Date.now();
        const v = await c.query<{ acl_version: number }>('UPDATE docs SET acl_version = acl_version + 1, updated_at = $2 WHERE id = $1 RETURNING acl_version', [docId, now]);
        if (!v.rows[0]) throw new Error(`grant: no document ${docId}`);
        await c.query('INSERT INTO acl_changes (doc_id, version, at) VALUES ($1, $2, $3)', [docId, v.rows[0].acl_version, now]);
        await c.query('COMMIT');
      } catch (err) {
        await c.query('ROLLBACK').catch(() => {});
        throw err;
      } finally {
        c.release();
      }
    },
    async token(userId, docId, ttlSeconds = 300) {
      return (await signCollabToken(priv, { sub: userId, name: names.get(userId) ?? 'someone', doc: docId }, { ttlSeconds })).token;
    },
    async sessions(i) {
      adminId ??= await cluster.user({ name: 'Cluster admin', isAdmin: true });
      const res = await fetch(`${instances[i]!.httpUrl}/admin/sessions`, { headers: { authorization: `Bearer ${await signAdminToken(priv, { sub: adminId })}` } });
      if (res.status !== 200) throw new Error(`${instances[i]!.id} /admin/sessions answered ${res.status}: ${await res.text()}`);
      return ((await res.json()) as { sessions: LiveSession[] }).sessions;
    },
    async metric(i, name) {
      const text = await (await fetch(`${instances[i]!.httpUrl}/metrics`)).text();
      const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.eE+-]+)$`, 'm').exec(text);
      if (!m) throw new Error(`${instances[i]!.id} has no metric ${name}`);
      return Number(m[1]);
    },
    async kill(i, signal = 'SIGKILL') {
      const inst = instances[i]!;
      if (inst.proc.exitCode !== null || inst.proc.signalCode !== null) return inst.exited;
      inst.proc.kill(signal);
      return inst.exited;
    },
    async restart(i) {
      const old = instances[i]!;
      if (old.proc.exitCode === null && old.proc.signalCode === null) throw new Error(`${old.id} is still running: kill it first`);
      // The old socket may linger a moment after a kill; retry until the port is ours again.
      const inst = await waitFor(
        () => spawnInstance(i, old.port, env(i)).catch((err: Error) => {
          if (/EADDRINUSE/.test(err.message)) return null;
          throw err;
        }),
        { timeout: 15_000, interval: 100, what: `${old.id} to restart on port ${old.port}` },
      );
      instances[i] = inst;
      return inst;
    },
    close,
  };
  return cluster;
}

/**
 * The usual shape of a cluster test file: a cluster started before the file's tests and closed
 * after them. Properties are filled in by beforeAll, so read them inside tests only.
 */
export function useCluster(opts: ClusterOptions = {}): TestCluster {
  let c: TestCluster | null = null;
  const proxy = new Proxy({} as TestCluster, {
    get(_t, prop) {
      if (!c) throw new Error('the cluster starts in beforeAll: use it inside a test or hook');
      const v = (c as unknown as Record<string | symbol, unknown>)[prop];
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(c) : v;
    },
  });
  beforeAll(async () => {
    c = await startCluster(opts);
  });
  afterAll(async () => {
    await c?.close();
  });
  return proxy;
}
