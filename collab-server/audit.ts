/** The audit log (owned by the app): collab-server appends `write.refused` rows through this sink. */
import type pg from 'pg';
import { pgIdent } from '../lib/db-schema';
import type { SqliteDb } from './persistence/sqlite';

export interface AuditEntry {
  actorId: string | null;
  action: string;
  docId: string | null;
  target?: string | null;
  detail?: unknown;
}

export interface AuditSink {
  /** Fire and forget: failures are reported to the sink's onError, never to the socket path. */
  record(e: AuditEntry): void;
}

const detailText = (e: AuditEntry) => (e.detail === undefined ? null : JSON.stringify(e.detail));

export function createSqliteAuditSink(db: SqliteDb): AuditSink {
  const ins = db.prepare<[number, string | null, string, string | null, string | null, string | null]>(
    'INSERT INTO audit (at, actor_id, action, doc_id, target, detail) VALUES (?, ?, ?, ?, ?, ?)',
  );
  return {
    record(e) {
      ins.run(Date.now(), e.actorId, e.action, e.docId, e.target ?? null, detailText(e));
    },
  };
}

export function createPostgresAuditSink(pool: pg.Pool, schema: string, onError: (err: unknown) => void): AuditSink {
  const sql = `INSERT INTO ${pgIdent(schema)}.audit (at, actor_id, action, doc_id, target, detail) VALUES ($1, $2, $3, $4, $5, $6)`;
  return {
    record(e) {
      pool.query(sql, [Date.now(), e.actorId, e.action, e.docId, e.target ?? null, detailText(e)]).catch(onError);
    },
  };
}
