/**
 * The app's side of version history: the VersionStore (lib/version-store.ts, shared with
 * collab-server) on this process's engine, the document's current stored state (snapshot + log,
 * read as the app reads collab-server's tables: never written), and user names for authors.
 * Opened on first use with a handle of its own, one per app context.
 */
import { join } from 'node:path';
import * as Y from 'yjs';
import { createPgVersionStore, createSqliteVersionStore, type VersionStore } from '@/lib/version-store';
import type { AppContext } from '../context';
import { openDb, type Db } from './sqlite';
import { openPg, type PgDb } from './pg';

export interface StoredState {
  doc: Y.Doc;
  /** The log sequence the state includes. */
  lastSeq: number;
}

export interface UserName {
  id: string;
  name: string;
  email: string;
}

export interface VersionsBackend {
  versions: VersionStore;
  /** The document as stored now (what every client converges on). */
  stored(docId: string): Promise<StoredState>;
  users(ids: readonly string[]): Promise<Map<string, UserName>>;
  close(): Promise<void>;
}

const toU8 = (b: Buffer) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

function fold(snapshot: Buffer | undefined, updates: Buffer[]): Y.Doc {
  const doc = new Y.Doc();
  doc.transact(() => {
    if (snapshot) Y.applyUpdate(doc, toU8(snapshot));
    for (const u of updates) Y.applyUpdate(doc, toU8(u));
  });
  return doc;
}

function sqliteBackend(db: Db): VersionsBackend {
  const snap = db.prepare<[string], { upto_seq: number; data: Buffer }>('SELECT upto_seq, data FROM doc_snapshots WHERE doc_id = ?');
  const log = db.prepare<[string, number], { seq: number; data: Buffer }>('SELECT seq, data FROM doc_updates WHERE doc_id = ? AND seq > ? ORDER BY seq');
  // One read transaction: the snapshot and the log rows agree with each other.
  const read = db.transaction((docId: string): StoredState => {
    const s = snap.get(docId);
    const rows = log.all(docId, s?.upto_seq ?? 0);
    return { doc: fold(s?.data, rows.map((r) => r.data)), lastSeq: rows.length ? rows[rows.length - 1]!.seq : (s?.upto_seq ?? 0) };
  });
  return {
    versions: createSqliteVersionStore(db),
    async stored(docId) {
      return read(docId);
    },
    async users(ids) {
      const out = new Map<string, UserName>();
      if (!ids.length) return out;
      const rows = db.prepare(`SELECT id, name, email FROM users WHERE id IN (${ids.map(() => '?').join(',')})`).all(...ids) as UserName[];
      for (const r of rows) out.set(r.id, r);
      return out;
    },
    async close() {
      db.close();
    },
  };
}

function pgBackend(pg: PgDb): VersionsBackend {
  const s = pg.s;
  return {
    versions: createPgVersionStore(
      {
        query: (sql, params) => pg.query(sql, params),
        connect: async () => {
          await pg.ready();
          return pg.pool.connect();
        },
      },
      pg.schemaName,
    ),
    async stored(docId) {
      await pg.ready();
      const c = await pg.pool.connect();
      try {
        await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
        const sn = (await c.query<{ upto_seq: number; data: Buffer }>(`SELECT upto_seq, data FROM ${s}.doc_snapshots WHERE doc_id = $1`, [docId])).rows[0];
        const rows = (await c.query<{ seq: number; data: Buffer }>(`SELECT seq, data FROM ${s}.doc_updates WHERE doc_id = $1 AND seq > $2 ORDER BY seq`, [docId, sn?.upto_seq ?? 0])).rows;
        await c.query('COMMIT');
        return { doc: fold(sn?.data, rows.map((r) => r.data)), lastSeq: rows.length ? rows[rows.length - 1]!.seq : (sn?.upto_seq ?? 0) };
      } catch (err) {
        await c.query('ROLLBACK').catch(() => {});
        throw err;
      } finally {
        c.release();
      }
    },
    async users(ids) {
      const out = new Map<string, UserName>();
      if (!ids.length) return out;
      const r = await pg.query<UserName>(`SELECT id, name, email FROM ${s}.users WHERE id = ANY($1::text[])`, [ids]);
      for (const u of r.rows) out.set(u.id, u);
      return out;
    },
    close: () => pg.close(),
  };
}

const backends = new WeakMap<AppContext, VersionsBackend>();

/** The version-history backend of this app context (opened on first use). */
export function versionsOf(app: AppContext): VersionsBackend {
  let b = backends.get(app);
  if (!b) {
    const c = app.config;
    b = c.DATABASE_URL
      ? pgBackend(openPg({ connectionString: c.DATABASE_URL, schema: c.DATABASE_SCHEMA, applicationName: `tandem-${c.INSTANCE_ID ?? `app-${process.pid}`}-versions`, max: 4 }))
      : sqliteBackend(openDb(join(app.dataDir, 'tandem.db'), c.SQLITE_SYNCHRONOUS));
    backends.set(app, b);
  }
  return b;
}

/** Close this context's version backend (tests; the process otherwise keeps it for its lifetime). */
export async function closeVersions(app: AppContext): Promise<void> {
  const b = backends.get(app);
  backends.delete(app);
  await b?.close();
}
