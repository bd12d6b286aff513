/**
 * Document access lists as collab-server sees them: read on document load, re-read whenever the
 * change feed says a document's access moved. The app writes them (and the feed); this side only
 * reads, so the app and collab-server can be separate processes — on one SQLite file, or many
 * instances of each on one PostgreSQL.
 */
import type pg from 'pg';
import { pgIdent } from '../lib/db-schema';
import type { DocAcl, GeneralAccess, GrantRole } from '../lib/acl';
import type { SqliteDb } from './persistence/sqlite';

/** What collab-server re-checks about a signed-in user (see AclStore.userStatus). */
export interface UserStatus {
  isAdmin: boolean;
  /** Collab tokens issued before this (ms since epoch) are void. */
  tokensNotBefore: number;
}

interface UserStatusRow {
  id: string;
  is_admin: number;
  tokens_not_before: number;
}
const toStatus = (rows: UserStatusRow[]) => new Map(rows.map((r) => [r.id, { isAdmin: r.is_admin === 1, tokensNotBefore: Number(r.tokens_not_before) }]));

/** One row of the app's access-change feed. */
export interface AclChange {
  seq: number;
  docId: string;
  /** The document was deleted: close its sockets and purge its content. */
  deleted: boolean;
}

export interface AclStore {
  /** The document's ACL, or null if the document does not exist. */
  load(docId: string): Promise<DocAcl | null>;
  isAdmin(userId: string): Promise<boolean>;
  /**
   * Per user: instance admin now, and the time before which its collab tokens are void (the app
   * sets it on sign-out). Users that no longer exist are missing from the map.
   */
  userStatus(userIds: string[]): Promise<Map<string, UserStatus>>;
  /** Call `onChange` for every access change from now on (polled); returns an unsubscribe. */
  watch(onChange: (change: AclChange) => void): () => void;
  /** Deletions recorded in the feed after `afterSeq` (purging what no instance saw live). */
  deletionsSince(afterSeq: number): Promise<AclChange[]>;
}

interface FeedRow {
  seq: number;
  doc_id: string;
  deleted: number;
}
const toChange = (r: FeedRow): AclChange => ({ seq: r.seq, docId: r.doc_id, deleted: r.deleted === 1 });

/**
 * Tail the feed every `pollMs` from its current end: one indexed query per poll, whichever engine,
 * bounds how long a revocation takes to reach open sockets (on every instance).
 */
function pollFeed(pollMs: number, maxSeq: () => Promise<number>, after: (seq: number) => Promise<FeedRow[]>, onChange: (c: AclChange) => void, onError: (err: unknown) => void): () => void {
  let last: number | null = null;
  let busy = false;
  let stopped = false;
  const tick = async () => {
    if (busy || stopped) return;
    busy = true;
    try {
      if (last === null) last = await maxSeq();
      const rows = await after(last);
      if (rows.length) last = rows[rows.length - 1]!.seq;
      // Several changes of one document in one poll: one re-check (the last row says if deleted).
      const latest = new Map<string, FeedRow>();
      for (const r of rows) latest.set(r.doc_id, { ...r, deleted: Math.max(r.deleted, latest.get(r.doc_id)?.deleted ?? 0) });
      if (!stopped) for (const r of latest.values()) onChange(toChange(r));
    } catch (err) {
      onError(err);
    } finally {
      busy = false;
    }
  };
  void tick();
  const timer = setInterval(() => void tick(), pollMs);
  timer.unref();
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}

/** SQLite: the app and collab-server share one database file. */
export function createSqliteAclStore(db: SqliteDb, pollMs: number, onError: (err: unknown) => void = () => {}): AclStore {
  const selDoc = db.prepare<[string], { owner_id: string; general_access: GeneralAccess; acl_version: number }>(
    'SELECT owner_id, general_access, acl_version FROM docs WHERE id = ?',
  );
  const selGrants = db.prepare<[string], { user_id: string; role: GrantRole }>('SELECT user_id, role FROM grants WHERE doc_id = ?');
  const selAdmin = db.prepare<[string], { is_admin: number }>('SELECT is_admin FROM users WHERE id = ?');
  const selMaxSeq = db.prepare<[], { seq: number | null }>('SELECT MAX(seq) AS seq FROM acl_changes');
  const selChanges = db.prepare<[number], FeedRow>('SELECT seq, doc_id, deleted FROM acl_changes WHERE seq > ? ORDER BY seq LIMIT 1000');
  const selDeletions = db.prepare<[number], FeedRow>('SELECT seq, doc_id, deleted FROM acl_changes WHERE seq > ? AND deleted = 1 ORDER BY seq LIMIT 10000');

  return {
    async load(docId) {
      const d = selDoc.get(docId);
      if (!d) return null;
      const grants = new Map<string, GrantRole>(selGrants.all(docId).map((g) => [g.user_id, g.role]));
      return { docId, version: d.acl_version, ownerId: d.owner_id, generalAccess: d.general_access, grants };
    },
    async isAdmin(userId) {
      return selAdmin.get(userId)?.is_admin === 1;
    },
    async userStatus(userIds) {
      const rows: UserStatusRow[] = [];
      // Chunks stay under SQLite's bound-parameter limit.
      for (let i = 0; i < userIds.length; i += 500) {
        const ids = userIds.slice(i, i + 500);
        rows.push(...db.prepare<string[], UserStatusRow>(`SELECT id, is_admin, tokens_not_before FROM users WHERE id IN (${ids.map(() => '?').join(',')})`).all(...ids));
      }
      return toStatus(rows);
    },
    watch(onChange) {
      return pollFeed(pollMs, async () => selMaxSeq.get()?.seq ?? 0, async (seq) => selChanges.all(seq), onChange, onError);
    },
    async deletionsSince(afterSeq) {
      return selDeletions.all(afterSeq).map(toChange);
    },
  };
}

/** PostgreSQL: every collab-server instance tails the same feed, so a change made through any app instance reaches all of them. */
export function createPostgresAclStore(pool: pg.Pool, schema: string, pollMs: number, onError: (err: unknown) => void = () => {}): AclStore {
  const s = pgIdent(schema);
  return {
    async load(docId) {
      const d = await pool.query<{ owner_id: string; general_access: GeneralAccess; acl_version: number }>(
        `SELECT owner_id, general_access, acl_version FROM ${s}.docs WHERE id = $1`,
        [docId],
      );
      const row = d.rows[0];
      if (!row) return null;
      const g = await pool.query<{ user_id: string; role: GrantRole }>(`SELECT user_id, role FROM ${s}.grants WHERE doc_id = $1`, [docId]);
      return { docId, version: row.acl_version, ownerId: row.owner_id, generalAccess: row.general_access, grants: new Map(g.rows.map((x) => [x.user_id, x.role])) };
    },
    async isAdmin(userId) {
      const r = await pool.query<{ is_admin: number }>(`SELECT is_admin FROM ${s}.users WHERE id = $1`, [userId]);
      return r.rows[0]?.is_admin === 1;
    },
    async userStatus(userIds) {
      const r = await pool.query<UserStatusRow>(`SELECT id, is_admin, tokens_not_before FROM ${s}.users WHERE id = ANY($1)`, [userIds]);
      return toStatus(r.rows);
    },
    watch(onChange) {
      return pollFeed(
        pollMs,
        async () => (await pool.query<{ seq: number | null }>(`SELECT max(seq) AS seq FROM ${s}.acl_changes`)).rows[0]?.seq ?? 0,
        async (seq) => (await pool.query<FeedRow>(`SELECT seq, doc_id, deleted FROM ${s}.acl_changes WHERE seq > $1 ORDER BY seq LIMIT 1000`, [seq])).rows,
        onChange,
        onError,
      );
    },
    async deletionsSince(afterSeq) {
      const r = await pool.query<FeedRow>(`SELECT seq, doc_id, deleted FROM ${s}.acl_changes WHERE seq > $1 AND deleted = 1 ORDER BY seq LIMIT 10000`, [afterSeq]);
      return r.rows.map(toChange);
    },
  };
}

/** Development mode without accounts: every document exists and everyone may edit it. */
export function createOpenAclStore(): AclStore {
  return {
    async load(docId) {
      return { docId, version: 1, ownerId: '', generalAccess: 'editor', grants: new Map() };
    },
    async isAdmin() {
      return false;
    },
    async userStatus(userIds) {
      return new Map(userIds.map((id) => [id, { isAdmin: false, tokensNotBefore: 0 }]));
    },
    watch() {
      return () => {};
    },
    async deletionsSince() {
      return [];
    },
  };
}
