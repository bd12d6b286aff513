/**
 * The audit log, shared with collab-server (which records `write.refused`). The app records every
 * access change inside the same transaction as the change itself, so the log cannot miss one.
 */
import type { AuditEntryView } from '@/lib/api-schemas';
import type { Db } from './db';

export interface AuditRecord {
  actorId: string | null;
  action: string;
  docId: string | null;
  target?: string | null;
  detail?: unknown;
}

interface AuditRow {
  id: number;
  at: number;
  actor_id: string | null;
  actor_email: string | null;
  action: string;
  doc_id: string | null;
  target: string | null;
  detail: string | null;
}

function parseDetail(s: string | null): unknown {
  if (s === null) return null;
  try {
    return JSON.parse(s);
  } catch {
    // Written by another process or version: show it verbatim rather than hide the entry.
    return s;
  }
}

export function createAuditStore(db: Db) {
  const ins = db.prepare<[number, string | null, string, string | null, string | null, string | null]>(
    'INSERT INTO audit (at, actor_id, action, doc_id, target, detail) VALUES (?, ?, ?, ?, ?, ?)',
  );
  const sel = db.prepare<{ action: string | null; docId: string | null; before: number | null; limit: number }, AuditRow>(
    `SELECT a.*, u.email AS actor_email FROM audit a LEFT JOIN users u ON u.id = a.actor_id
      WHERE (@action IS NULL OR a.action = @action)
        AND (@docId IS NULL OR a.doc_id = @docId)
        AND (@before IS NULL OR a.id < @before)
      ORDER BY a.id DESC LIMIT @limit`,
  );
  return {
    /** Append one entry (call inside the transaction of the change it describes). */
    record(e: AuditRecord, at = Date.now()): void {
      ins.run(at, e.actorId, e.action, e.docId, e.target ?? null, e.detail === undefined ? null : JSON.stringify(e.detail));
    },
    /** Newest first. */
    list(q: { action?: string; docId?: string; before?: number; limit: number }): AuditEntryView[] {
      return sel.all({ action: q.action ?? null, docId: q.docId ?? null, before: q.before ?? null, limit: q.limit }).map((r) => ({
        id: r.id,
        at: r.at,
        actorId: r.actor_id,
        actorEmail: r.actor_email,
        action: r.action,
        docId: r.doc_id,
        target: r.target,
        detail: parseDetail(r.detail),
      }));
    },
  };
}

export type AuditStore = ReturnType<typeof createAuditStore>;
