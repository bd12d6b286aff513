/** Request schemas and response shapes of the version-history API (routes and the history panel share them). */
import { z } from 'zod';
import type { VersionKind } from './versions';

export const VersionIdSchema = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be a version id');
export const VersionNameSchema = z.string().trim().min(1, 'must not be empty').max(100, 'must be at most 100 characters');

/** POST /api/docs/:id/versions */
export const NameVersionBodySchema = z.object({ name: VersionNameSchema });
/** PATCH /api/docs/:id/versions/:vid: a new name, or null to un-name (it may then be pruned). */
export const RenameVersionBodySchema = z.object({ name: VersionNameSchema.nullable() });
/**
 * POST /api/docs/:id/versions/:vid/restore. `applied` (the editor): the restore was already made as
 * the caller's own edit (so their undo reverts it); the server waits until the store holds
 * `stateVector` (base64 of the editor's Y.Doc state vector right after it) and records the audit
 * entry and the "restored" version. Without it the server writes the restore through collab-server.
 */
export const RestoreBodySchema = z.object({
  applied: z.object({ stateVector: z.string().max(64 * 1024).regex(/^[A-Za-z0-9+/=]*$/, 'must be base64') }).optional(),
});
export const DiffQuerySchema = z.object({ against: z.union([z.literal('current'), VersionIdSchema]).default('current') });

export interface VersionPerson {
  id: string;
  name: string;
}

export interface VersionView {
  id: string;
  n: number;
  createdAt: number;
  kind: VersionKind;
  name: string | null;
  /** Who named or restored it (null for automatic versions). */
  createdBy: VersionPerson | null;
  /** Who edited since the previous version. */
  contributors: VersionPerson[];
  lastEditAt: number | null;
  /** Stored size: the change since the previous version, or the whole document for a keyframe. */
  bytes: number;
  keyframe: boolean;
  restoredFrom: string | null;
}

export interface VersionContentResponse {
  version: VersionView;
  /** The editor's JSON (ProseMirror document). */
  json: unknown;
  html: string;
  text: string;
}

export interface DiffChange {
  /** equal: in both; added: only in `to`; removed: only in `from`. */
  op: 'equal' | 'added' | 'removed';
  text: string;
}

export interface VersionDiffResponse {
  from: { version: VersionView };
  /** `current` or another version. */
  to: { current: true } | { version: VersionView };
  changes: DiffChange[];
  added: number;
  removed: number;
}
