/** Documents: create, load (with the ACL `decide` needs), list, rename. Access changes are in access.ts. */
import { newId } from '@/lib/ids';
import { effectiveRole, type DocAcl, type GeneralAccess, type GrantRole, type Principal, type Role } from '@/lib/acl';
import type { DocView } from '@/lib/api-schemas';
import type { Db } from './db';

export interface DocRow {
  id: string;
  title: string;
  owner_id: string;
  general_access: GeneralAccess;
  acl_version: number;
  created_at: number;
  updated_at: number;
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

const DOC_COLUMNS = 'd.*, u.name AS owner_name, u.email AS owner_email';

/** `%`, `_` and `\` in a search are literal characters, not LIKE wildcards. */
const likePattern = (q: string) => `%${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

export function createDocStore(db: Db) {
  const selDoc = db.prepare<[string], DocRow>(`SELECT ${DOC_COLUMNS} FROM docs d JOIN users u ON u.id = d.owner_id WHERE d.id = ?`);
  const selGrants = db.prepare<[string], { user_id: string; role: GrantRole }>('SELECT user_id, role FROM grants WHERE doc_id = ?');
  const insert = db.prepare<[string, string, string, number, number]>(
    'INSERT INTO docs (id, title, owner_id, general_access, acl_version, created_at, updated_at) VALUES (?, ?, ?, NULL, 1, ?, ?)',
  );
  const rename = db.prepare<[string, number, string]>('UPDATE docs SET title = ?, updated_at = ? WHERE id = ?');
  const list = db.prepare<{ me: string; all: number; q: string | null }, DocRow & { my_grant: GrantRole | null }>(
    `SELECT ${DOC_COLUMNS}, g.role AS my_grant
       FROM docs d JOIN users u ON u.id = d.owner_id
       LEFT JOIN grants g ON g.doc_id = d.id AND g.user_id = @me
      WHERE (d.owner_id = @me OR g.user_id IS NOT NULL OR @all = 1)
        AND (@q IS NULL OR d.title LIKE @q ESCAPE '\\')
      ORDER BY COALESCE(d.last_edit_at, d.updated_at) DESC, d.id
      LIMIT 500`,
  );

  return {
    create(ownerId: string, title: string): DocRow {
      const id = newId();
      const now = Date.now();
      insert.run(id, title, ownerId, now, now);
      return selDoc.get(id)!;
    },
    /** The document and its full ACL, or undefined if it does not exist. */
    load(id: string): LoadedDoc | undefined {
      const row = selDoc.get(id);
      if (!row) return undefined;
      const grants = new Map(selGrants.all(id).map((g) => [g.user_id, g.role] as const));
      return { row, acl: { docId: id, version: row.acl_version, ownerId: row.owner_id, generalAccess: row.general_access, grants } };
    },
    rename(id: string, title: string): DocRow {
      rename.run(title, Date.now(), id);
      return selDoc.get(id)!;
    },
    /**
     * Documents the principal owns or holds a grant on (every document with `all`, for admins),
     * newest edit first, each with the principal's effective role.
     */
    list(p: Principal, opts: { q?: string; all?: boolean }): DocView[] {
      const rows = list.all({ me: p.userId, all: opts.all ? 1 : 0, q: opts.q ? likePattern(opts.q) : null });
      return rows.map((r) => {
        // Only the caller's own grant matters to their role, so a one-entry map is the whole truth.
        const acl: DocAcl = {
          docId: r.id,
          version: r.acl_version,
          ownerId: r.owner_id,
          generalAccess: r.general_access,
          grants: new Map(r.my_grant ? [[p.userId, r.my_grant]] : []),
        };
        return docView(r, effectiveRole(p, acl) ?? 'viewer');
      });
    },
  };
}

export type DocStore = ReturnType<typeof createDocStore>;
