/**
 * The benchmark's scale-out seed: the PostgreSQL equivalent of seed.ts. A fresh schema
 * `bench_<hex>` (migrated with lib/db-schema.ts, dropped by `cleanup`), the same bench users and
 * documents (owner user 0, anyone signed in may edit) written as tests/helpers/pg-fixture.ts writes
 * them, a key pair whose public half the collab-servers get as COLLAB_TOKEN_PUBLIC_KEY, and a Redis
 * key prefix of this run (its keys deleted by `cleanup`).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { Redis } from 'ioredis';
import { migratePostgres, pgIdent } from '../../lib/db-schema';
import { ensureKeyFiles, importPrivateKey } from '../../lib/keys';
import { signCollabToken } from '../../lib/token';
import { BENCH_USERS } from './seed';

export const BENCH_DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const BENCH_REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';

const userId = (i: number) => `bench-user-${i % BENCH_USERS}`;

export interface PgSeed {
  /** Run tag (hex): the schema is `bench_<tag>`, the Redis prefix `bench:<tag>:`. */
  tag: string;
  schema: string;
  redisPrefix: string;
  databaseUrl: string;
  redisUrl: string;
  /** Environment every collab-server instance of the run gets (PostgreSQL, Redis, public key). */
  env: Record<string, string>;
  /** Add documents (owner user 0, anyone signed in may edit). */
  addDocs(ids: string[]): Promise<void>;
  /** A token for user `i` (mod BENCH_USERS) on `docId`. */
  token(i: number, docId: string): Promise<string>;
  /** Empty collab-server's tables (log, snapshots, heads, client ids): every cluster start begins from the seeded state, as a single server's fresh data directory does. */
  resetContent(): Promise<void>;
  /** Drop the schema and the run's Redis keys. */
  cleanup(): Promise<void>;
}

/** Create the schema, users and keys of one benchmark run. */
export async function createPgSeed(root: string, o: { databaseUrl?: string; redisUrl?: string } = {}): Promise<PgSeed> {
  const databaseUrl = o.databaseUrl ?? BENCH_DATABASE_URL;
  const redisUrl = o.redisUrl ?? BENCH_REDIS_URL;
  const tag = randomBytes(4).toString('hex');
  const schema = `bench_${tag}`;
  const s = pgIdent(schema);
  const redisPrefix = `bench:${tag}:`;
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 2, application_name: `tandem-bench-seed-${tag}` });
  pool.on('error', () => {});
  await migratePostgres(pool, schema);
  const dir = join(root, `pg-${tag}`);
  mkdirSync(dir, { recursive: true });
  const keys = await ensureKeyFiles(join(dir, 'keys'));
  const priv = await importPrivateKey(keys.privatePem);
  const now = Date.now();
  const ids = Array.from({ length: BENCH_USERS }, (_, i) => userId(i));
  await pool.query(
    `INSERT INTO ${s}.users (id, email, name, password_hash, is_admin, created_at)
     SELECT u, u || '@bench.test', 'Bench ' || ord, 'x', 0, $2 FROM unnest($1::text[]) WITH ORDINALITY AS t(u, ord) ON CONFLICT DO NOTHING`,
    [ids, now],
  );
  const cache = new Map<string, string>();
  let cleaned: Promise<void> | null = null;
  return {
    tag,
    schema,
    redisPrefix,
    databaseUrl,
    redisUrl,
    env: { DATABASE_URL: databaseUrl, DATABASE_SCHEMA: schema, REDIS_URL: redisUrl, REDIS_PREFIX: redisPrefix, COLLAB_TOKEN_PUBLIC_KEY: keys.publicPem, DATA_DIR: dir },
    async addDocs(docIds) {
      // One statement per 5,000 rows: the idle and big scenarios seed thousands.
      for (let i = 0; i < docIds.length; i += 5000) {
        await pool.query(
          `INSERT INTO ${s}.docs (id, title, owner_id, general_access, acl_version, created_at, updated_at)
           SELECT d, 'Bench', $2, 'editor', 1, $3, $3 FROM unnest($1::text[]) AS t(d) ON CONFLICT DO NOTHING`,
          [docIds.slice(i, i + 5000), userId(0), now],
        );
      }
    },
    async token(i, docId) {
      const key = `${i % BENCH_USERS}\0${docId}`;
      let t = cache.get(key);
      if (!t) {
        t = (await signCollabToken(priv, { sub: userId(i), name: `Bench ${i % BENCH_USERS}`, doc: docId }, { ttlSeconds: 3 * 3600 })).token;
        cache.set(key, t);
      }
      return t;
    },
    async resetContent() {
      await pool.query(`TRUNCATE ${s}.doc_updates, ${s}.doc_snapshots, ${s}.doc_heads, ${s}.doc_client_ids, ${s}.collab_cursors`);
    },
    cleanup() {
      // Once: the Ctrl-C handler and the run's own finally may both ask.
      return (cleaned ??= dropAll());
    },
  };
  /** Drop the schema, then the Redis keys of the prefix. */
  async function dropAll(): Promise<void> {
    try {
      await pool.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
    } finally {
      await pool.end();
    }
    const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
    try {
      let cursor = '0';
      do {
        const [next, found] = await redis.scan(cursor, 'MATCH', `${redisPrefix}*`, 'COUNT', 1000);
        cursor = next;
        if (found.length) await redis.del(...found);
      } while (cursor !== '0');
    } finally {
      redis.disconnect();
    }
  }
}
