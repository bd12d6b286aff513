/**
 * The scale-out fixture: a fresh PostgreSQL schema (dropped at cleanup) with Tandem's tables,
 * seeded users/documents/grants written as the app writes them (version bump + feed row), token
 * minting, and collab-servers IN THIS PROCESS on that schema, each with its own Redis bus under
 * this run's key prefix — so one test can run three instances and look inside each.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import * as Y from 'yjs';
import { ensureKeyFiles, importPrivateKey, importPublicKey } from '../../lib/keys';
import { signCollabToken } from '../../lib/token';
import { newId, } from '../../lib/ids';
import { pgIdent } from '../../lib/db-schema';
import { createLogger } from '../../observability/logger';
import { createCollabMetrics } from '../../observability/metrics';
import { createPostgresAclStore } from '../../collab-server/acl-store';
import { createPostgresAuditSink } from '../../collab-server/audit';
import { createTokenAuthenticator } from '../../collab-server/auth';
import { openPgPool } from '../../collab-server/persistence/pg-pool';
import { createPostgresDocStoreOnPool } from '../../collab-server/persistence/postgres';
import { createRedisBus, type ClusterBus } from '../../collab-server/cluster/redis-bus';
import { createDocSync } from '../../collab-server/cluster/doc-sync';
import { createCollabServer, type CollabServerOptions } from '../../collab-server/server';
import { LogSink, testServerDefaults, type InProcessServer } from './fixture';

export const PG_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export interface PgFixture {
  schema: string;
  /** Redis key prefix of this run. */
  prefix: string;
  dir: string;
  pool: pg.Pool;
  user(opts?: { name?: string; isAdmin?: boolean }): Promise<string>;
  doc(ownerId: string, opts?: { general?: 'viewer' | 'editor' | null }): Promise<string>;
  /** Set (or remove, with null) a grant, bumping the ACL version and writing the feed row, as the app does. */
  grant(docId: string, userId: string, role: 'viewer' | 'editor' | null): Promise<void>;
  token(userId: string, docId: string, ttlSeconds?: number): Promise<string>;
  /** The document as stored: snapshot plus log, folded into a Y.Doc. */
  stored(docId: string): Promise<Y.Doc>;
  /** Rows in the document's update log. */
  logRows(docId: string): Promise<number>;
  cleanup(): Promise<void>;
}

export async function createPgFixture(): Promise<PgFixture> {
  const tag = randomBytes(5).toString('hex');
  const schema = `t_${tag}`;
  const s = pgIdent(schema);
  const dir = mkdtempSync(join(tmpdir(), 'tandem-pg-'));
  const pool = await openPgPool({ connectionString: PG_URL, schema, applicationName: `tandem-test-${tag}`, max: 4 });
  const keys = await ensureKeyFiles(join(dir, 'keys'));
  const priv = await importPrivateKey(keys.privatePem);
  const names = new Map<string, string>();
  const bump = async (c: pg.PoolClient | pg.Pool, docId: string) => {
    const v = await c.query<{ acl_version: number }>(`UPDATE ${s}.docs SET acl_version = acl_version + 1, updated_at = $1 WHERE id = $2 RETURNING acl_version`, [Date.now(), docId]);
    await c.query(`INSERT INTO ${s}.acl_changes (doc_id, version, at) VALUES ($1, $2, $3)`, [docId, v.rows[0]!.acl_version, Date.now()]);
  };
  return {
    schema,
    prefix: `tandem-test:${tag}:`,
    dir,
    pool,
    async user(opts = {}) {
      const id = newId();
      const name = opts.name ?? `User ${id.slice(0, 4)}`;
      names.set(id, name);
      await pool.query(`INSERT INTO ${s}.users (id, email, name, password_hash, is_admin, created_at) VALUES ($1, $2, $3, 'x', $4, $5)`, [
        id,
        `${id}@example.test`,
        name,
        opts.isAdmin ? 1 : 0,
        Date.now(),
      ]);
      return id;
    },
    async doc(ownerId, opts = {}) {
      const id = newId();
      await pool.query(`INSERT INTO ${s}.docs (id, title, owner_id, general_access, acl_version, created_at, updated_at) VALUES ($1, 'Test doc', $2, $3, 1, $4, $4)`, [
        id,
        ownerId,
        opts.general ?? null,
        Date.now(),
      ]);
      return id;
    },
    async grant(docId, userId, role) {
      if (role) await pool.query(`INSERT INTO ${s}.grants (doc_id, user_id, role) VALUES ($1, $2, $3) ON CONFLICT (doc_id, user_id) DO UPDATE SET role = excluded.role`, [docId, userId, role]);
      else await pool.query(`DELETE FROM ${s}.grants WHERE doc_id = $1 AND user_id = $2`, [docId, userId]);
      await bump(pool, docId);
    },
    async token(userId, docId, ttlSeconds = 300) {
      return (await signCollabToken(priv, { sub: userId, name: names.get(userId) ?? 'someone', doc: docId }, { ttlSeconds })).token;
    },
    async stored(docId) {
      const d = new Y.Doc();
      const snap = await pool.query<{ data: Buffer }>(`SELECT data FROM ${s}.doc_snapshots WHERE doc_id = $1`, [docId]);
      if (snap.rows[0]) Y.applyUpdate(d, new Uint8Array(snap.rows[0].data));
      for (const r of (await pool.query<{ data: Buffer }>(`SELECT data FROM ${s}.doc_updates WHERE doc_id = $1 ORDER BY seq`, [docId])).rows) Y.applyUpdate(d, new Uint8Array(r.data));
      return d;
    },
    async logRows(docId) {
      return (await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${s}.doc_updates WHERE doc_id = $1`, [docId])).rows[0]!.n;
    },
    async cleanup() {
      await pool.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
      await pool.end();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface ClusterInstance extends InProcessServer {
  instance: string;
  bus?: ClusterBus;
  /** This instance's PostgreSQL application_name (pg_terminate_backend finds its connections by it). */
  applicationName: string;
}

/**
 * One collab-server instance in this process on the fixture's schema: its own pool (as a separate
 * process would have), its own Redis bus (unless `redis: false`), port 0.
 */
export async function startPgInstance(
  fx: PgFixture,
  instance: string,
  opts: { redisUrl?: string | false; pgUrl?: string; pollMs?: number; degradedPollMs?: number; aclPollMs?: number; overrides?: Partial<CollabServerOptions> } = {},
): Promise<ClusterInstance> {
  const applicationName = `tandem-${fx.schema}-${instance}`;
  const pool = await openPgPool({ connectionString: opts.pgUrl ?? PG_URL, schema: fx.schema, applicationName, max: 4 });
  const logs = new LogSink();
  const log = createLogger({ service: 'collab-server', instance, level: 'debug', destination: logs });
  const metrics = createCollabMetrics({ defaultMetrics: false });
  const store = createPostgresDocStoreOnPool(pool, fx.schema);
  // 200 ms: the product's default ACL_POLL_MS, so revocation timings here are the real ones.
  const acl = createPostgresAclStore(pool, fx.schema, opts.aclPollMs ?? 200);
  const audit = createPostgresAuditSink(pool, fx.schema, () => {});
  const bus = opts.redisUrl === false ? undefined : createRedisBus({ url: opts.redisUrl ?? REDIS_URL, prefix: fx.prefix, instanceId: instance, metrics, log, timeoutMs: 500 });
  const sync = createDocSync({ store, bus, metrics, log, pollMs: opts.pollMs ?? 1000, degradedPollMs: opts.degradedPollMs ?? 200 });
  const pub = await importPublicKey((await ensureKeyFiles(join(fx.dir, 'keys'))).publicPem);
  const server = createCollabServer({
    store,
    acl,
    sync,
    auth: createTokenAuthenticator(pub, acl),
    metrics,
    log,
    ...testServerDefaults(audit),
    ...opts.overrides,
  });
  const port = await server.listen(0, '127.0.0.1');
  let closed = false;
  return {
    instance,
    bus,
    applicationName,
    server,
    port,
    url: `ws://127.0.0.1:${port}`,
    logs,
    metrics,
    async close() {
      if (closed) return;
      closed = true;
      await server.close();
      await bus?.close();
      await pool.end();
    },
  };
}
