/**
 * Route-handler helpers over the standard Request/Response (no next/headers, so tests call the real
 * handlers with `new Request(...)`). Every handler runs in the same order:
 *   who is asking (401) → parse + validate (body, params, query; 400) → load → may they? → act.
 * Anonymous endpoints (sign-in, sign-up, setup, verify, sign-out) refuse cross-site callers first.
 */
import { z } from 'zod';
import { TandemError } from '@/lib/errors';
import type { Decision, Principal } from '@/lib/acl';
import { getApp, type AppContext } from './context';
import { clientAddress } from './client-address';
import type { Gate } from './auth-limits';
import type { LoadedDoc, UserRow } from './stores';

export const SESSION_COOKIE = 'tandem_session';

/** Bodies are small JSON objects; anything bigger is a mistake or an attack. */
const MAX_BODY_BYTES = 64 * 1024;

/** Next 16 passes dynamic route params as a Promise. */
export interface RouteContext<P> {
  params: Promise<P>;
}

const NO_STORE = { 'cache-control': 'no-store' };

export function json(data: unknown, status = 200, headers: HeadersInit = {}): Response {
  const h = new Headers(headers);
  h.set('content-type', 'application/json; charset=utf-8');
  if (!h.has('cache-control')) h.set('cache-control', NO_STORE['cache-control']);
  return new Response(JSON.stringify(data), { status, headers: h });
}

function errorResponse(err: unknown, req: Request, app: () => AppContext): Response {
  if (err instanceof TandemError) return json(err.toJSON(), err.status);
  try {
    app().log.error({ err, method: req.method, url: req.url }, 'request failed');
  } catch {
    console.error('request failed (and the app context could not be built to log it)', err);
  }
  return json(new TandemError('internal', 'internal error').toJSON(), 500);
}

/** Wrap a handler: TandemError → its status and `{error, message, field}`, anything else → 500 (logged). */
export function route<P = Record<string, never>>(fn: (req: Request, ctx: RouteContext<P>) => Promise<Response>) {
  return async (req: Request, ctx: RouteContext<P>): Promise<Response> => {
    try {
      return await fn(req, ctx);
    } catch (err) {
      return errorResponse(err, req, getApp);
    }
  };
}

function badRequest(error: z.ZodError, where?: string): TandemError {
  const issue = error.issues[0]!;
  const field = issue.path.length ? issue.path.join('.') : undefined;
  return new TandemError('bad_request', `${field ?? where ?? 'body'}: ${issue.message}`, field);
}

/** Parse and validate a JSON body. Requiring application/json also forces a CORS preflight on cross-site requests. */
export async function readJson<S extends z.ZodTypeAny>(req: Request, schema: S): Promise<z.output<S>> {
  const type = req.headers.get('content-type') ?? '';
  if (!/^application\/json\b/i.test(type)) throw new TandemError('bad_request', 'body must be JSON (content-type: application/json)');
  const declared = Number(req.headers.get('content-length') ?? 0);
  if (declared > MAX_BODY_BYTES) throw new TandemError('payload_too_large', `body over ${MAX_BODY_BYTES} bytes`);
  const text = await req.text();
  if (Buffer.byteLength(text) > MAX_BODY_BYTES) throw new TandemError('payload_too_large', `body over ${MAX_BODY_BYTES} bytes`);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new TandemError('bad_request', 'body is not valid JSON');
  }
  const r = schema.safeParse(raw);
  if (!r.success) throw badRequest(r.error);
  return r.data;
}

/** Validate the query string (first value of each key). */
export function readQuery<S extends z.ZodTypeAny>(req: Request, schema: S): z.output<S> {
  const q: Record<string, string> = {};
  for (const [k, v] of new URL(req.url).searchParams) if (!(k in q)) q[k] = v;
  const r = schema.safeParse(q);
  if (!r.success) throw badRequest(r.error, 'query');
  return r.data;
}

/** Percent-decode a path segment if it still is encoded (Next may or may not have decoded it). */
function decodeSegment(s: string): string {
  if (!/%[0-9A-Fa-f]{2}/.test(s)) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Validate route params; a bad one is a 400 naming it. */
export async function readParams<S extends z.ZodObject>(ctx: RouteContext<Record<string, string>>, schema: S): Promise<z.output<S>> {
  const raw = await ctx.params;
  const decoded = Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, decodeSegment(v)]));
  const r = schema.safeParse(decoded);
  if (!r.success) throw badRequest(r.error);
  return r.data;
}

// ---- who is asking ------------------------------------------------------------------------------

export interface Caller {
  user: UserRow;
  principal: Principal;
  /** The session token (to log out) and how it was presented. */
  token: string;
  via: 'bearer' | 'cookie';
}

function cookie(req: Request, name: string): string | null {
  for (const part of (req.headers.get('cookie') ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return null;
}

/** The session token: `Authorization: Bearer` (scripts) wins over the cookie (browsers). */
export function sessionToken(req: Request): { token: string; via: 'bearer' | 'cookie' } | null {
  const auth = req.headers.get('authorization');
  const m = auth ? /^Bearer\s+(\S+)\s*$/i.exec(auth) : null;
  if (m) return { token: m[1]!, via: 'bearer' };
  const c = cookie(req, SESSION_COOKIE);
  return c ? { token: c, via: 'cookie' } : null;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Refuse a write whose Origin is another site. `Origin: null` (sandboxed iframes, data: URLs,
 * some redirects) is another site too: it is exactly what a page that hides its origin sends.
 * No Origin at all (scripts, curl, old browsers on same-origin requests) passes: SameSite=Lax and
 * the JSON content type cover those.
 */
export function refuseCrossSite(req: Request): void {
  if (SAFE_METHODS.has(req.method)) return;
  const origin = req.headers.get('origin');
  if (origin === null) return;
  const host = req.headers.get('x-forwarded-host') ?? req.headers.get('host') ?? new URL(req.url).host;
  let originHost = '';
  try {
    originHost = origin === 'null' ? '' : new URL(origin).host;
  } catch {
    originHost = '';
  }
  if (originHost !== host) throw new TandemError('forbidden', 'cross-site request refused');
}

/**
 * The signed-in caller, or 401. A cookie-authenticated write from another site is refused
 * (defence in depth beside SameSite=Lax and the JSON content type).
 */
export async function requireCaller(req: Request, app: AppContext): Promise<Caller> {
  const s = sessionToken(req);
  const user = s ? await app.sessions.user(s.token) : undefined;
  if (!s || !user) throw new TandemError('unauthorized', s ? 'session expired or unknown: sign in again' : 'sign in first');
  if (s.via === 'cookie') refuseCrossSite(req);
  return { user, principal: { userId: user.id, isAdmin: user.is_admin === 1 }, token: s.token, via: s.via };
}

/** The client's address for rate limits (see client-address.ts). */
export function callerAddress(req: Request, app: AppContext): string {
  return clientAddress(req, app.trustedProxy);
}

/** 429 with Retry-After for a refused gate. */
export function tooMany(g: Extract<Gate, { ok: false }>): Response {
  return json(new TandemError('rate_limited', g.message).toJSON(), 429, { 'retry-after': String(g.retryAfter) });
}

// ---- may they? ----------------------------------------------------------------------------------

const denyMessages: Record<Extract<Decision, { allow: false }>['reason'], string> = {
  'no-access': 'you do not have access to this document',
  'read-only': 'viewers cannot change this document',
  'not-owner': 'only the owner can do this',
};

/** Throw 403 unless the decision allows. */
export function allowOrThrow(d: Decision): asserts d is Extract<Decision, { allow: true }> {
  if (!d.allow) throw new TandemError('forbidden', denyMessages[d.reason]);
}

// ---- cookies ------------------------------------------------------------------------------------

function secure(req: Request, app: AppContext): boolean {
  const mode = app.config.COOKIE_SECURE;
  if (mode !== 'auto') return mode === 'true';
  const proto = req.headers.get('x-forwarded-proto')?.split(',')[0]?.trim() ?? new URL(req.url).protocol.replace(':', '');
  return proto === 'https';
}

/** httpOnly (scripts cannot read it), SameSite=Lax (not sent on cross-site POSTs, still sent when following a link). */
export function sessionCookie(req: Request, app: AppContext, token: string, expiresAt: number): string {
  const maxAge = Math.max(0, Math.floor((expiresAt - Date.now()) / 1000));
  return `${SESSION_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${maxAge}${secure(req, app) ? '; Secure' : ''}`;
}

export function clearSessionCookie(req: Request, app: AppContext): string {
  return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0${secure(req, app) ? '; Secure' : ''}`;
}

// ---- load ---------------------------------------------------------------------------------------

/** The document and its ACL, or 404. */
export async function loadDoc(app: AppContext, id: string): Promise<LoadedDoc> {
  const doc = await app.docs.load(id);
  if (!doc) throw new TandemError('not_found', 'document not found');
  return doc;
}
