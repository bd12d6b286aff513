/**
 * SQLite adapters (better-sqlite3, WAL). One database file holds the app's tables and the update
 * log, so a single machine needs nothing else installed. better-sqlite3 is synchronous: an append
 * is committed by the time `append` returns, which makes "durable before broadcast" hold without
 * any waiting; group commit (one transaction per event-loop turn) keeps that cheap.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { SQLITE_SCHEMA, sqlitePragmas } from '../../lib/db-schema';
import type { DocStore, StoredDoc } from './doc-store';

export type SqliteDb = Database.Database;

/** Open (creating if needed) the shared database and run the idempotent schema. */
export function openSqlite(file: string, synchronous: 'NORMAL' | 'FULL' = 'NORMAL'): SqliteDb {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const db = new Database(file);
  for (const p of sqlitePragmas(synchronous)) db.pragma(p);
  db.exec(SQLITE_SCHEMA);
  return db;
}

const toU8 = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

export function createSqliteDocStore(db: SqliteDb): DocStore {
  const selSnapshot = db.prepare<[string], { upto_seq: number; data: Buffer }>('SELECT upto_seq, data FROM doc_snapshots WHERE doc_id = ?');
  const selUpdates = db.prepare<[string, number], { seq: number; data: Buffer }>(
    'SELECT seq, data FROM doc_updates WHERE doc_id = ? AND seq > ? ORDER BY seq',
  );
  const insUpdate = db.prepare<[string, number, Uint8Array]>('INSERT INTO doc_updates (doc_id, seq, data) VALUES (?, ?, ?)');
  const upsertSnapshot = db.prepare<[string, number, Uint8Array, number]>(
    `INSERT INTO doc_snapshots (doc_id, upto_seq, data, updated_at) VALUES (?, ?, ?, ?)
     ON CONFLICT(doc_id) DO UPDATE SET upto_seq = excluded.upto_seq, data = excluded.data, updated_at = excluded.updated_at`,
  );
  const delUpdates = db.prepare<[string, number]>('DELETE FROM doc_updates WHERE doc_id = ? AND seq <= ?');
  const touchDoc = db.prepare<[number, string]>('UPDATE docs SET last_edit_at = ? WHERE id = ?');
  const delAllUpdates = db.prepare<[string]>('DELETE FROM doc_updates WHERE doc_id = ?');
  const delSnapshot = db.prepare<[string]>('DELETE FROM doc_snapshots WHERE doc_id = ?');
  const deleteTx = db.transaction((docId: string) => {
    delAllUpdates.run(docId);
    delSnapshot.run(docId);
  });

  const appendTx = db.transaction((docId: string, firstSeq: number, updates: readonly Uint8Array[]) => {
    for (let i = 0; i < updates.length; i++) insUpdate.run(docId, firstSeq + i, updates[i]!);
  });

  // Appends made in one microtask checkpoint (every document flushing this turn, see
  // createFlushScheduler) commit in ONE transaction; each caller resolves only after it.
  interface Queued {
    docId: string;
    firstSeq: number;
    updates: readonly Uint8Array[];
    resolve: () => void;
    reject: (err: unknown) => void;
  }
  let queue: Queued[] = [];
  const batchTx = db.transaction((q: Queued[]) => {
    for (const e of q) for (let i = 0; i < e.updates.length; i++) insUpdate.run(e.docId, e.firstSeq + i, e.updates[i]!);
  });
  const commitQueued = () => {
    const q = queue;
    queue = [];
    try {
      batchTx(q);
      for (const e of q) e.resolve();
    } catch {
      // One bad entry (e.g. a reused sequence number) must not fail the others: retry one by one.
      for (const e of q) {
        try {
          appendTx(e.docId, e.firstSeq, e.updates);
          e.resolve();
        } catch (err) {
          e.reject(err);
        }
      }
    }
  };
  const compactTx = db.transaction((docId: string, snapshot: Uint8Array, uptoSeq: number) => {
    const now = Date.now();
    upsertSnapshot.run(docId, uptoSeq, snapshot, now);
    delUpdates.run(docId, uptoSeq);
    touchDoc.run(now, docId);
  });

  return {
    async load(docId): Promise<StoredDoc> {
      const snap = selSnapshot.get(docId);
      const base = snap?.upto_seq ?? 0;
      const rows = selUpdates.all(docId, base);
      return {
        snapshot: snap ? toU8(snap.data) : null,
        updates: rows.map((r) => toU8(r.data)),
        lastSeq: rows.length ? rows[rows.length - 1]!.seq : base,
      };
    },
    append(docId, firstSeq, updates) {
      return new Promise<void>((resolve, reject) => {
        queue.push({ docId, firstSeq, updates, resolve, reject });
        if (queue.length === 1) queueMicrotask(commitQueued);
      });
    },
    async compact(docId, snapshot, uptoSeq) {
      compactTx(docId, snapshot, uptoSeq);
    },
    async delete(docId) {
      deleteTx(docId);
    },
    async ping() {
      db.prepare('SELECT 1').get();
    },
    async close() {
      // The database handle is shared with the ACL store; its owner closes it.
    },
  };
}
