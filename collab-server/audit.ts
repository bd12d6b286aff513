/** The audit log (shared with the app): collab-server records refused writes there. */
import type { SqliteDb } from './persistence/sqlite';

export interface AuditSink {
  record(e: { actorId: string | null; action: string; docId: string | null; target?: string | null; detail?: unknown }): void;
}

export function createSqliteAuditSink(db: SqliteDb): AuditSink {
  const ins = db.prepare<[number, string | null, string, string | null, string | null, string | null]>(
    'INSERT INTO audit (at, actor_id, action, doc_id, target, detail) VALUES (?, ?, ?, ?, ?, ?)',
  );
  return {
    record(e) {
      ins.run(Date.now(), e.actorId, e.action, e.docId, e.target ?? null, e.detail === undefined ? null : JSON.stringify(e.detail));
    },
  };
}
