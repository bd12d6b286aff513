/**
 * Tandem data directories for the benchmark, seeded the way tests/helpers/fixture.ts seeds them:
 * the real SQLite schema (openSqlite), real token keys (ensureKeyFiles), rows in users and docs,
 * and tokens signed with the private key. A template database is built once and copied for every
 * server start, so each run begins from the same state. Cold-load documents are written straight
 * into doc_updates / doc_snapshots.
 */
import { copyFileSync, cpSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import * as Y from 'yjs';
import { ensureKeyFiles, importPrivateKey } from '../../lib/keys';
import { signCollabToken } from '../../lib/token';
import { openSqlite, type SqliteDb } from '../../collab-server/persistence/sqlite';

export const BENCH_USERS = 256;
const userId = (i: number) => `bench-user-${i % BENCH_USERS}`;

export interface Seed {
  /** Add documents (owner user 0, anyone signed in may edit) to the template. */
  addDocs(ids: string[]): void;
  /** A token for user `i` (mod BENCH_USERS) on `docId`. */
  token(i: number, docId: string): Promise<string>;
  /** A fresh data directory: a copy of the template database and the keys. */
  dataDir(name: string): string;
  readonly templateDb: SqliteDb;
}

export async function createSeed(root: string): Promise<Seed> {
  const tdir = join(root, 'template');
  mkdirSync(tdir, { recursive: true });
  const db = openSqlite(join(tdir, 'tandem.db'));
  const keys = await ensureKeyFiles(join(tdir, 'keys'));
  const priv = await importPrivateKey(keys.privatePem);
  const now = Date.now();
  const insUser = db.prepare('INSERT OR IGNORE INTO users (id, email, name, password_hash, is_admin, created_at) VALUES (?, ?, ?, ?, 0, ?)');
  db.transaction(() => {
    for (let i = 0; i < BENCH_USERS; i++) insUser.run(userId(i), `${userId(i)}@bench.test`, `Bench ${i}`, 'x', now);
  })();
  const insDoc = db.prepare("INSERT OR IGNORE INTO docs (id, title, owner_id, general_access, acl_version, created_at, updated_at) VALUES (?, 'Bench', ?, 'editor', 1, ?, ?)");
  const cache = new Map<string, string>();
  return {
    templateDb: db,
    addDocs(ids) {
      db.transaction(() => {
        for (const id of ids) insDoc.run(id, userId(0), now, now);
      })();
    },
    async token(i, docId) {
      const key = `${i % BENCH_USERS}\0${docId}`;
      let t = cache.get(key);
      if (!t) {
        t = (await signCollabToken(priv, { sub: userId(i), name: `Bench ${i % BENCH_USERS}`, doc: docId }, { ttlSeconds: 3 * 3600 })).token;
        cache.set(key, t);
      }
      return t;
    },
    dataDir(name) {
      const dir = join(root, name);
      mkdirSync(dir, { recursive: true });
      db.pragma('wal_checkpoint(TRUNCATE)');
      copyFileSync(join(tdir, 'tandem.db'), join(dir, 'tandem.db'));
      cpSync(join(tdir, 'keys'), join(dir, 'keys'), { recursive: true });
      return dir;
    },
  };
}

/** A tiny deterministic PRNG (mulberry32) so every run seeds the same document. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface ColdDoc {
  id: string;
  what: string;
  expectChars: number;
}

/**
 * Write the cold-load documents into `dir`'s database: `n` real Yjs updates of someone typing
 * (inserts at random places, one in ten a deletion) stored as the raw log (never compacted), as one
 * snapshot (fully compacted), and as snapshot + a tail of k updates for each k in `tails` (what
 * COMPACT_AFTER_UPDATES = k leaves behind at worst).
 */
export function seedColdDocs(dir: string, n: number, tails: number[], copies: number): { docs: ColdDoc[]; genMs: number; foldMs: number } {
  const t0 = performance.now();
  const rand = prng(42);
  const doc = new Y.Doc();
  doc.clientID = 4242;
  const text = doc.getText('t');
  const updates: Uint8Array[] = [];
  doc.on('update', (u: Uint8Array) => updates.push(u));
  const snapshots = new Map<number, Uint8Array>();
  for (let i = 0; i < n; i++) {
    const k = n - i;
    if (tails.includes(k)) snapshots.set(k, Y.encodeStateAsUpdate(doc));
    const len = text.length;
    if (len > 20 && rand() < 0.1) text.delete(Math.floor(rand() * (len - 1)), 1);
    else text.insert(Math.floor(rand() * (len + 1)), String.fromCharCode(97 + Math.floor(rand() * 26)));
  }
  const genMs = performance.now() - t0;
  const expectChars = text.length;
  // What compaction does: fold the whole log into one update.
  const f0 = performance.now();
  const folded = new Y.Doc();
  folded.transact(() => {
    for (const u of updates) Y.applyUpdate(folded, u);
  });
  const full = Y.encodeStateAsUpdate(folded);
  const foldMs = performance.now() - f0;

  const db = openSqlite(join(dir, 'tandem.db'));
  const now = Date.now();
  // Each shape is stored `copies` times: a document can be loaded cold only once per process
  // (Tandem compacts it when it unloads), so repeated measurements need separate documents.
  const docs: ColdDoc[] = [];
  for (let c = 1; c <= copies; c++) {
    docs.push({ id: `cold-raw-${c}`, what: `${n} updates, never compacted`, expectChars });
    docs.push({ id: `cold-snap-${c}`, what: 'one snapshot (fully compacted)', expectChars });
    for (const k of tails) docs.push({ id: `cold-tail-${k}-${c}`, what: `snapshot + ${k} updates (COMPACT_AFTER_UPDATES=${k}, worst case)`, expectChars });
  }
  const ins = db.prepare('INSERT INTO doc_updates (doc_id, seq, data) VALUES (?, ?, ?)');
  const snap = db.prepare('INSERT INTO doc_snapshots (doc_id, upto_seq, data, updated_at) VALUES (?, ?, ?, ?)');
  const insDoc = db.prepare("INSERT OR IGNORE INTO docs (id, title, owner_id, general_access, acl_version, created_at, updated_at) VALUES (?, 'Cold', ?, 'editor', 1, ?, ?)");
  db.transaction(() => {
    for (const d of docs) insDoc.run(d.id, userId(0), now, now);
    for (let c = 1; c <= copies; c++) {
      for (let i = 0; i < n; i++) ins.run(`cold-raw-${c}`, i + 1, updates[i]!);
      snap.run(`cold-snap-${c}`, n, full, now);
      for (const k of tails) {
        snap.run(`cold-tail-${k}-${c}`, n - k, snapshots.get(k)!, now);
        for (let i = n - k; i < n; i++) ins.run(`cold-tail-${k}-${c}`, i + 1, updates[i]!);
      }
    }
  })();
  db.close();
  return { docs, genMs, foldMs };
}
