/**
 * Document metadata: create, load (with the ACL `decide` needs), list, rename. Access changes and
 * deletion are in access.ts. "Last edited" is read from collab-server's doc_heads (never written
 * here): the app owns docs, collab-server owns the log and its head.
 */
import { newId } from '@/lib/ids';
import { effectiveRole, type DocAcl, type GeneralAccess, type GrantRole, type Principal, type Role } from '@/lib/acl';
import type { DocView } from '@/lib/api-schemas';
import type { Db } from './sqlite';
import type { PgDb } from './pg';

export interface DocRow {
  id: string;
  title: string;
  owner_id: string;
  general_access: GeneralAccess;
  acl_version: number;
  created_at: number;
  updated_at: number;
  /** collab-server's doc_heads.last_edit_at; null until the first stored edit. */
  last_edit_at: number | null;
  owner_name: string;
  owner_email: string;
}

export interface LoadedDoc {
  row: DocRow;
  acl: DocAcl;
}

export const docView = (row: DocRow, role: Role): DocView => ({
  id: row.id,
  title: row.title,
  ownerId: row.owner_id,
  ownerName: row.owner_name,
  ownerEmail: row.owner_email,
  role,
  generalAccess: row.general_access,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
  lastEditAt: row.last_edit_at,
});

/** Documents' metadata (the app's side of a document; its content is collab-server's). */
export interface DocStore {
  create(ownerId: string, title: string): Promise<DocRow>;
  /** The document and its full ACL, or undefined if it does not exist. */
  load(id: string): Promise<LoadedDoc | undefined>;
  /** Rename; undefined if the document no longer exists. */
  rename(id: string, title: string): Promise<DocRow | undefined>;
  /**
   * Documents the principal owns, holds a grant on, or opened through general access that still
   * lets them read (every document with `all`, for admins), in `sort` order (newest edit first by
   * default; at most LIST_LIMIT), each with the principal's effective role. `q` matches the title
   * or the text collab-server extracted (doc_text).
   */
  list(p: Principal, opts: { q?: string; all?: boolean; sort?: DocSort }): Promise<DocView[]>;
  /** Remember that a user without a grant opened the document (general access), for their list. */
  recordVisit(docId: string, userId: string): Promise<void>;
}

export type DocSort = 'edited' | 'title' | 'created';

/** The list is a page, not an export: its cap is documented in the README. */
export const LIST_LIMIT = 500;

/** `%`, `_` and `\` in a search are literal characters, not LIKE wildcards. */
export const likePattern = (q: string) => `%${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

/** The columns of a DocRow, from `docs d JOIN users u LEFT JOIN doc_heads h` (not d.*: SQLite's docs has a stale last_edit_at). */
const COLUMNS = `d.id, d.title, d.owner_id, d.general_access, d.acl_version, d.created_at, d.updated_at,
  h.last_edit_at, u.name AS owner_name, u.email AS owner_email`;

type ListRow = DocRow & { my_grant: GrantRole | null };

/** Only the caller's own grant matters to their role, so a one-entry map is the whole truth. */
function listView(p: Principal, rows: ListRow[]): DocView[] {
  return rows.map((r) => {
    const acl: DocAcl = {
      docId: r.id,
      version: r.acl_version,
      ownerId: r.owner_id,
      generalAccess: r.general_access,
      grants: new Map(r.my_grant ? [[p.userId, r.my_grant]] : []),
    };
    return docView(r, effectiveRole(p, acl) ?? 'viewer');
  });
}

const loaded = (row: DocRow, grants: { user_id: string; role: GrantRole }[]): LoadedDoc => ({
  row,
  acl: { docId: row.id, version: row.acl_version, ownerId: row.owner_id, generalAccess: row.general_access, grants: new Map(grants.map((g) => [g.user_id, g.role] as const)) },
});

export function createSqliteDocStore(db: Db): DocStore {
  const from = 'FROM docs d JOIN users u ON u.id = d.owner_id LEFT JOIN doc_heads h ON h.doc_id = d.id';
  const order: Record<DocSort, string> = {
    edited: 'COALESCE(h.last_edit_at, d.updated_at) DESC, d.id',
    title: 'd.title COLLATE NOCASE, d.id',
    created: 'd.created_at DESC, d.id',
  };
  const selDoc = db.prepare<[string], DocRow>(`SELECT ${COLUMNS} ${from} WHERE d.id = ?`);
  const selGrants = db.prepare<[string], { user_id: string; role: GrantRole }>('SELECT user_id, role FROM grants WHERE doc_id = ?');
  const insert = db.prepare<[string, string, string, number, number]>(
    'INSERT INTO docs (id, title, owner_id, general_access, acl_version, created_at, updated_at) VALUES (?, ?, ?, NULL, 1, ?, ?)',
  );
  const rename = db.prepare<[string, number, string]>('UPDATE docs SET title = ?, updated_at = ? WHERE id = ?');
  // LIKE is case-insensitive for ASCII in SQLite. A visit counts only while general access is on.
  const listSql = (sort: DocSort) =>
    db.prepare<{ me: string; all: number; q: string | null }, ListRow>(
      `SELECT ${COLUMNS}, g.role AS my_grant ${from}
         LEFT JOIN grants g ON g.doc_id = d.id AND g.user_id = @me
         LEFT JOIN doc_visits v ON v.doc_id = d.id AND v.user_id = @me
         LEFT JOIN doc_text t ON t.doc_id = d.id
        WHERE (d.owner_id = @me OR g.user_id IS NOT NULL OR (v.user_id IS NOT NULL AND d.general_access IS NOT NULL) OR @all = 1)
          AND (@q IS NULL OR d.title LIKE @q ESCAPE '\\' OR t.text LIKE @q ESCAPE '\\')
        ORDER BY ${order[sort]}
        LIMIT ${LIST_LIMIT}`,
    );
  const lists = { edited: listSql('edited'), title: listSql('title'), created: listSql('created') };
  const visit = db.prepare<[string, string, number]>(
    'INSERT INTO doc_visits (doc_id, user_id, at) VALUES (?, ?, ?) ON CONFLICT (doc_id, user_id) DO UPDATE SET at = excluded.at',
  );
  // One read transaction, so the row and its grants are one version of the ACL.
  const loadTx = db.transaction((id: string) => {
    const row = selDoc.get(id);
    return row ? loaded(row, selGrants.all(id)) : undefined;
  });
  return {
    async create(ownerId, title) {
      const id = newId();
      const now = Date.now();
      insert.run(id, title, ownerId, now, now);
      return selDoc.get(id)!;
    },
    async load(id) {
      return loadTx(id);
    },
    async rename(id, title) {
      rename.run(title, Date.now(), id);
      return selDoc.get(id);
    },
    async list(p, opts) {
      return listView(p, lists[opts.sort ?? 'edited'].all({ me: p.userId, all: opts.all ? 1 : 0, q: opts.q ? likePattern(opts.q) : null }));
    },
    async recordVisit(docId, userId) {
      visit.run(docId, userId, Date.now());
    },
  };
}

export function createPgDocStore(pg: PgDb): DocStore {
  const s = pg.s;
  const from = `FROM ${s}.docs d JOIN ${s}.users u ON u.id = d.owner_id LEFT JOIN ${s}.doc_heads h ON h.doc_id = d.id`;
  const selDoc = `SELECT ${COLUMNS} ${from} WHERE d.id = $1`;
  // COLLATE "C": the same byte order as SQLite, whatever the database's locale.
  const order: Record<DocSort, string> = {
    edited: 'COALESCE(h.last_edit_at, d.updated_at) DESC, d.id COLLATE "C"',
    title: 'lower(d.title) COLLATE "C", d.id COLLATE "C"',
    created: 'd.created_at DESC, d.id COLLATE "C"',
  };
  return {
    async create(ownerId, title) {
      const id = newId();
      const now = Date.now();
      await pg.query(`INSERT INTO ${s}.docs (id, title, owner_id, general_access, acl_version, created_at, updated_at) VALUES ($1, $2, $3, NULL, 1, $4, $4)`, [
        id,
        title,
        ownerId,
        now,
      ]);
      return (await pg.query<DocRow>(selDoc, [id])).rows[0]!;
    },
    async load(id) {
      // One statement: the row and its grants are one snapshot of the ACL.
      const r = await pg.query<DocRow & { grants: { user_id: string; role: GrantRole }[] }>(
        `SELECT ${COLUMNS}, COALESCE((SELECT json_agg(json_build_object('user_id', g.user_id, 'role', g.role)) FROM ${s}.grants g WHERE g.doc_id = d.id), '[]') AS grants
           ${from} WHERE d.id = $1`,
        [id],
      );
      const row = r.rows[0];
      if (!row) return undefined;
      const { grants, ...doc } = row;
      return loaded(doc, grants);
    },
    async rename(id, title) {
      await pg.query(`UPDATE ${s}.docs SET title = $1, updated_at = $2 WHERE id = $3`, [title, Date.now(), id]);
      return (await pg.query<DocRow>(selDoc, [id])).rows[0];
    },
    async list(p, opts) {
      // ILIKE: case-insensitive like SQLite's LIKE (which folds ASCII only; ILIKE folds all of Unicode).
      const r = await pg.query<ListRow>(
        `SELECT ${COLUMNS}, g.role AS my_grant ${from}
           LEFT JOIN ${s}.grants g ON g.doc_id = d.id AND g.user_id = $1
           LEFT JOIN ${s}.doc_visits v ON v.doc_id = d.id AND v.user_id = $1
           LEFT JOIN ${s}.doc_text t ON t.doc_id = d.id
          WHERE (d.owner_id = $1 OR g.user_id IS NOT NULL OR (v.user_id IS NOT NULL AND d.general_access IS NOT NULL) OR $2::boolean)
            AND ($3::text IS NULL OR d.title ILIKE $3 ESCAPE '\\' OR t.text ILIKE $3 ESCAPE '\\')
          ORDER BY ${order[opts.sort ?? 'edited']}
          LIMIT ${LIST_LIMIT}`,
        [p.userId, Boolean(opts.all), opts.q ? likePattern(opts.q) : null],
      );
      return listView(p, r.rows);
    },
    async recordVisit(docId, userId) {
      await pg.query(
        `INSERT INTO ${s}.doc_visits (doc_id, user_id, at) VALUES ($1, $2, $3) ON CONFLICT (doc_id, user_id) DO UPDATE SET at = EXCLUDED.at`,
        [docId, userId, Date.now()],
      );
    },
  };
}
