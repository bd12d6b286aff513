/**
 * PostgreSQL DocStore: the update log and snapshots in Postgres (`DATABASE_URL`), shared by every
 * collab-server of a cluster. Same contract as SQLite (tests/contract/doc-store.test.ts runs
 * against both). Tables live in `schema` so several deployments — or test runs — share a database.
 */
import type pg from 'pg';
import { pgIdent } from '../../lib/db-schema';
import type { DocStore, LogRange, StoredDoc } from './doc-store';
import { openPgPool } from './pg-pool';

const u8 = (b: Buffer) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
const buf = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength);

/** Run `f` in one REPEATABLE READ transaction: the snapshot and the log rows agree with each other. */
async function consistentRead<T>(pool: pg.Pool, f: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  const c = await pool.connect();
  try {
    await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const r = await f(c);
    await c.query('COMMIT');
    return r;
  } catch (err) {
    await c.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    c.release();
  }
}

/** A DocStore over an open (migrated) pool; `ownsPool` closes it with the store. */
export function createPostgresDocStoreOnPool(pool: pg.Pool, schemaName: string, ownsPool = false): DocStore {
  const s = pgIdent(schemaName);
  // One statement, so it is one atomic, durable commit (one WAL flush) however many rows: the
  // head row's lock orders concurrent appends to one document from several instances, and the
  // sequence numbers are taken from it. A database from before doc_heads starts after its log.
  const appendSql = `
    WITH h AS (
      INSERT INTO ${s}.doc_heads AS h (doc_id, last_seq, last_edit_at)
      VALUES ($1, COALESCE((SELECT max(seq) FROM ${s}.doc_updates WHERE doc_id = $1), (SELECT upto_seq FROM ${s}.doc_snapshots WHERE doc_id = $1), 0) + $2, $3)
      ON CONFLICT (doc_id) DO UPDATE SET last_seq = h.last_seq + $2, last_edit_at = $3
      RETURNING last_seq
    ), u AS (
      INSERT INTO ${s}.doc_updates (doc_id, seq, data)
      SELECT $1, (SELECT last_seq FROM h) - $2 + t.ord, t.d FROM unnest($4::bytea[]) WITH ORDINALITY AS t(d, ord)
    ), c AS (
      INSERT INTO ${s}.doc_client_ids (doc_id, client_id, user_id)
      SELECT $1, t.cid, t.uid FROM unnest($5::bigint[], $6::text[]) AS t(cid, uid)
      ON CONFLICT DO NOTHING
    )
    SELECT last_seq FROM h`;

  return {
    async load(docId): Promise<StoredDoc> {
      return consistentRead(pool, async (c) => {
        const snap = await c.query<{ upto_seq: number; data: Buffer }>(`SELECT upto_seq, data FROM ${s}.doc_snapshots WHERE doc_id = $1`, [docId]);
        const base = snap.rows[0]?.upto_seq ?? 0;
        const rows = await c.query<{ seq: number; data: Buffer }>(`SELECT seq, data FROM ${s}.doc_updates WHERE doc_id = $1 AND seq > $2 ORDER BY seq`, [docId, base]);
        const head = await c.query<{ last_seq: number }>(`SELECT last_seq FROM ${s}.doc_heads WHERE doc_id = $1`, [docId]);
        const ids = await c.query<{ client_id: number; user_id: string }>(`SELECT client_id, user_id FROM ${s}.doc_client_ids WHERE doc_id = $1`, [docId]);
        const lastRow = rows.rows.length ? rows.rows[rows.rows.length - 1]!.seq : 0;
        return {
          snapshot: snap.rows[0] ? u8(snap.rows[0].data) : null,
          updates: rows.rows.map((r) => u8(r.data)),
          lastSeq: Math.max(head.rows[0]?.last_seq ?? 0, base, lastRow),
          clientIds: new Map(ids.rows.map((r) => [r.client_id, r.user_id])),
        };
      });
    },
    async append(docId, updates, clientIds) {
      const ids = clientIds ? [...clientIds] : [];
      const r = await pool.query<{ last_seq: number }>(appendSql, [
        docId,
        updates.length,
        Date.now(),
        updates.map(buf),
        ids.map(([cid]) => cid),
        ids.map(([, uid]) => uid),
      ]);
      return r.rows[0]!.last_seq - updates.length + 1;
    },
    async readSince(docId, afterSeq): Promise<LogRange> {
      return consistentRead(pool, async (c) => {
        const snap = await c.query<{ upto_seq: number; data: Buffer }>(
          `SELECT upto_seq, data FROM ${s}.doc_snapshots WHERE doc_id = $1 AND upto_seq > $2`,
          [docId, afterSeq],
        );
        const folded = snap.rows[0];
        const rows = await c.query<{ seq: number; data: Buffer }>(`SELECT seq, data FROM ${s}.doc_updates WHERE doc_id = $1 AND seq > $2 ORDER BY seq`, [
          docId,
          folded ? folded.upto_seq : afterSeq,
        ]);
        return {
          snapshot: folded ? { data: u8(folded.data), uptoSeq: folded.upto_seq } : null,
          updates: rows.rows.map((r) => ({ seq: r.seq, data: u8(r.data) })),
        };
      });
    },
    async heads(docIds) {
      if (docIds.length === 0) return new Map();
      const r = await pool.query<{ doc_id: string; last_seq: number }>(`SELECT doc_id, last_seq FROM ${s}.doc_heads WHERE doc_id = ANY($1::text[])`, [docIds]);
      return new Map(r.rows.map((x) => [x.doc_id, x.last_seq]));
    },
    async compact(docId, snapshot, uptoSeq, text) {
      const c = await pool.connect();
      try {
        await c.query('BEGIN');
        // The document's compaction lease: one writer per document across the cluster. A
        // transaction-scoped lock is released by COMMIT/ROLLBACK, and by PostgreSQL if we die.
        const lock = await c.query<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0)) AS ok', [`${schemaName}:compact:${docId}`]);
        if (!lock.rows[0]!.ok) {
          await c.query('ROLLBACK');
          return false;
        }
        await c.query(
          `INSERT INTO ${s}.doc_snapshots AS p (doc_id, upto_seq, data, updated_at) VALUES ($1, $2, $3, $4)
           ON CONFLICT (doc_id) DO UPDATE SET upto_seq = excluded.upto_seq, data = excluded.data, updated_at = excluded.updated_at
           WHERE excluded.upto_seq > p.upto_seq`,
          [docId, uptoSeq, buf(snapshot), Date.now()],
        );
        // Safe even when a newer snapshot won: it covers at least as much.
        await c.query(`DELETE FROM ${s}.doc_updates WHERE doc_id = $1 AND seq <= $2`, [docId, uptoSeq]);
        if (text !== undefined) {
          await c.query(
            `INSERT INTO ${s}.doc_text (doc_id, text, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (doc_id) DO UPDATE SET text = excluded.text, updated_at = excluded.updated_at`,
            [docId, text, Date.now()],
          );
        }
        await c.query('COMMIT');
        return true;
      } catch (err) {
        await c.query('ROLLBACK').catch(() => {});
        throw err;
      } finally {
        c.release();
      }
    },
    async delete(docId) {
      // One statement: all six tables (versions and the text extract too) or none.
      await pool.query(
        `WITH a AS (DELETE FROM ${s}.doc_updates WHERE doc_id = $1), b AS (DELETE FROM ${s}.doc_snapshots WHERE doc_id = $1),
              c AS (DELETE FROM ${s}.doc_client_ids WHERE doc_id = $1), v AS (DELETE FROM ${s}.doc_versions WHERE doc_id = $1),
              t AS (DELETE FROM ${s}.doc_text WHERE doc_id = $1)
         DELETE FROM ${s}.doc_heads WHERE doc_id = $1`,
        [docId],
      );
    },
    async getCursor(name) {
      const r = await pool.query<{ value: number }>(`SELECT value FROM ${s}.collab_cursors WHERE name = $1`, [name]);
      return r.rows[0]?.value ?? 0;
    },
    async setCursor(name, value) {
      await pool.query(
        `INSERT INTO ${s}.collab_cursors AS k (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = GREATEST(k.value, excluded.value)`,
        [name, value],
      );
    },
    async ping() {
      await pool.query('SELECT 1');
    },
    async close() {
      if (ownsPool) await pool.end();
    },
  };
}

/** Open a pool of its own (tests, tools); collab-server shares one pool between its stores. */
export async function createPostgresDocStore(opts: { connectionString: string; schema?: string; poolSize?: number; applicationName?: string }): Promise<DocStore> {
  const schema = opts.schema ?? 'tandem';
  const pool = await openPgPool({ connectionString: opts.connectionString, schema, max: opts.poolSize, applicationName: opts.applicationName });
  return createPostgresDocStoreOnPool(pool, schema, true);
}
