/**
 * Access changes. Each one is ONE transaction that (1) changes grants / general access / the
 * document, (2) bumps docs.acl_version, (3) appends {doc_id, version, at, deleted} to acl_changes
 * and (4) writes the audit entry. collab-server tails acl_changes to re-check open sockets (and to
 * purge a deleted document's content), so a change without its feed row would leave a revoked user
 * editing: never write one without the other. The app never touches collab-server's tables.
 * An invitation (a share to an address with no verified account) grants nothing, so it needs no
 * feed row: acceptInvitations turns it into a grant, with its feed row, once the address is verified.
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
  /** Invite `email` (no verified account yet) with `role`: it becomes a grant when the address is verified. */
  putInvitation(actorId: string, docId: string, email: string, role: GrantRole): Promise<AccessView>;
  /** Withdraw an invitation; not_found if there was none. */
  deleteInvitation(actorId: string, docId: string, email: string): Promise<AccessView>;
  /** Turn every invitation for `email` into a grant for `userId` (its address is now verified); returns how many. */
  acceptInvitations(userId: string, email: string): Promise<number>;
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
const noInvitation = (email: string) => new TandemError('not_found', `${email} has no invitation to this document`);

interface InvitationRow {
  doc_id: string;
  email: string;
  role: GrantRole;
  invited_by: string | null;
  created_at: number;
}

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
  const selInvites = db.prepare<[string], InvitationRow>('SELECT * FROM invitations WHERE doc_id = ? ORDER BY email');
  const selInvite = db.prepare<[string, string], InvitationRow>('SELECT * FROM invitations WHERE doc_id = ? AND email = ?');
  const invitesFor = db.prepare<[string], InvitationRow>('SELECT * FROM invitations WHERE email = ?');
  const upsertInvite = db.prepare<[string, string, GrantRole, string, number]>(
    'INSERT INTO invitations (doc_id, email, role, invited_by, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT(doc_id, email) DO UPDATE SET role = excluded.role',
  );
  const delInvite = db.prepare<[string, string]>('DELETE FROM invitations WHERE doc_id = ? AND email = ?');

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
      invitations: selInvites.all(docId).map((i) => ({ email: i.email, role: i.role, createdAt: i.created_at })),
    };
  }

  // IMMEDIATE: the write lock is taken before the reads the change depends on.
  const putGrantTx = db.transaction((actorId: string, docId: string, t: AccessTarget, role: GrantRole) => {
    const d = selDoc.get(docId);
    if (!d) throw notFound();
    if (d.owner_id === t.userId) throw ownerHasAll();
    delInvite.run(docId, t.email); // a grant supersedes a pending invitation
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

  const putInvitationTx = db.transaction((actorId: string, docId: string, email: string, role: GrantRole) => {
    const o = selOwner.get(docId);
    if (!o) throw notFound();
    if (o.email.toLowerCase() === email.toLowerCase()) throw ownerHasAll();
    const old = selInvite.get(docId, email)?.role ?? null;
    if (old !== role) {
      upsertInvite.run(docId, email.toLowerCase(), role, actorId, Date.now());
      audit({ actorId, action: 'access.invite', docId, target: email, detail: { oldRole: old, newRole: role } }, Date.now());
    }
    return view(docId);
  });

  const deleteInvitationTx = db.transaction((actorId: string, docId: string, email: string) => {
    if (!selDoc.get(docId)) throw notFound();
    const old = selInvite.get(docId, email);
    if (!old) throw noInvitation(email);
    delInvite.run(docId, email);
    audit({ actorId, action: 'access.uninvite', docId, target: email, detail: { oldRole: old.role, newRole: null } }, Date.now());
    return view(docId);
  });

  const acceptTx = db.transaction((userId: string, email: string) => {
    let n = 0;
    for (const inv of invitesFor.all(email)) {
      delInvite.run(inv.doc_id, inv.email);
      const d = selDoc.get(inv.doc_id);
      if (!d || d.owner_id === userId) continue;
      const old = selGrant.get(inv.doc_id, userId)?.role ?? null;
      if (old === inv.role) continue;
      upsertGrant.run(inv.doc_id, userId, inv.role);
      feed(inv.doc_id, bump(inv.doc_id), false, {
        actorId: inv.invited_by,
        action: 'access.grant',
        docId: inv.doc_id,
        target: email,
        detail: { oldRole: old, newRole: inv.role, invitation: true },
      });
      n++;
    }
    return n;
  });

  return {
    async view(docId) {
      return view(docId);
    },
    async putInvitation(actorId, docId, email, role) {
      return putInvitationTx.immediate(actorId, docId, email, role);
    },
    async deleteInvitation(actorId, docId, email) {
      return deleteInvitationTx.immediate(actorId, docId, email);
    },
    async acceptInvitations(userId, email) {
      return acceptTx.immediate(userId, email);
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
      invitations: { email: string; role: GrantRole; created_at: number }[];
    }>(
      `SELECT d.acl_version, d.general_access, u.id, u.email, u.name,
              COALESCE((SELECT json_agg(json_build_object('user_id', g.user_id, 'email', gu.email, 'name', gu.name, 'role', g.role) ORDER BY gu.email COLLATE "C")
                          FROM ${s}.grants g JOIN ${s}.users gu ON gu.id = g.user_id WHERE g.doc_id = d.id), '[]') AS grants,
              COALESCE((SELECT json_agg(json_build_object('email', i.email, 'role', i.role, 'created_at', i.created_at) ORDER BY i.email COLLATE "C")
                          FROM ${s}.invitations i WHERE i.doc_id = d.id), '[]') AS invitations
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
      invitations: d.invitations.map((i) => ({ email: i.email, role: i.role, createdAt: Number(i.created_at) })),
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
        await c.query(`DELETE FROM ${s}.invitations WHERE doc_id = $1 AND lower(email) = lower($2)`, [docId, t.email]); // a grant supersedes an invitation
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
    putInvitation: (actorId, docId, email, role) =>
      pg.tx(async (c) => {
        const d = await lockDoc(c, docId);
        const owner = await c.query<{ email: string }>(`SELECT email FROM ${s}.users WHERE id = $1`, [d.owner_id]);
        if (owner.rows[0]?.email.toLowerCase() === email.toLowerCase()) throw ownerHasAll();
        const old = (await c.query<{ role: GrantRole }>(`SELECT role FROM ${s}.invitations WHERE doc_id = $1 AND lower(email) = lower($2)`, [docId, email])).rows[0]?.role ?? null;
        if (old !== role) {
          await c.query(
            `INSERT INTO ${s}.invitations (doc_id, email, role, invited_by, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (doc_id, email) DO UPDATE SET role = excluded.role`,
            [docId, email.toLowerCase(), role, actorId, Date.now()],
          );
          await pgAuditInsert(c, s, { actorId, action: 'access.invite', docId, target: email, detail: { oldRole: old, newRole: role } }, Date.now());
        }
        return view(c, docId);
      }),
    deleteInvitation: (actorId, docId, email) =>
      pg.tx(async (c) => {
        await lockDoc(c, docId);
        const r = await c.query<{ role: GrantRole }>(`DELETE FROM ${s}.invitations WHERE doc_id = $1 AND lower(email) = lower($2) RETURNING role`, [docId, email]);
        if (!r.rows[0]) throw noInvitation(email);
        await pgAuditInsert(c, s, { actorId, action: 'access.uninvite', docId, target: email, detail: { oldRole: r.rows[0].role, newRole: null } }, Date.now());
        return view(c, docId);
      }),
    acceptInvitations: async (userId, email) => {
      const invites = (await pg.query<InvitationRow>(`SELECT * FROM ${s}.invitations WHERE lower(email) = lower($1) ORDER BY doc_id`, [email])).rows;
      let n = 0;
      // One transaction per document: each takes that document's row lock, like any other access change.
      for (const inv of invites) {
        const applied = await pg.tx(async (c) => {
          const r = await c.query<DocAccessRow>(`SELECT acl_version, general_access, owner_id, title FROM ${s}.docs WHERE id = $1 FOR UPDATE`, [inv.doc_id]);
          const gone = await c.query(`DELETE FROM ${s}.invitations WHERE doc_id = $1 AND lower(email) = lower($2) RETURNING 1`, [inv.doc_id, email]);
          const d = r.rows[0];
          if (!d || !gone.rowCount || d.owner_id === userId) return false;
          const old = await grantOf(c, inv.doc_id, userId);
          if (old === inv.role) return false;
          await c.query(`INSERT INTO ${s}.grants (doc_id, user_id, role) VALUES ($1, $2, $3) ON CONFLICT (doc_id, user_id) DO UPDATE SET role = excluded.role`, [
            inv.doc_id,
            userId,
            inv.role,
          ]);
          await feed(c, inv.doc_id, await bump(c, inv.doc_id), false, {
            actorId: inv.invited_by,
            action: 'access.grant',
            docId: inv.doc_id,
            target: email,
            detail: { oldRole: old, newRole: inv.role, invitation: true },
          });
          return true;
        });
        if (applied) n++;
      }
      return n;
    },
  };
}
