/**
 * The one access policy. The UI (what to show), the REST API (what to allow) and collab-server
 * (every inbound write) all call `decide`, so they can never disagree.
 */
import { z } from 'zod';

export const roles = ['viewer', 'editor', 'owner'] as const;
export type Role = (typeof roles)[number];
export const RoleSchema = z.enum(roles);

/** What "anyone signed in" gets; null means restricted (only people with a grant). */
export const GeneralAccessSchema = z.enum(['viewer', 'editor']).nullable();
export type GeneralAccess = z.infer<typeof GeneralAccessSchema>;

/** Roles a grant can give; ownership moves only through the owner field. */
export const GrantRoleSchema = z.enum(['viewer', 'editor']);
export type GrantRole = z.infer<typeof GrantRoleSchema>;

export interface DocAcl {
  docId: string;
  /** Bumped on every change; caches of decisions are keyed by it. */
  version: number;
  ownerId: string;
  generalAccess: GeneralAccess;
  /** userId → role */
  grants: ReadonlyMap<string, GrantRole>;
}

export interface Principal {
  userId: string;
  isAdmin: boolean;
}

export type Action = 'read' | 'write' | 'manage' | 'delete';

export type Decision =
  | { allow: true; role: Role }
  | { allow: false; role: Role | null; reason: 'no-access' | 'read-only' | 'not-owner' };

const rank: Record<Role, number> = { viewer: 1, editor: 2, owner: 3 };

/** The strongest role a principal holds on a document (instance admins count as owner), or null. */
export function effectiveRole(p: Principal, acl: DocAcl): Role | null {
  if (p.isAdmin || acl.ownerId === p.userId) return 'owner';
  const granted = acl.grants.get(p.userId) ?? null;
  const general = acl.generalAccess;
  if (granted && general) return rank[granted] >= rank[general] ? granted : general;
  return granted ?? general;
}

/** May `p` do `action` on the document? */
export function decide(p: Principal, acl: DocAcl, action: Action): Decision {
  const role = effectiveRole(p, acl);
  if (!role) return { allow: false, role: null, reason: 'no-access' };
  switch (action) {
    case 'read':
      return { allow: true, role };
    case 'write':
      return rank[role] >= rank.editor ? { allow: true, role } : { allow: false, role, reason: 'read-only' };
    case 'manage':
    case 'delete':
      return role === 'owner' ? { allow: true, role } : { allow: false, role, reason: 'not-owner' };
  }
}

export function roleAtLeast(role: Role | null, min: Role): boolean {
  return role !== null && rank[role] >= rank[min];
}
