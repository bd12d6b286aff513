/**
 * Access changes. Each one is ONE transaction that (1) changes grants / general access / the
 * document, (2) bumps docs.acl_version, (3) appends {doc_id, version, at, deleted} to acl_changes
 * and (4) writes the audit entry. collab-server tails acl_changes to re-check open sockets (and to
 * purge a deleted document's content), so a change without its feed row would leave a revoked user
 * editing: never write one without the other. The app never touches collab-server's tables.
 */
import type pg from 'pg';
import { TandemError } from '@/lib/errors';
import type { GeneralAccess, GrantRole } from '@/lib/acl';
import type { AccessView } from '@/lib/api-schemas';
import type { Db } from './sqlite';
import type { PgDb, PgQueryable } from './pg';
import { pgAuditInsert, sqliteAuditInsert, type AuditRecord } from './audit';

export interface AccessTarget {
  userId: string;
  email: string;
}

/** Who has access to a document, and every change to it (each one fed to collab-server). */
export interface AccessStore {
  /** The access list; not_found if the document does not exist. */
  view(docId: string): Promise<AccessView>;
  /** Give `t` the role `role` (creating or changing the grant). Returns the new access list. */
  putGrant(actorId: string, docId: string, t: AccessTarget, role: GrantRole): Promise<AccessView>;
  /** Remove `t`'s grant; not_found if there was none. */
  deleteGrant(actorId: string, docId: string, t: AccessTarget): Promise<AccessView>;
  setGeneral(actorId: string, docId: string, role: GeneralAccess): Promise<AccessView>;
  /** Delete the document and its grants; the feed row (deleted = 1) tells collab-server to purge its content. */
  deleteDoc(actorId: string, docId: string): Promise<void>;
}

interface DocAccessRow {
  acl_version: number;
  general_access: GeneralAccess;
  owner_id: string;
  title: string;
}

const notFound = () => new TandemError('not_found', 'document not found');
const ownerHasAll = () => new TandemError('bad_request', 'the owner already has full access', 'email');
const noGrant = (t: AccessTarget) => new TandemError('not_found', `${t.email} has no grant on this document`);

export function createSqliteAccessStore(db: Db): AccessStore {
  const audit = sqliteAuditInsert(db);
  const selDoc = db.prepare<[string], DocAccessRow>('SELECT acl_version, general_access, owner_id, title FROM docs WHERE id = ?');
  const selOwner = db.prepare<[string], { id: string; email: string; name: string }>(
    'SELECT u.id, u.email, u.name FROM docs d JOIN users u ON u.id = d.owner_id WHERE d.id = ?',
  );
  const selGrants = db.prepare<[string], { user_id: string; email: string; name: string; role: GrantRole }>(
    'SELECT g.user_id, u.email, u.name, g.role FROM grants g JOIN users u ON u.id = g.user_id WHERE g.doc_id = ? ORDER BY u.email',
  );
  const selGrant = db.prepare<[string, string], { role: GrantRole }>('SELECT role FROM grants WHERE doc_id = ? AND user_id = ?');
  const upsertGrant = db.prepare<[string, string, GrantRole]>(
    'INSERT INTO grants (doc_id, user_id, role) VALUES (?, ?, ?) ON CONFLICT(doc_id, user_id) DO UPDATE SET role = excluded.role',
  );
  const delGrant = db.prepare<[string, string]>('DELETE FROM grants WHERE doc_id = ? AND user_id = ?');
  const setGeneral = db.prepare<[GeneralAccess, string]>('UPDATE docs SET general_access = ? WHERE id = ?');
  const bumpVersion = db.prepare<[number, string], { acl_version: number }>(
    'UPDATE docs SET acl_version = acl_version + 1, updated_at = ? WHERE id = ? RETURNING acl_version',
  );
  const insChange = db.prepare<[string, number, number, number]>('INSERT INTO acl_changes (doc_id, version, at, deleted) VALUES (?, ?, ?, ?)');
  const delDoc = db.prepare<[string]>('DELETE FROM docs WHERE id = ?');

  /** The feed row and the audit row for a change already applied in this transaction. */
  function feed(docId: string, version: number, deleted: boolean, a: AuditRecord): void {
    const at = Date.now();
    insChange.run(docId, version, at, deleted ? 1 : 0);
    audit(a, at);
  }

  function bump(docId: string): number {
    const r = bumpVersion.get(Date.now(), docId);
    // Deleted between the handler's load and this transaction.
    if (!r) throw notFound();
    return r.acl_version;
  }

  function view(docId: string): AccessView {
    const d = selDoc.get(docId);
    const o = selOwner.get(docId);
    if (!d || !o) throw notFound();
    return {
      version: d.acl_version,
      generalAccess: d.general_access,
      owner: { userId: o.id, email: o.email, name: o.name },
      grants: selGrants.all(docId).map((g) => ({ userId: g.user_id, email: g.email, name: g.name, role: g.role })),
    };
  }

  // IMMEDIATE: the write lock is taken before the reads the change depends on.
  const putGrantTx = db.transaction((actorId: string, docId: string, t: AccessTarget, role: GrantRole) => {
    const d = selDoc.get(docId);
    if (!d) throw notFound();
    if (d.owner_id === t.userId) throw ownerHasAll();
    const old = selGrant.get(docId, t.userId)?.role ?? null;
    // Re-granting the same role changes nothing: no version bump, no feed row, no audit noise.
    if (old !== role) {
      upsertGrant.run(docId, t.userId, role);
      feed(docId, bump(docId), false, { actorId, action: 'access.grant', docId, target: t.email, detail: { oldRole: old, newRole: role } });
    }
    return view(docId);
  });

  const deleteGrantTx = db.transaction((actorId: string, docId: string, t: AccessTarget) => {
    if (!selDoc.get(docId)) throw notFound();
    const old = selGrant.get(docId, t.userId)?.role;
    if (!old) throw noGrant(t);
    delGrant.run(docId, t.userId);
    feed(docId, bump(docId), false, { actorId, action: 'access.revoke', docId, target: t.email, detail: { oldRole: old, newRole: null } });
    return view(docId);
  });

  const setGeneralTx = db.transaction((actorId: string, docId: string, role: GeneralAccess) => {
    const d = selDoc.get(docId);
    if (!d) throw notFound();
    if (d.general_access !== role) {
      setGeneral.run(role, docId);
      feed(docId, bump(docId), false, { actorId, action: 'access.general', docId, target: null, detail: { oldRole: d.general_access, newRole: role } });
    }
    return view(docId);
  });

  const deleteDocTx = db.transaction((actorId: string, docId: string) => {
    const d = selDoc.get(docId);
    if (!d) throw notFound();
    delDoc.run(docId); // grants go with it (ON DELETE CASCADE)
    // The row is gone, so the feed carries the version it would have had: collab-server then finds
    // no document, closes every socket on it with 4403 and purges its content.
    feed(docId, d.acl_version + 1, true, { actorId, action: 'doc.delete', docId, target: null, detail: { title: d.title } });
  });

  return {
    async view(docId) {
      return view(docId);
    },
    async putGrant(actorId, docId, t, role) {
      return putGrantTx.immediate(actorId, docId, t, role);
    },
    async deleteGrant(actorId, docId, t) {
      return deleteGrantTx.immediate(actorId, docId, t);
    },
    async setGeneral(actorId, docId, role) {
      return setGeneralTx.immediate(actorId, docId, role);
    },
    async deleteDoc(actorId, docId) {
      deleteDocTx.immediate(actorId, docId);
    },
  };
}

export function createPgAccessStore(pg: PgDb): AccessStore {
  const s = pg.s;
  // Serializes feed appends in commit order: a BIGSERIAL is taken at INSERT, not at COMMIT, so
  // without it a reader tailing by seq could pass a lower seq that commits later and miss it.
  const feedLockKey = `${pg.schemaName}:acl_changes`;

  /** Lock the document's row for the rest of the transaction: changes to one document run one at a time. */
  async function lockDoc(c: pg.ClientBase, docId: string): Promise<DocAccessRow> {
    const r = await c.query<DocAccessRow>(`SELECT acl_version, general_access, owner_id, title FROM ${s}.docs WHERE id = $1 FOR UPDATE`, [docId]);
    if (!r.rows[0]) throw notFound();
    return r.rows[0];
  }

  async function bump(c: pg.ClientBase, docId: string): Promise<number> {
    const r = await c.query<{ acl_version: number }>(`UPDATE ${s}.docs SET acl_version = acl_version + 1, updated_at = $1 WHERE id = $2 RETURNING acl_version`, [
      Date.now(),
      docId,
    ]);
    if (!r.rows[0]) throw notFound();
    return r.rows[0].acl_version;
  }

  async function feed(c: pg.ClientBase, docId: string, version: number, deleted: boolean, a: AuditRecord): Promise<void> {
    await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [feedLockKey]);
    const at = Date.now();
    await c.query(`INSERT INTO ${s}.acl_changes (doc_id, version, at, deleted) VALUES ($1, $2, $3, $4)`, [docId, version, at, deleted ? 1 : 0]);
    await pgAuditInsert(c, s, a, at);
  }

  async function view(q: PgQueryable, docId: string): Promise<AccessView> {
    // One statement, so the version and the grants are one snapshot.
    const r = await q.query<{
      acl_version: number;
      general_access: GeneralAccess;
      id: string;
      email: string;
      name: string;
      grants: { user_id: string; email: string; name: string; role: GrantRole }[];
    }>(
      `SELECT d.acl_version, d.general_access, u.id, u.email, u.name,
              COALESCE((SELECT json_agg(json_build_object('user_id', g.user_id, 'email', gu.email, 'name', gu.name, 'role', g.role) ORDER BY gu.email COLLATE "C")
                          FROM ${s}.grants g JOIN ${s}.users gu ON gu.id = g.user_id WHERE g.doc_id = d.id), '[]') AS grants
         FROM ${s}.docs d JOIN ${s}.users u ON u.id = d.owner_id WHERE d.id = $1`,
      [docId],
    );
    const d = r.rows[0];
    if (!d) throw notFound();
    return {
      version: d.acl_version,
      generalAccess: d.general_access,
      owner: { userId: d.id, email: d.email, name: d.name },
      grants: d.grants.map((g) => ({ userId: g.user_id, email: g.email, name: g.name, role: g.role })),
    };
  }

  const grantOf = async (c: pg.ClientBase, docId: string, userId: string) =>
    (await c.query<{ role: GrantRole }>(`SELECT role FROM ${s}.grants WHERE doc_id = $1 AND user_id = $2`, [docId, userId])).rows[0]?.role ?? null;

  return {
    view: (docId) => view(pg, docId),
    putGrant: (actorId, docId, t, role) =>
      pg.tx(async (c) => {
        const d = await lockDoc(c, docId);
        if (d.owner_id === t.userId) throw ownerHasAll();
        const old = await grantOf(c, docId, t.userId);
        // Re-granting the same role changes nothing: no version bump, no feed row, no audit noise.
        if (old !== role) {
          await c.query(`INSERT INTO ${s}.grants (doc_id, user_id, role) VALUES ($1, $2, $3) ON CONFLICT (doc_id, user_id) DO UPDATE SET role = excluded.role`, [
            docId,
            t.userId,
            role,
          ]);
          await feed(c, docId, await bump(c, docId), false, { actorId, action: 'access.grant', docId, target: t.email, detail: { oldRole: old, newRole: role } });
        }
        return view(c, docId);
      }),
    deleteGrant: (actorId, docId, t) =>
      pg.tx(async (c) => {
        await lockDoc(c, docId);
        const old = await grantOf(c, docId, t.userId);
        if (!old) throw noGrant(t);
        await c.query(`DELETE FROM ${s}.grants WHERE doc_id = $1 AND user_id = $2`, [docId, t.userId]);
        await feed(c, docId, await bump(c, docId), false, { actorId, action: 'access.revoke', docId, target: t.email, detail: { oldRole: old, newRole: null } });
        return view(c, docId);
      }),
    setGeneral: (actorId, docId, role) =>
      pg.tx(async (c) => {
        const d = await lockDoc(c, docId);
        if (d.general_access !== role) {
          await c.query(`UPDATE ${s}.docs SET general_access = $1 WHERE id = $2`, [role, docId]);
          await feed(c, docId, await bump(c, docId), false, {
            actorId,
            action: 'access.general',
            docId,
            target: null,
            detail: { oldRole: d.general_access, newRole: role },
          });
        }
        return view(c, docId);
      }),
    deleteDoc: (actorId, docId) =>
      pg.tx(async (c) => {
        const d = await lockDoc(c, docId);
        await c.query(`DELETE FROM ${s}.docs WHERE id = $1`, [docId]); // grants go with it (ON DELETE CASCADE)
        // The row is gone, so the feed carries the version it would have had (see the SQLite adapter).
        await feed(c, docId, d.acl_version + 1, true, { actorId, action: 'doc.delete', docId, target: null, detail: { title: d.title } });
      }),
  };
}
