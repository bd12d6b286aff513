/**
 * VersionStore: a document's versions in `doc_versions`, on SQLite or PostgreSQL (the caller
 * passes its open handle; lib opens none). Both processes use it: collab-server adds automatic
 * versions and applies retention, the app adds named and "restored" versions, renames and deletes
 * on request (see the ownership note in lib/db-schema.ts). tests/contract/version-store.test.ts
 * runs one suite against both adapters.
 *
 * Adding a version is serialized per document (SQLite: an IMMEDIATE transaction; PostgreSQL: a
 * transaction-scoped advisory lock on the document), and the caller decides inside it from the
 * newest version and the log head, so two collab-servers whose quiet timers fire together add one
 * automatic version, not two. Removing a version folds it into the next one (that version is
 * re-encoded against the removed one's base), so every kept version stays rebuildable.
 */
import * as Y from 'yjs';
import { encodeVersion, rebuildFromChain, advancedClients, selectForRemoval, type LatestVersion, type RetentionPolicy, type VersionKind } from './versions';
import { pgIdent } from './db-schema';

export interface VersionMeta {
  id: string;
  docId: string;
  /** 1, 2, 3… per document, in the order versions were taken. */
  n: number;
  createdAt: number;
  kind: VersionKind;
  /** Set: a named version (never removed by retention). */
  name: string | null;
  /** Who asked for it (named and restore versions); null for automatic ones. */
  createdBy: string | null;
  /** Users who edited since the previous version (write-ins from the log's client ids, plus writers the caller saw). */
  contributors: string[];
  /** The last stored edit before this version was taken (doc_heads.last_edit_at). */
  lastEditAt: number | null;
  /** The update log sequence this version's content includes (everything up to it, as far as the taker had applied). */
  uptoSeq: number;
  baseId: string | null;
  depth: number;
  /** Stored size of this version (its diff, or the whole state for a keyframe). */
  bytes: number;
  /** For restore versions: the version that was restored. */
  restoredFrom: string | null;
}

export interface DocHeadInfo {
  lastSeq: number;
  lastEditAt: number;
}

/** What the caller hands back to add a version (from inside the store's per-document lock). */
export interface VersionDraft {
  kind: VersionKind;
  name?: string | null;
  createdBy?: string | null;
  restoredFrom?: string | null;
  /** Writers the caller saw beyond those the log's client ids name (e.g. deletions). */
  contributors?: Iterable<string>;
  uptoSeq: number;
  /** The content (the whole document's state); encoded against the newest version by the store. */
  doc: Y.Doc;
  createdAt?: number;
}

/** Decide, under the document's lock, whether (and what) to add. */
export type VersionPlanner = (ctx: { latest: (LatestVersion & { kind: VersionKind }) | null; head: DocHeadInfo | null }) => VersionDraft | null;

export interface VersionStore {
  /** Newest first. */
  list(docId: string): Promise<VersionMeta[]>;
  get(docId: string, id: string): Promise<VersionMeta | undefined>;
  /** Add a version if the planner returns a draft (null: nothing added). */
  add(docId: string, plan: VersionPlanner, opts: { keyframeEvery: number }): Promise<VersionMeta | null>;
  /** The version's content, rebuilt from its chain (keyframe + diffs). */
  content(docId: string, id: string): Promise<Y.Doc | undefined>;
  /** Name (or un-name, with null) a version; undefined if there is no such version. */
  rename(docId: string, id: string, name: string | null): Promise<VersionMeta | undefined>;
  /** Remove versions, folding each into the next kept one (content and contributors). Named ones are skipped. */
  remove(docId: string, ids: readonly string[]): Promise<number>;
  /** Apply a retention policy to one document; returns how many versions were removed. */
  prune(docId: string, policy: RetentionPolicy, now?: number): Promise<number>;
  /** Documents with at least one version (for retention sweeps). */
  docsWithVersions(): Promise<string[]>;
  /**
   * Documents stored past their newest version (or never versioned) whose last edit is before
   * `quietBefore`: work a crashed or unloaded instance's quiet timer did not finish.
   */
  unversioned(quietBefore: number, limit: number): Promise<string[]>;
}

interface Row {
  id: string;
  doc_id: string;
  n: number;
  created_at: number;
  kind: VersionKind;
  name: string | null;
  created_by: string | null;
  contributors: string;
  last_edit_at: number | null;
  upto_seq: number;
  base_id: string | null;
  depth: number;
  bytes: number;
  restored_from: string | null;
}

const META = 'id, doc_id, n, created_at, kind, name, created_by, contributors, last_edit_at, upto_seq, base_id, depth, bytes, restored_from';

function parseList(s: string): string[] {
  try {
    const v = JSON.parse(s) as unknown;
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

const meta = (r: Row): VersionMeta => ({
  id: r.id,
  docId: r.doc_id,
  n: r.n,
  createdAt: r.created_at,
  kind: r.kind,
  name: r.name,
  createdBy: r.created_by,
  contributors: parseList(r.contributors),
  lastEditAt: r.last_edit_at,
  uptoSeq: r.upto_seq,
  baseId: r.base_id,
  depth: r.depth,
  bytes: r.bytes,
  restoredFrom: r.restored_from,
});

const u8 = (b: Uint8Array): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

/** A random version id (same alphabet as document ids). */
function versionId(): string {
  const b = crypto.getRandomValues(new Uint8Array(12));
  return Buffer.from(b).toString('base64url');
}

/** Contributors of a new version: the draft's writers plus the users behind advanced client ids, stable order. */
function contributorsOf(draft: VersionDraft, fromIds: Iterable<string>): string {
  const set = new Set<string>();
  for (const u of draft.contributors ?? []) if (u) set.add(u);
  for (const u of fromIds) if (u) set.add(u);
  return JSON.stringify([...set].sort());
}

// ---- SQLite ---------------------------------------------------------------------------------

/** The part of a better-sqlite3 Database this store uses. */
export interface SqliteLike {
  prepare(sql: string): { get(...a: any[]): unknown; all(...a: any[]): unknown[]; run(...a: any[]): unknown };
  // better-sqlite3's Transaction type: the function, plus .immediate etc.
  transaction(fn: (...a: any[]) => any): any;
}

export function createSqliteVersionStore(db: SqliteLike): VersionStore {
  const q = {
    list: db.prepare(`SELECT ${META} FROM doc_versions WHERE doc_id = ? ORDER BY n DESC`),
    get: db.prepare(`SELECT ${META} FROM doc_versions WHERE doc_id = ? AND id = ?`),
    latest: db.prepare('SELECT id, n, created_at, kind, upto_seq, depth, sv FROM doc_versions WHERE doc_id = ? ORDER BY n DESC LIMIT 1'),
    head: db.prepare('SELECT last_seq, last_edit_at FROM doc_heads WHERE doc_id = ?'),
    clientUser: db.prepare('SELECT user_id FROM doc_client_ids WHERE doc_id = ? AND client_id = ?'),
    insert: db.prepare(
      `INSERT INTO doc_versions (id, doc_id, n, created_at, kind, name, created_by, contributors, last_edit_at, upto_seq, base_id, depth, sv, data, bytes, restored_from)
       VALUES (@id, @doc_id, @n, @created_at, @kind, @name, @created_by, @contributors, @last_edit_at, @upto_seq, @base_id, @depth, @sv, @data, @bytes, @restored_from)`,
    ),
    link: db.prepare('SELECT base_id, data FROM doc_versions WHERE doc_id = ? AND id = ?'),
    sv: db.prepare('SELECT sv FROM doc_versions WHERE doc_id = ? AND id = ?'),
    rename: db.prepare('UPDATE doc_versions SET name = ? WHERE doc_id = ? AND id = ?'),
    rebase: db.prepare('UPDATE doc_versions SET base_id = ?, depth = ?, data = ?, bytes = ?, contributors = ? WHERE doc_id = ? AND id = ?'),
    contrib: db.prepare('UPDATE doc_versions SET contributors = ? WHERE doc_id = ? AND id = ?'),
    del: db.prepare('DELETE FROM doc_versions WHERE doc_id = ? AND id = ?'),
    docs: db.prepare('SELECT DISTINCT doc_id FROM doc_versions'),
    unversioned: db.prepare(
      `SELECT h.doc_id FROM doc_heads h
        WHERE h.last_edit_at < ? AND h.last_seq > COALESCE((SELECT MAX(v.upto_seq) FROM doc_versions v WHERE v.doc_id = h.doc_id), 0)
        LIMIT ?`,
    ),
  };

  const chain = (docId: string, id: string): Uint8Array[] | undefined => {
    const out: Uint8Array[] = [];
    let cur: string | null = id;
    while (cur) {
      const r = q.link.get(docId, cur) as { base_id: string | null; data: Buffer } | undefined;
      if (!r) return undefined;
      out.push(u8(r.data));
      cur = r.base_id;
    }
    return out.reverse();
  };

  const addTx = db.transaction((docId: string, plan: VersionPlanner, keyframeEvery: number): VersionMeta | null => {
    const l = q.latest.get(docId) as { id: string; n: number; created_at: number; kind: VersionKind; upto_seq: number; depth: number; sv: Buffer } | undefined;
    const h = q.head.get(docId) as { last_seq: number; last_edit_at: number } | undefined;
    const latest = l ? { id: l.id, n: l.n, createdAt: l.created_at, kind: l.kind, uptoSeq: l.upto_seq, depth: l.depth, sv: u8(l.sv) } : null;
    const draft = plan({ latest, head: h ? { lastSeq: h.last_seq, lastEditAt: h.last_edit_at } : null });
    if (!draft) return null;
    const enc = encodeVersion(draft.doc, latest, keyframeEvery);
    const users: string[] = [];
    for (const c of advancedClients(latest?.sv ?? null, enc.sv)) {
      const u = q.clientUser.get(docId, c) as { user_id: string } | undefined;
      if (u) users.push(u.user_id);
    }
    const row = {
      id: versionId(),
      doc_id: docId,
      n: (latest?.n ?? 0) + 1,
      created_at: draft.createdAt ?? Date.now(),
      kind: draft.kind,
      name: draft.name ?? null,
      created_by: draft.createdBy ?? null,
      contributors: contributorsOf(draft, users),
      last_edit_at: h?.last_edit_at ?? null,
      upto_seq: draft.uptoSeq,
      base_id: enc.baseId,
      depth: enc.depth,
      sv: enc.sv,
      data: enc.data,
      bytes: enc.data.byteLength,
      restored_from: draft.restoredFrom ?? null,
    };
    q.insert.run(row);
    return meta(row as unknown as Row);
  });

  /** Fold `r` into the next version and delete it (inside the caller's transaction). */
  const removeOne = (docId: string, stale: Row): void => {
    // Re-read: folding an earlier removal may have rebased this one.
    const r = q.get.get(docId, stale.id) as Row;
    const next = (q.list.all(docId) as Row[]).filter((x) => x.n > r.n).sort((a, b) => a.n - b.n)[0];
    if (next) {
      const contributors = JSON.stringify([...new Set([...parseList(next.contributors), ...parseList(r.contributors)])].sort());
      if (next.base_id === r.id) {
        const doc = rebuildFromChain(chain(docId, next.id)!);
        const baseSv = r.base_id ? u8((q.sv.get(docId, r.base_id) as { sv: Buffer }).sv) : null;
        const data = baseSv ? Y.encodeStateAsUpdate(doc, baseSv) : Y.encodeStateAsUpdate(doc);
        q.rebase.run(r.base_id, r.base_id ? r.depth : 0, data, data.byteLength, contributors, docId, next.id);
        doc.destroy();
      } else q.contrib.run(contributors, docId, next.id);
    }
    q.del.run(docId, r.id);
  };

  const removeTx = db.transaction((docId: string, ids: readonly string[]): number => {
    const want = new Set(ids);
    const rows = (q.list.all(docId) as Row[]).filter((r) => want.has(r.id) && r.name === null).sort((a, b) => a.n - b.n);
    for (const r of rows) removeOne(docId, r);
    return rows.length;
  });

  const pruneTx = db.transaction((docId: string, policy: RetentionPolicy, now: number): number => {
    const rows = q.list.all(docId) as Row[];
    const ids = selectForRemoval(rows.map((r) => ({ id: r.id, createdAt: r.created_at, named: r.name !== null })), policy, now);
    return removeTx(docId, ids);
  });

  return {
    async list(docId) {
      return (q.list.all(docId) as Row[]).map(meta);
    },
    async get(docId, id) {
      const r = q.get.get(docId, id) as Row | undefined;
      return r && meta(r);
    },
    async add(docId, plan, opts) {
      // IMMEDIATE: the write lock is taken before reading the newest version, so the app and
      // collab-server (two processes on one file) cannot both add "the next" version.
      return addTx.immediate(docId, plan, opts.keyframeEvery);
    },
    async content(docId, id) {
      const c = chain(docId, id);
      return c && rebuildFromChain(c);
    },
    async rename(docId, id, name) {
      q.rename.run(name, docId, id);
      const r = q.get.get(docId, id) as Row | undefined;
      return r && meta(r);
    },
    async remove(docId, ids) {
      return removeTx.immediate(docId, ids);
    },
    async prune(docId, policy, now = Date.now()) {
      return pruneTx.immediate(docId, policy, now);
    },
    async docsWithVersions() {
      return (q.docs.all() as { doc_id: string }[]).map((r) => r.doc_id);
    },
    async unversioned(quietBefore, limit) {
      return (q.unversioned.all(quietBefore, limit) as { doc_id: string }[]).map((r) => r.doc_id);
    },
  };
}

// ---- PostgreSQL -----------------------------------------------------------------------------

/** A pg client inside a transaction (or the pool, for single statements). */
export interface PgRunner {
  query(sql: string, params?: unknown[]): Promise<{ rows: any[] }>;
}
/** The part of a pg Pool this store uses. */
export interface PgPoolLike extends PgRunner {
  connect(): Promise<PgRunner & { release(err?: boolean | Error): void }>;
}

export function createPgVersionStore(pool: PgPoolLike, schema: string): VersionStore {
  const s = pgIdent(schema);
  const buf = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength);

  /** One transaction holding the document's version lock (released by COMMIT/ROLLBACK, or if we die). */
  async function locked<T>(docId: string, f: (c: PgRunner) => Promise<T>): Promise<T> {
    const c = await pool.connect();
    let broken = false;
    try {
      await c.query('BEGIN');
      await c.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`${schema}:versions:${docId}`]);
      const r = await f(c);
      await c.query('COMMIT');
      return r;
    } catch (err) {
      await c.query('ROLLBACK').catch(() => {
        broken = true;
      });
      throw err;
    } finally {
      c.release(broken);
    }
  }

  async function chain(c: PgRunner, docId: string, id: string): Promise<Uint8Array[] | undefined> {
    const out: Uint8Array[] = [];
    let cur: string | null = id;
    while (cur) {
      const r: { rows: { base_id: string | null; data: Buffer }[] } = await c.query(`SELECT base_id, data FROM ${s}.doc_versions WHERE doc_id = $1 AND id = $2`, [docId, cur]);
      const row = r.rows[0];
      if (!row) return undefined;
      out.push(u8(row.data));
      cur = row.base_id;
    }
    return out.reverse();
  }

  const listRows = async (c: PgRunner, docId: string): Promise<Row[]> => (await c.query(`SELECT ${META} FROM ${s}.doc_versions WHERE doc_id = $1 ORDER BY n DESC`, [docId])).rows as Row[];

  async function removeIn(c: PgRunner, docId: string, ids: readonly string[]): Promise<number> {
    const want = new Set(ids);
    const all = await listRows(c, docId);
    const rows = all.filter((r) => want.has(r.id) && r.name === null).sort((a, b) => a.n - b.n);
    for (const stale of rows) {
      const present = await listRows(c, docId);
      // Re-read: folding an earlier removal may have rebased this one.
      const r = present.find((x) => x.id === stale.id)!;
      const next = present.filter((x) => x.n > r.n).sort((a, b) => a.n - b.n)[0];
      if (next) {
        const contributors = JSON.stringify([...new Set([...parseList(next.contributors), ...parseList(r.contributors)])].sort());
        if (next.base_id === r.id) {
          const doc = rebuildFromChain((await chain(c, docId, next.id))!);
          const baseSv = r.base_id ? u8((await c.query(`SELECT sv FROM ${s}.doc_versions WHERE doc_id = $1 AND id = $2`, [docId, r.base_id])).rows[0].sv) : null;
          const data = baseSv ? Y.encodeStateAsUpdate(doc, baseSv) : Y.encodeStateAsUpdate(doc);
          doc.destroy();
          await c.query(`UPDATE ${s}.doc_versions SET base_id = $1, depth = $2, data = $3, bytes = $4, contributors = $5 WHERE doc_id = $6 AND id = $7`, [
            r.base_id,
            r.base_id ? r.depth : 0,
            buf(data),
            data.byteLength,
            contributors,
            docId,
            next.id,
          ]);
        } else await c.query(`UPDATE ${s}.doc_versions SET contributors = $1 WHERE doc_id = $2 AND id = $3`, [contributors, docId, next.id]);
      }
      await c.query(`DELETE FROM ${s}.doc_versions WHERE doc_id = $1 AND id = $2`, [docId, r.id]);
    }
    return rows.length;
  }

  return {
    async list(docId) {
      return (await listRows(pool, docId)).map(meta);
    },
    async get(docId, id) {
      const r = (await pool.query(`SELECT ${META} FROM ${s}.doc_versions WHERE doc_id = $1 AND id = $2`, [docId, id])).rows[0] as Row | undefined;
      return r && meta(r);
    },
    add(docId, plan, opts) {
      return locked(docId, async (c) => {
        const l = (await c.query(`SELECT id, n, created_at, kind, upto_seq, depth, sv FROM ${s}.doc_versions WHERE doc_id = $1 ORDER BY n DESC LIMIT 1`, [docId])).rows[0];
        const h = (await c.query(`SELECT last_seq, last_edit_at FROM ${s}.doc_heads WHERE doc_id = $1`, [docId])).rows[0];
        const latest = l ? { id: l.id, n: l.n, createdAt: l.created_at, kind: l.kind, uptoSeq: l.upto_seq, depth: l.depth, sv: u8(l.sv) } : null;
        const draft = plan({ latest, head: h ? { lastSeq: h.last_seq, lastEditAt: h.last_edit_at } : null });
        if (!draft) return null;
        const enc = encodeVersion(draft.doc, latest, opts.keyframeEvery);
        const clients = advancedClients(latest?.sv ?? null, enc.sv);
        const users = clients.length
          ? (await c.query(`SELECT user_id FROM ${s}.doc_client_ids WHERE doc_id = $1 AND client_id = ANY($2::bigint[])`, [docId, clients])).rows.map((r) => r.user_id as string)
          : [];
        const row = {
          id: versionId(),
          doc_id: docId,
          n: (latest?.n ?? 0) + 1,
          created_at: draft.createdAt ?? Date.now(),
          kind: draft.kind,
          name: draft.name ?? null,
          created_by: draft.createdBy ?? null,
          contributors: contributorsOf(draft, users),
          last_edit_at: h?.last_edit_at ?? null,
          upto_seq: draft.uptoSeq,
          base_id: enc.baseId,
          depth: enc.depth,
          bytes: enc.data.byteLength,
          restored_from: draft.restoredFrom ?? null,
        };
        await c.query(
          `INSERT INTO ${s}.doc_versions (id, doc_id, n, created_at, kind, name, created_by, contributors, last_edit_at, upto_seq, base_id, depth, sv, data, bytes, restored_from)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
          [row.id, docId, row.n, row.created_at, row.kind, row.name, row.created_by, row.contributors, row.last_edit_at, row.upto_seq, row.base_id, row.depth, buf(enc.sv), buf(enc.data), row.bytes, row.restored_from],
        );
        return meta(row as Row);
      });
    },
    async content(docId, id) {
      const c = await chain(pool, docId, id);
      return c && rebuildFromChain(c);
    },
    async rename(docId, id, name) {
      const r = (await pool.query(`UPDATE ${s}.doc_versions SET name = $1 WHERE doc_id = $2 AND id = $3 RETURNING ${META}`, [name, docId, id])).rows[0] as Row | undefined;
      return r && meta(r);
    },
    remove(docId, ids) {
      return locked(docId, (c) => removeIn(c, docId, ids));
    },
    prune(docId, policy, now = Date.now()) {
      return locked(docId, async (c) => {
        const rows = await listRows(c, docId);
        return removeIn(c, docId, selectForRemoval(rows.map((r) => ({ id: r.id, createdAt: r.created_at, named: r.name !== null })), policy, now));
      });
    },
    async docsWithVersions() {
      return (await pool.query(`SELECT DISTINCT doc_id FROM ${s}.doc_versions`)).rows.map((r) => r.doc_id as string);
    },
    async unversioned(quietBefore, limit) {
      const r = await pool.query(
        `SELECT h.doc_id FROM ${s}.doc_heads h
          WHERE h.last_edit_at < $1 AND h.last_seq > COALESCE((SELECT MAX(v.upto_seq) FROM ${s}.doc_versions v WHERE v.doc_id = h.doc_id), 0)
          LIMIT $2`,
        [quietBefore, limit],
      );
      return r.rows.map((x) => x.doc_id as string);
    },
  };
}
