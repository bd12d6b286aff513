/**
 * Access changes. Each one is ONE immediate transaction that (1) changes grants / general access /
 * the document, (2) bumps docs.acl_version, (3) appends {doc_id, version, at} to acl_changes and
 * (4) writes the audit entry. collab-server tails acl_changes to re-check open sockets, so a change
 * without its feed row would leave a revoked user editing: never write one without the other.
 */
import { TandemError } from '@/lib/errors';
import type { GeneralAccess, GrantRole } from '@/lib/acl';
import type { AccessView } from '@/lib/api-schemas';
import type { Db } from './db';
import type { AuditStore } from './audit';

export interface AccessTarget {
  userId: string;
  email: string;
}

export function createAccessStore(db: Db, audit: AuditStore) {
  const selDoc = db.prepare<[string], { acl_version: number; general_access: GeneralAccess; owner_id: string; title: string }>(
    'SELECT acl_version, general_access, owner_id, title FROM docs WHERE id = ?',
  );
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
  const insChange = db.prepare<[string, number, number]>('INSERT INTO acl_changes (doc_id, version, at) VALUES (?, ?, ?)');
  const delUpdates = db.prepare<[string]>('DELETE FROM doc_updates WHERE doc_id = ?');
  const delSnapshot = db.prepare<[string]>('DELETE FROM doc_snapshots WHERE doc_id = ?');
  const delDoc = db.prepare<[string]>('DELETE FROM docs WHERE id = ?');

  /** The feed row and the audit row for a change already applied in this transaction. */
  function feed(docId: string, version: number, actorId: string, action: string, target: string | null, detail: unknown): void {
    const at = Date.now();
    insChange.run(docId, version, at);
    audit.record({ actorId, action, docId, target, detail }, at);
  }

  function bump(docId: string): number {
    const r = bumpVersion.get(Date.now(), docId);
    // Deleted between the handler's load and this transaction.
    if (!r) throw new TandemError('not_found', 'document not found');
    return r.acl_version;
  }

  function view(docId: string): AccessView {
    const d = selDoc.get(docId);
    const o = selOwner.get(docId);
    if (!d || !o) throw new TandemError('not_found', 'document not found');
    return {
      version: d.acl_version,
      generalAccess: d.general_access,
      owner: { userId: o.id, email: o.email, name: o.name },
      grants: selGrants.all(docId).map((g) => ({ userId: g.user_id, email: g.email, name: g.name, role: g.role })),
    };
  }

  const putGrantTx = db.transaction((actorId: string, docId: string, t: AccessTarget, role: GrantRole) => {
    const d = selDoc.get(docId);
    if (!d) throw new TandemError('not_found', 'document not found');
    if (d.owner_id === t.userId) throw new TandemError('bad_request', 'the owner already has full access', 'email');
    const old = selGrant.get(docId, t.userId)?.role ?? null;
    // Re-granting the same role changes nothing: no version bump, no feed row, no audit noise.
    if (old === role) return;
    upsertGrant.run(docId, t.userId, role);
    feed(docId, bump(docId), actorId, 'access.grant', t.email, { oldRole: old, newRole: role });
  });

  const deleteGrantTx = db.transaction((actorId: string, docId: string, t: AccessTarget) => {
    const old = selGrant.get(docId, t.userId)?.role;
    if (!old) throw new TandemError('not_found', `${t.email} has no grant on this document`);
    delGrant.run(docId, t.userId);
    feed(docId, bump(docId), actorId, 'access.revoke', t.email, { oldRole: old, newRole: null });
  });

  const setGeneralTx = db.transaction((actorId: string, docId: string, role: GeneralAccess) => {
    const d = selDoc.get(docId);
    if (!d) throw new TandemError('not_found', 'document not found');
    if (d.general_access === role) return;
    setGeneral.run(role, docId);
    feed(docId, bump(docId), actorId, 'access.general', null, { oldRole: d.general_access, newRole: role });
  });

  const deleteDocTx = db.transaction((actorId: string, docId: string) => {
    const d = selDoc.get(docId);
    if (!d) throw new TandemError('not_found', 'document not found');
    delUpdates.run(docId);
    delSnapshot.run(docId);
    delDoc.run(docId); // grants go with it (ON DELETE CASCADE)
    // The row is gone, so the feed carries the version it would have had: collab-server then finds
    // no document and closes every socket on it with 4403.
    feed(docId, d.acl_version + 1, actorId, 'doc.delete', null, { title: d.title });
  });

  return {
    view,
    /** Give `t` the role `role` (creating or changing the grant). Returns the new access list. */
    putGrant(actorId: string, docId: string, t: AccessTarget, role: GrantRole): AccessView {
      putGrantTx.immediate(actorId, docId, t, role);
      return view(docId);
    },
    /** Remove `t`'s grant; not_found if there was none. */
    deleteGrant(actorId: string, docId: string, t: AccessTarget): AccessView {
      deleteGrantTx.immediate(actorId, docId, t);
      return view(docId);
    },
    setGeneral(actorId: string, docId: string, role: GeneralAccess): AccessView {
      setGeneralTx.immediate(actorId, docId, role);
      return view(docId);
    },
    /** Delete the document, its grants and its stored content. */
    deleteDoc(actorId: string, docId: string): void {
      deleteDocTx.immediate(actorId, docId);
    },
  };
}

export type AccessStore = ReturnType<typeof createAccessStore>;
