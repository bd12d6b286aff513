/**
 * The browser's view of the REST API: one fetch wrapper that turns `{error, message, field?}`
 * bodies into an ApiError, and the response shapes the UI reads (kept tolerant, the API owns them).
 */
import type { GeneralAccess, Role } from '@/lib/acl';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface Me {
  id: string;
  email: string;
  name: string;
  isAdmin: boolean;
}

export interface DocSummary {
  id: string;
  title: string;
  role: Role;
  ownerId?: string;
  ownerName?: string;
  ownerEmail?: string;
  generalAccess?: GeneralAccess;
  lastEditAt: number | null;
  updatedAt?: number;
}

export interface Grant {
  userId: string;
  email: string;
  name: string;
  role: 'viewer' | 'editor';
}

/** A share waiting for its address to be confirmed. */
export interface Invitation {
  email: string;
  role: 'viewer' | 'editor';
}

export interface AccessList {
  version: number;
  generalAccess: GeneralAccess;
  grants: Grant[];
  invitations?: Invitation[];
}

/** Call the API; throws ApiError for non-2xx (status 0 when the network is down). */
export async function api<T>(path: string, init: { method?: string; body?: unknown; signal?: AbortSignal } = {}): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      method: init.method ?? 'GET',
      headers: init.body !== undefined ? { 'content-type': 'application/json' } : undefined,
      body: init.body !== undefined ? JSON.stringify(init.body) : undefined,
      credentials: 'same-origin',
      cache: 'no-store',
      signal: init.signal,
    });
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err;
    throw new ApiError(0, 'network', 'Cannot reach the server. Check your connection.');
  }
  const text = await res.text();
  let body: unknown = null;
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = null;
    }
  }
  if (!res.ok) {
    const b = (body ?? {}) as { error?: string; message?: string; field?: string };
    throw new ApiError(res.status, b.error ?? 'error', b.message ?? `Request failed (${res.status})`, b.field);
  }
  return body as T;
}

/** Normalise a user object from the API (`{user: {...}}` or the bare object). */
export function toMe(body: unknown): Me {
  const b = body as Record<string, unknown>;
  const u = (b && typeof b === 'object' && 'user' in b ? b.user : b) as Record<string, unknown>;
  return {
    id: String(u.id ?? ''),
    email: String(u.email ?? ''),
    name: String(u.name ?? u.email ?? ''),
    isAdmin: Boolean(u.isAdmin ?? u.is_admin ?? false),
  };
}

export async function fetchMe(signal?: AbortSignal): Promise<Me | null> {
  try {
    return toMe(await api<unknown>('/api/me', { signal }));
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return null;
    throw err;
  }
}

/** Normalise one document row from the API. */
export function toDoc(raw: unknown): DocSummary {
  const r = raw as Record<string, unknown>;
  const d = (r && typeof r.doc === 'object' && r.doc !== null ? r.doc : r) as Record<string, unknown>;
  const owner = (d.owner ?? {}) as Record<string, unknown>;
  const num = (v: unknown) => (typeof v === 'number' ? v : typeof v === 'string' && v ? Date.parse(v) || Number(v) || null : null);
  return {
    id: String(d.id),
    title: String(d.title ?? 'Untitled'),
    role: (d.role ?? d.myRole ?? 'viewer') as Role,
    ownerId: (d.ownerId ?? owner.id) as string | undefined,
    ownerName: (d.ownerName ?? owner.name) as string | undefined,
    ownerEmail: (d.ownerEmail ?? owner.email) as string | undefined,
    generalAccess: (d.generalAccess ?? null) as GeneralAccess,
    lastEditAt: num(d.lastEditAt ?? d.last_edit_at ?? d.updatedAt),
    updatedAt: num(d.updatedAt) ?? undefined,
  };
}

export function toDocs(body: unknown): DocSummary[] {
  const b = body as Record<string, unknown>;
  const arr = Array.isArray(b) ? b : Array.isArray(b?.docs) ? b.docs : Array.isArray(b?.documents) ? b.documents : [];
  return (arr as unknown[]).map(toDoc);
}

/** "just now", "5 min ago", "3 h ago", or a date. */
export function relativeTime(ms: number | null | undefined, now = Date.now()): string {
  if (!ms) return '—';
  const s = Math.round((now - ms) / 1000);
  if (s < 45) return 'just now';
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return new Date(ms).toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric' });
}
