/**
 * Document access lists as collab-server sees them: read on document load, re-read whenever the
 * change feed says a document's access moved. The app writes them (and the feed); this side only
 * reads, so the app and collab-server can be separate processes on one database.
 */
import type { DocAcl, GeneralAccess, GrantRole } from '../lib/acl';
import type { SqliteDb } from './persistence/sqlite';

export interface AclStore {
  /** The document's ACL, or null if the document does not exist. */
  load(docId: string): Promise<DocAcl | null>;
  isAdmin(userId: string): Promise<boolean>;
  /** Call `onChange(docId)` for every access change from now on; returns an unsubscribe. */
  watch(onChange: (docId: string) => void): () => void;
}

/** SQLite: tails the `acl_changes` table every `pollMs` (one indexed query; bounds revocation delay). */
export function createSqliteAclStore(db: SqliteDb, pollMs: number): AclStore {
  const selDoc = db.prepare<[string], { owner_id: string; general_access: GeneralAccess; acl_version: number }>(
    'SELECT owner_id, general_access, acl_version FROM docs WHERE id = ?',
  );
  const selGrants = db.prepare<[string], { user_id: string; role: GrantRole }>('SELECT user_id, role FROM grants WHERE doc_id = ?');
  const selAdmin = db.prepare<[string], { is_admin: number }>('SELECT is_admin FROM users WHERE id = ?');
  const selMaxSeq = db.prepare<[], { seq: number | null }>('SELECT MAX(seq) AS seq FROM acl_changes');
  const selChanges = db.prepare<[number], { seq: number; doc_id: string }>('SELECT seq, doc_id FROM acl_changes WHERE seq > ? ORDER BY seq LIMIT 1000');

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
    watch(onChange) {
      let last = selMaxSeq.get()?.seq ?? 0;
      const timer = setInterval(() => {
        const rows = selChanges.all(last);
        if (!rows.length) return;
        last = rows[rows.length - 1]!.seq;
        for (const d of new Set(rows.map((r) => r.doc_id))) onChange(d);
      }, pollMs);
      timer.unref();
      return () => clearInterval(timer);
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
    watch() {
      return () => {};
    },
  };
}
