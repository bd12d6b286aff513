/**
 * SQLite adapters (better-sqlite3, WAL). One database file holds the app's tables and the update
 * log, so a single machine needs nothing else installed. better-sqlite3 is synchronous: an append
 * is committed by the time `append` returns, which makes "durable before broadcast" hold without
 * any waiting; group commit (one transaction per event-loop turn) keeps that cheap.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { migrateSqlite, sqlitePragmas } from '../../lib/db-schema';
import type { DocStore, LogRange, StoredDoc } from './doc-store';

export type SqliteDb = Database.Database;

/** Open (creating if needed) the shared database and run the idempotent schema. */
export function openSqlite(file: string, synchronous: 'NORMAL' | 'FULL' = 'NORMAL'): SqliteDb {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const db = new Database(file);
  for (const p of sqlitePragmas(synchronous)) db.pragma(p);
  migrateSqlite(db);
  return db;
}

const toU8 = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

export function createSqliteDocStore(db: SqliteDb): DocStore {
  const selSnapshot = db.prepare<[string], { upto_seq: number; data: Buffer }>('SELECT upto_seq, data FROM doc_snapshots WHERE doc_id = ?');
  const selUpdates = db.prepare<[string, number], { seq: number; data: Buffer }>(
    'SELECT seq, data FROM doc_updates WHERE doc_id = ? AND seq > ? ORDER BY seq',
  );
  const selHead = db.prepare<[string], { last_seq: number }>('SELECT last_seq FROM doc_heads WHERE doc_id = ?');
  const selClientIds = db.prepare<[string], { client_id: number; user_id: string }>('SELECT client_id, user_id FROM doc_client_ids WHERE doc_id = ?');
  const insUpdate = db.prepare<[string, number, Uint8Array]>('INSERT INTO doc_updates (doc_id, seq, data) VALUES (?, ?, ?)');
  // The head row is created on a document's first append; a database from before doc_heads existed
  // starts it after whatever its log or snapshot already holds.
  const advanceHead = db.prepare<{ doc: string; n: number; now: number }, { last_seq: number }>(
    `INSERT INTO doc_heads (doc_id, last_seq, last_edit_at)
       VALUES (@doc, COALESCE((SELECT MAX(seq) FROM doc_updates WHERE doc_id = @doc), (SELECT upto_seq FROM doc_snapshots WHERE doc_id = @doc), 0) + @n, @now)
     ON CONFLICT(doc_id) DO UPDATE SET last_seq = last_seq + @n, last_edit_at = @now
     RETURNING last_seq`,
  );
  const insClientId = db.prepare<[string, number, string]>('INSERT INTO doc_client_ids (doc_id, client_id, user_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING');
  const upsertSnapshot = db.prepare<[string, number, Uint8Array, number]>(
    `INSERT INTO doc_snapshots (doc_id, upto_seq, data, updated_at) VALUES (?, ?, ?, ?)
     ON CONFLICT(doc_id) DO UPDATE SET upto_seq = excluded.upto_seq, data = excluded.data, updated_at = excluded.updated_at
     WHERE excluded.upto_seq > doc_snapshots.upto_seq`,
  );
  const delUpdates = db.prepare<[string, number]>('DELETE FROM doc_updates WHERE doc_id = ? AND seq <= ?');
  const deleteTx = db.transaction((docId: string) => {
    for (const t of ['doc_updates', 'doc_snapshots', 'doc_heads', 'doc_client_ids', 'doc_versions', 'doc_text']) db.prepare(`DELETE FROM ${t} WHERE doc_id = ?`).run(docId);
  });
  const selCursor = db.prepare<[string], { value: number }>('SELECT value FROM collab_cursors WHERE name = ?');
  const upsertCursor = db.prepare<[string, number]>(
    'INSERT INTO collab_cursors (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = MAX(value, excluded.value)',
  );

  interface Queued {
    docId: string;
    updates: readonly Uint8Array[];
    clientIds?: ReadonlyMap<number, string>;
    resolve: (firstSeq: number) => void;
    reject: (err: unknown) => void;
  }
  /** One document's append; returns its first sequence number. */
  const appendOne = (e: Queued, now: number): number => {
    const last = advanceHead.get({ doc: e.docId, n: e.updates.length, now })!.last_seq;
    const first = last - e.updates.length + 1;
    for (let i = 0; i < e.updates.length; i++) insUpdate.run(e.docId, first + i, e.updates[i]!);
    if (e.clientIds) for (const [client, user] of e.clientIds) insClientId.run(e.docId, client, user);
    return first;
  };
  const appendTx = db.transaction((e: Queued) => appendOne(e, Date.now()));

  // Appends made in one microtask checkpoint (every document flushing this turn, see
  // createFlushScheduler) commit in ONE transaction; each caller resolves only after it.
  let queue: Queued[] = [];
  const batchTx = db.transaction((q: Queued[]) => {
    const now = Date.now();
    return q.map((e) => appendOne(e, now));
  });
  const commitQueued = () => {
    const q = queue;
    queue = [];
    let firsts: number[];
    try {
      firsts = batchTx(q);
    } catch {
      // One bad entry must not fail the others: retry one by one.
      for (const e of q) {
        try {
          e.resolve(appendTx(e));
        } catch (err) {
          e.reject(err);
        }
      }
      return;
    }
    q.forEach((e, i) => e.resolve(firsts[i]!));
  };
  const upsertText = db.prepare<[string, string, number]>(
    'INSERT INTO doc_text (doc_id, text, updated_at) VALUES (?, ?, ?) ON CONFLICT(doc_id) DO UPDATE SET text = excluded.text, updated_at = excluded.updated_at',
  );
  const compactTx = db.transaction((docId: string, snapshot: Uint8Array, uptoSeq: number, text: string | undefined) => {
    upsertSnapshot.run(docId, uptoSeq, snapshot, Date.now());
    delUpdates.run(docId, uptoSeq);
    if (text !== undefined) upsertText.run(docId, text, Date.now());
  });
  const loadTx = db.transaction((docId: string): StoredDoc => {
    const snap = selSnapshot.get(docId);
    const base = snap?.upto_seq ?? 0;
    const rows = selUpdates.all(docId, base);
    const head = selHead.get(docId)?.last_seq ?? 0;
    return {
      snapshot: snap ? toU8(snap.data) : null,
      updates: rows.map((r) => toU8(r.data)),
      lastSeq: Math.max(head, base, rows.length ? rows[rows.length - 1]!.seq : 0),
      clientIds: new Map(selClientIds.all(docId).map((r) => [r.client_id, r.user_id])),
    };
  });
  const readSinceTx = db.transaction((docId: string, afterSeq: number): LogRange => {
    const snap = selSnapshot.get(docId);
    const folded = snap && snap.upto_seq > afterSeq ? snap : undefined;
    const rows = selUpdates.all(docId, folded ? folded.upto_seq : afterSeq);
    return {
      snapshot: folded ? { data: toU8(folded.data), uptoSeq: folded.upto_seq } : null,
      updates: rows.map((r) => ({ seq: r.seq, data: toU8(r.data) })),
    };
  });

  return {
    async load(docId) {
      return loadTx(docId);
    },
    append(docId, updates, clientIds) {
      return new Promise<number>((resolve, reject) => {
        queue.push({ docId, updates, clientIds, resolve, reject });
        if (queue.length === 1) queueMicrotask(commitQueued);
      });
    },
    async readSince(docId, afterSeq) {
      return readSinceTx(docId, afterSeq);
    },
    async heads(docIds) {
      const out = new Map<string, number>();
      for (const id of docIds) {
        const h = selHead.get(id);
        if (h) out.set(id, h.last_seq);
      }
      return out;
    },
    async compact(docId, snapshot, uptoSeq, text) {
      // One process writes a SQLite database's log, and LiveDoc runs its compactions one at a time.
      compactTx(docId, snapshot, uptoSeq, text);
      return true;
    },
    async delete(docId) {
      deleteTx(docId);
    },
    async getCursor(name) {
      return selCursor.get(name)?.value ?? 0;
    },
    async setCursor(name, value) {
      upsertCursor.run(name, value);
    },
    async ping() {
      db.prepare('SELECT 1').get();
    },
    async close() {
      // The database handle is shared with the ACL store; its owner closes it.
    },
  };
}
