/**
 * Request schemas and response shapes of the REST API. The route handlers validate with these and
 * the UI imports the same ones (for form validation and typed responses), so they cannot drift.
 */
import { z } from 'zod';
import { GeneralAccessSchema, GrantRoleSchema, type GeneralAccess, type GrantRole, type Role } from './acl';

/** Lower-cased and trimmed: the users table compares emails case-insensitively anyway. */
export const EmailSchema = z
  .string()
  .trim()
  .toLowerCase()
  .max(254, 'must be at most 254 characters')
  .pipe(z.email('must be an email address'));

/** Bounded so a huge password cannot make scrypt (and the request) arbitrarily slow. */
export const PasswordSchema = z.string().min(8, 'must be at least 8 characters').max(200, 'must be at most 200 characters');

export const SignupBodySchema = z.object({
  email: EmailSchema,
  name: z.string().trim().min(1, 'must not be empty').max(100, 'must be at most 100 characters'),
  password: PasswordSchema,
});
export type SignupBody = z.infer<typeof SignupBodySchema>;

/** The first instance admin: the one-time setup token (printed at first start, or SETUP_TOKEN) and the account. */
export const SetupBodySchema = SignupBodySchema.extend({
  setupToken: z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters'),
});
export type SetupBody = z.infer<typeof SetupBodySchema>;

/** The token from a verification link. */
export const VerifyBodySchema = z.object({ token: z.string().min(1, 'must not be empty').max(100, 'must be at most 100 characters') });

/** Sign-in redirect targets: a path on this site only. `/\\host` and `//host` are other sites to a browser. */
export function safeNextPath(n: string | null | undefined): string {
  if (!n || !n.startsWith('/') || n.startsWith('//') || n.includes('\\')) return '/';
  // Control characters (tabs, newlines) are stripped by URL parsers and could rebuild `//`.
  if (/[\u0000-\u001f\u007f]/.test(n)) return '/';
  try {
    const u = new URL(n, 'http://tandem.invalid');
    if (u.origin !== 'http://tandem.invalid') return '/';
    return `${u.pathname}${u.search}${u.hash}`;
  } catch {
    return '/';
  }
}

export const LoginBodySchema = z.object({
  email: EmailSchema,
  // Any length is checked against the hash; only the upper bound protects the server.
  password: z.string().min(1, 'must not be empty').max(200, 'must be at most 200 characters'),
});
export type LoginBody = z.infer<typeof LoginBodySchema>;

export const TitleSchema = z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters');

export const CreateDocBodySchema = z.object({ title: TitleSchema.default('Untitled document') });
export type CreateDocBody = z.infer<typeof CreateDocBodySchema>;

export const PatchDocBodySchema = z.object({ title: TitleSchema });
export type PatchDocBody = z.infer<typeof PatchDocBodySchema>;

export const PutGrantBodySchema = z.object({ role: GrantRoleSchema });
export type PutGrantBody = z.infer<typeof PutGrantBodySchema>;

export const PutGeneralAccessBodySchema = z.object({ role: GeneralAccessSchema });
export type PutGeneralAccessBody = z.infer<typeof PutGeneralAccessBodySchema>;

export const DocListQuerySchema = z.object({
  q: z.string().trim().max(200, 'must be at most 200 characters').optional(),
  /** Instance admins only: every document on the instance. */
  all: z.enum(['1', 'true']).optional(),
  /** edited: newest edit first (default); title: A–Z; created: newest first. */
  sort: z.enum(['edited', 'title', 'created']).optional(),
});

export const AuditQuerySchema = z.object({
  action: z.string().trim().min(1).max(64).optional(),
  docId: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be a document id').optional(),
  limit: z.coerce.number().int('must be an integer').min(1, 'must be at least 1').max(1000, 'must be at most 1000').default(100),
  /** Entries with an id below this (paging backwards from the newest). */
  before: z.coerce.number().int('must be an integer').positive('must be positive').optional(),
});

// ---- response shapes ------------------------------------------------------------------------

export interface ApiErrorBody {
  error: string;
  message: string;
  field?: string;
}

export interface UserView {
  id: string;
  email: string;
  name: string;
  isAdmin: boolean;
  /** The address was verified by a mailed link (shares to it apply only then, unless verification is off). */
  emailVerified: boolean;
  createdAt: number;
}

export interface SessionResponse {
  user: UserView;
  /** The session token, for `Authorization: Bearer` (browsers use the httpOnly cookie instead). */
  token: string;
  expiresAt: number;
}

export interface DocView {
  id: string;
  title: string;
  ownerId: string;
  ownerName: string;
  ownerEmail: string;
  /** The caller's effective role (admins count as owner). */
  role: Role;
  generalAccess: GeneralAccess;
  createdAt: number;
  updatedAt: number;
  /** When collab-server last stored edits (ms), or null if never edited. */
  lastEditAt: number | null;
}

export interface GrantView {
  userId: string;
  email: string;
  name: string;
  role: GrantRole;
}

/** A share to an address with no verified account yet: it becomes a grant once the address is verified. */
export interface InvitationView {
  email: string;
  role: GrantRole;
  createdAt: number;
}

export interface AccessView {
  version: number;
  generalAccess: GeneralAccess;
  owner: { userId: string; email: string; name: string };
  grants: GrantView[];
  invitations: InvitationView[];
}

/** Sign-up while EMAIL_VERIFICATION=required: the same answer whether or not the address has an account. */
export interface VerificationSentResponse {
  verification: 'sent';
  email: string;
}

export interface TokenResponse {
  token: string;
  /** collab-server WebSocket base URL; connect with `new WebsocketProvider(url, docId, doc, { params: { token } })`. */
  url: string;
  /** ms since epoch */
  expiresAt: number;
  role: Role;
}

export interface AuditEntryView {
  id: number;
  at: number;
  actorId: string | null;
  actorEmail: string | null;
  action: string;
  docId: string | null;
  target: string | null;
  detail: unknown;
}
