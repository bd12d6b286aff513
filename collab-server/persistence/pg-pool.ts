/** collab-server's PostgreSQL pool: BIGINTs as numbers, a recognisable application_name, migrated. */
import pg from 'pg';
import { migratePostgres } from '../../lib/db-schema';

/**
 * Tandem's BIGINTs are millisecond timestamps and sequence numbers, far below 2^53: read them as
 * numbers (pg returns int8 as strings by default).
 */
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === 20 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

export interface PgOptions {
  connectionString: string;
  schema: string;
  /** Shown in pg_stat_activity (operators and chaos tests find an instance's connections by it). */
  applicationName?: string;
  max?: number;
}

/** A pool whose schema is migrated (idempotent, advisory-locked across instances). */
export async function openPgPool(o: PgOptions): Promise<pg.Pool> {
  const pool = new pg.Pool({
    connectionString: o.connectionString,
    max: o.max ?? 10,
    application_name: o.applicationName ?? 'tandem-collab',
    types,
    // A dead server must fail a query in bounded time, not hang the document's flush chain.
    connectionTimeoutMillis: 5000,
  });
  // An idle client's network error (a terminated backend, a restart) must not crash the process;
  // the pool drops that client and the next query opens a new one.
  pool.on('error', () => {});
  // The pool listens for errors on idle clients only: one terminated while checked out (in a
  // transaction) would emit an unhandled 'error' and end the process. Its query fails instead.
  pool.on('connect', (client) => client.on('error', () => {}));
  await migratePostgres(pool, o.schema);
  return pool;
}
