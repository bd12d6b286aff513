/**
 * PostgreSQL DocStore: the update log and snapshots in Postgres (`DATABASE_URL`), for when the
 * update log outgrows one machine's disk or must survive losing it. Same contract as SQLite
 * (tests/contract/doc-store.test.ts runs against both). Tables live in `schema` so several
 * deployments — or test runs — can share one database.
 */
import pg from 'pg';
import type { DocStore, StoredDoc } from './doc-store';

const ident = (s: string) => {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(s)) throw new Error(`invalid schema name: ${s}`);
  return `"${s}"`;
};

export async function createPostgresDocStore(opts: { connectionString: string; schema?: string; poolSize?: number }): Promise<DocStore> {
  const schema = ident(opts.schema ?? 'tandem');
  const pool = new pg.Pool({ connectionString: opts.connectionString, max: opts.poolSize ?? 10 });
  // An idle client's network error must not crash the process; queries on it fail and are retried by callers.
  pool.on('error', () => {});
  await pool.query(`
    CREATE SCHEMA IF NOT EXISTS ${schema};
    CREATE TABLE IF NOT EXISTS ${schema}.doc_updates (
      doc_id TEXT NOT NULL,
      seq BIGINT NOT NULL,
      data BYTEA NOT NULL,
      PRIMARY KEY (doc_id, seq)
    );
    CREATE TABLE IF NOT EXISTS ${schema}.doc_snapshots (
      doc_id TEXT PRIMARY KEY,
      upto_seq BIGINT NOT NULL,
      data BYTEA NOT NULL,
      updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
    );
  `);
  const u8 = (b: Buffer) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

  return {
    async load(docId): Promise<StoredDoc> {
      const snap = await pool.query<{ upto_seq: string; data: Buffer }>(`SELECT upto_seq, data FROM ${schema}.doc_snapshots WHERE doc_id = $1`, [docId]);
      const base = snap.rows[0] ? Number(snap.rows[0].upto_seq) : 0;
      const rows = await pool.query<{ seq: string; data: Buffer }>(`SELECT seq, data FROM ${schema}.doc_updates WHERE doc_id = $1 AND seq > $2 ORDER BY seq`, [docId, base]);
      return {
        snapshot: snap.rows[0] ? u8(snap.rows[0].data) : null,
        updates: rows.rows.map((r) => u8(r.data)),
        lastSeq: rows.rows.length ? Number(rows.rows[rows.rows.length - 1]!.seq) : base,
      };
    },
    async append(docId, firstSeq, updates) {
      // One statement, so the group commit is one atomic, durable write (one WAL flush).
      const seqs = updates.map((_, i) => firstSeq + i);
      await pool.query(`INSERT INTO ${schema}.doc_updates (doc_id, seq, data) SELECT $1, s, d FROM unnest($2::bigint[], $3::bytea[]) AS t(s, d)`, [
        docId,
        seqs,
        updates.map((u) => Buffer.from(u.buffer, u.byteOffset, u.byteLength)),
      ]);
    },
    async compact(docId, snapshot, uptoSeq) {
      const c = await pool.connect();
      try {
        await c.query('BEGIN');
        await c.query(
          `INSERT INTO ${schema}.doc_snapshots (doc_id, upto_seq, data, updated_at) VALUES ($1, $2, $3, now())
           ON CONFLICT (doc_id) DO UPDATE SET upto_seq = excluded.upto_seq, data = excluded.data, updated_at = now()`,
          [docId, uptoSeq, Buffer.from(snapshot.buffer, snapshot.byteOffset, snapshot.byteLength)],
        );
        await c.query(`DELETE FROM ${schema}.doc_updates WHERE doc_id = $1 AND seq <= $2`, [docId, uptoSeq]);
        await c.query('COMMIT');
      } catch (err) {
        await c.query('ROLLBACK').catch(() => {});
        throw err;
      } finally {
        c.release();
      }
    },
    async delete(docId) {
      // One statement: both tables or neither.
      await pool.query(`WITH u AS (DELETE FROM ${schema}.doc_updates WHERE doc_id = $1) DELETE FROM ${schema}.doc_snapshots WHERE doc_id = $1`, [docId]);
    },
    async ping() {
      await pool.query('SELECT 1');
    },
    async close() {
      await pool.end();
    },
  };
}
