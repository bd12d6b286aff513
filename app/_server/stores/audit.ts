/**
 * The audit log, shared with collab-server (which records `write.refused`). The app records every
 * access change inside the same transaction as the change itself (access.ts calls the insert
 * helpers below with its transaction), so the log cannot miss one.
 */
import type { AuditEntryView } from '@/lib/api-schemas';
import type { Db } from './sqlite';
import type { PgDb, PgQueryable } from './pg';

export interface AuditRecord {
  actorId: string | null;
  action: string;
  docId: string | null;
  target?: string | null;
  detail?: unknown;
}

export interface AuditQuery {
  action?: string;
  docId?: string;
  /** Entries with an id below this (the previous page's last id). */
  before?: number;
  limit: number;
}

/** The audit log: append, and read newest first. */
export interface AuditStore {
  /** Append one entry on its own (changes that have a transaction write theirs inside it). */
  record(e: AuditRecord, at?: number): Promise<void>;
  /** Newest first. */
  list(q: AuditQuery): Promise<AuditEntryView[]>;
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

const view = (r: AuditRow): AuditEntryView => ({
  id: r.id,
  at: r.at,
  actorId: r.actor_id,
  actorEmail: r.actor_email,
  action: r.action,
  docId: r.doc_id,
  target: r.target,
  detail: parseDetail(r.detail),
});

const params = (e: AuditRecord, at: number) => [at, e.actorId, e.action, e.docId, e.target ?? null, e.detail === undefined ? null : JSON.stringify(e.detail)] as const;

/** The SQLite insert, to run inside the caller's transaction (better-sqlite3 nests it there). */
export function sqliteAuditInsert(db: Db): (e: AuditRecord, at: number) => void {
  const ins = db.prepare<readonly [number, string | null, string, string | null, string | null, string | null]>(
    'INSERT INTO audit (at, actor_id, action, doc_id, target, detail) VALUES (?, ?, ?, ?, ?, ?)',
  );
  return (e, at) => void ins.run(params(e, at));
}

/** The PostgreSQL insert, on the caller's transaction client. */
export async function pgAuditInsert(c: PgQueryable, schema: string, e: AuditRecord, at: number): Promise<void> {
  await c.query(`INSERT INTO ${schema}.audit (at, actor_id, action, doc_id, target, detail) VALUES ($1, $2, $3, $4, $5, $6)`, [...params(e, at)]);
}

export function createSqliteAuditStore(db: Db): AuditStore {
  const insert = sqliteAuditInsert(db);
  const sel = db.prepare<{ action: string | null; docId: string | null; before: number | null; limit: number }, AuditRow>(
    `SELECT a.id, a.at, a.actor_id, a.action, a.doc_id, a.target, a.detail, u.email AS actor_email
       FROM audit a LEFT JOIN users u ON u.id = a.actor_id
      WHERE (@action IS NULL OR a.action = @action)
        AND (@docId IS NULL OR a.doc_id = @docId)
        AND (@before IS NULL OR a.id < @before)
      ORDER BY a.id DESC LIMIT @limit`,
  );
  return {
    async record(e, at = Date.now()) {
      insert(e, at);
    },
    async list(q) {
      return sel.all({ action: q.action ?? null, docId: q.docId ?? null, before: q.before ?? null, limit: q.limit }).map(view);
    },
  };
}

export function createPgAuditStore(pg: PgDb): AuditStore {
  const s = pg.s;
  return {
    async record(e, at = Date.now()) {
      await pgAuditInsert(pg, s, e, at);
    },
    async list(q) {
      const r = await pg.query<AuditRow>(
        `SELECT a.id, a.at, a.actor_id, a.action, a.doc_id, a.target, a.detail, u.email AS actor_email
           FROM ${s}.audit a LEFT JOIN ${s}.users u ON u.id = a.actor_id
          WHERE ($1::text IS NULL OR a.action = $1)
            AND ($2::text IS NULL OR a.doc_id = $2)
            AND ($3::bigint IS NULL OR a.id < $3)
          ORDER BY a.id DESC LIMIT $4`,
        [q.action ?? null, q.docId ?? null, q.before ?? null, q.limit],
      );
      return r.rows.map(view);
    },
  };
}
