/**
 * The app's PostgreSQL handle: one pool, one schema, and the migration run once before the first
 * query (every query awaits it, so nothing can touch a table that may not exist yet).
 */
import pg from 'pg';
import { migratePostgres, pgIdent } from '@/lib/db-schema';

/** Anything that runs a query: the pool wrapper, or a client inside a transaction. */
export interface PgQueryable {
  query<R extends pg.QueryResultRow = any>(sql: string, params?: unknown[]): Promise<pg.QueryResult<R>>;
}

export interface PgDb extends PgQueryable {
  pool: pg.Pool;
  /** The schema name as given (e.g. for advisory-lock keys). */
  schemaName: string;
  /** The schema, quoted for SQL: `${db.s}.users`. */
  s: string;
  /** Resolves once the schema is migrated; a failed migration is retried by the next call. */
  ready(): Promise<void>;
  /** Run `fn` in one transaction (COMMIT, or ROLLBACK on throw). */
  tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** BIGINT (oid 20) as a JS number: ids and millisecond timestamps stay far below 2^53. */
const BIGINT_OID = 20;
const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === BIGINT_OID ? Number : pg.types.getTypeParser(oid, format as 'text')) as pg.CustomTypesConfig['getTypeParser'],
};

/** Open a pool on `connectionString` and (lazily) migrate `schema`. */
export function openPg(opts: { connectionString: string; schema: string; applicationName: string; max?: number }): PgDb {
  const s = pgIdent(opts.schema);
  const pool = new pg.Pool({ connectionString: opts.connectionString, application_name: opts.applicationName, max: opts.max ?? 10, types });
  // An idle client's network error must not crash the process: queries on a dead client fail and
  // the request that made them answers 500; the pool replaces the client.
  pool.on('error', () => {});
  // Checked-out clients are not covered by the pool's listener: a backend terminated mid-transaction
  // would otherwise be an unhandled 'error' event. The query in flight fails and is answered 500.
  pool.on('connect', (client) => client.on('error', () => {}));
  let migrated: Promise<void> | null = null;
  const ready = (): Promise<void> => {
    migrated ??= migratePostgres(pool, opts.schema).catch((err: unknown) => {
      migrated = null; // e.g. PostgreSQL was not up yet: the next request tries again
      throw err;
    });
    return migrated;
  };
  return {
    pool,
    schemaName: opts.schema,
    s,
    ready,
    async query(sql, params) {
      await ready();
      return pool.query(sql, params);
    },
    async tx(fn) {
      await ready();
      const c = await pool.connect();
      let broken = false;
      try {
        await c.query('BEGIN');
        const r = await fn(c);
        await c.query('COMMIT');
        return r;
      } catch (err) {
        // The caller gets the original error; a client whose ROLLBACK fails is discarded, not reused.
        await c.query('ROLLBACK').catch(() => {
          broken = true;
        });
        throw err;
      } finally {
        c.release(broken);
      }
    },
    close: () => pool.end(),
  };
}

/** True for a unique-constraint violation (SQLSTATE 23505). */
export const isUniqueViolation = (err: unknown): boolean => (err as { code?: string } | null)?.code === '23505';
