/**
 * Calling the app's real route handlers in-process: a temporary DATA_DIR set through process.env
 * before the app builds its context (it does so lazily, on the first request), a `call` that builds
 * a standard Request, and sign-up shortcuts. Used with tests/helpers/fixture.ts for the tests where
 * a real collab-server reads the same database.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { expect } from 'vitest';
import * as Y from 'yjs';
import * as signupRoute from '../../app/api/auth/signup/route';
import * as setupRoute from '../../app/api/auth/setup/route';
import { PEER_HEADER } from '../../app/_server/client-address';
import * as tokenRoute from '../../app/api/docs/[id]/token/route';
import { getApp } from '../../app/_server/context';
import type { SqliteDb } from '../../collab-server/persistence/sqlite';
import { createFixture, spawnServer, type ChildServer, type Fixture } from './fixture';
import type { SessionResponse } from '../../lib/api-schemas';
import { waitFor } from './wait';
import { HARNESS_APP_ENV, TEST_SETUP_TOKEN } from './harness-env';

export { HARNESS_APP_ENV, TEST_SETUP_TOKEN };

/** Env the app reads, set before its first request. scrypt at its minimum cost keeps sign-ups fast. */
export function setAppEnv(dataDir: string, extra: Record<string, string> = {}): void {
  Object.assign(process.env, {
    DATA_DIR: dataDir,
    LOG_LEVEL: 'warn',
    PASSWORD_SCRYPT_LOG2N: '14',
    NEXT_TELEMETRY_DISABLED: '1',
    ...HARNESS_APP_ENV,
    ...extra,
  });
}

/** A fresh temporary data directory used as the app's DATA_DIR; returns a cleanup. */
export function useTempDataDir(extra: Record<string, string> = {}): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-app-'));
  setAppEnv(dir, extra);
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

type Handler = (req: Request, ctx: { params: Promise<any> }) => Promise<Response>;

export interface CallOptions {
  method?: string;
  /** Path and query, e.g. "/api/docs?q=x" (only the query and host matter to handlers). */
  path?: string;
  /** JSON-encoded with content-type application/json unless `rawBody` is given. */
  body?: unknown;
  rawBody?: string;
  /** Bearer session token. */
  token?: string;
  /** Raw Cookie header. */
  cookie?: string;
  params?: Record<string, string>;
  headers?: Record<string, string>;
  origin?: string;
  /** The TCP peer address, as the server stamps it (x-tandem-peer-address). */
  peer?: string;
}

export interface CallResult<T = any> {
  status: number;
  body: T;
  headers: Headers;
  /** When the handler's Response was in hand (ms), for measuring delays from it. */
  at: number;
}

/** Call a real route handler with a standard Request, as Next would. */
export async function call<T = any>(handler: Handler, o: CallOptions = {}): Promise<CallResult<T>> {
  const headers = new Headers(o.headers);
  if (o.token) headers.set('authorization', `Bearer ${o.token}`);
  if (o.cookie) headers.set('cookie', o.cookie);
  if (o.origin) headers.set('origin', o.origin);
  if (o.peer) headers.set(PEER_HEADER, o.peer);
  let body: string | undefined = o.rawBody;
  if (o.body !== undefined && body === undefined) body = JSON.stringify(o.body);
  if (body !== undefined && !headers.has('content-type')) headers.set('content-type', 'application/json');
  const req = new Request(`http://localhost:3000${o.path ?? '/'}`, { method: o.method ?? 'GET', headers, body });
  const res = await handler(req, { params: Promise.resolve(o.params ?? {}) });
  const at = Date.now();
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers, at };
}

/** Expect `{error, message, field?}` with the given status (and field, when named). */
export function expectError(r: CallResult, status: number, field?: string): void {
  expect(r.status, JSON.stringify(r.body)).toBe(status);
  expect(typeof r.body.error).toBe('string');
  expect(typeof r.body.message).toBe('string');
  if (field !== undefined) expect(r.body.field).toBe(field);
}

let n = 0;
/** Sign up a new account through the real handler; returns its session. */
export async function signUp(name = `User ${++n}`, email = `user${n}.${Date.now()}@example.test`, password = 'correct horse battery'): Promise<SessionResponse & { email: string; password: string }> {
  const r = await call<SessionResponse>(signupRoute.POST, { method: 'POST', path: '/api/auth/signup', body: { email, name, password } });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return { ...r.body, email, password };
}

/** Create the instance's first admin through the real setup handler (TEST_SETUP_TOKEN). */
export async function setupAdmin(name = 'Ada Admin', email = `admin.${Date.now()}@example.test`, password = 'correct horse battery'): Promise<SessionResponse & { email: string; password: string }> {
  const r = await call<SessionResponse>(setupRoute.POST, { method: 'POST', path: '/api/auth/setup', body: { setupToken: TEST_SETUP_TOKEN, email, name, password } });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return { ...r.body, email, password };
}

/** A `ws` WebSocket subclass that counts connection attempts (for "does not reconnect"). */
export function countingWebSocket(): { WS: typeof globalThis.WebSocket; attempts: () => number } {
  let count = 0;
  class Counting extends WebSocket {
    constructor(...args: ConstructorParameters<typeof WebSocket>) {
      super(...args);
      count++;
    }
  }
  return { WS: Counting as unknown as typeof globalThis.WebSocket, attempts: () => count };
}

/**
 * Assert that `cond` stays false for `ms`. Absence can only be shown over a window; callers pass a
 * window derived from the behaviour under test (e.g. the client's longest reconnect back-off).
 */
export async function expectNever(cond: () => boolean, ms: number, what: string): Promise<void> {
  const happened = await waitFor(cond, { timeout: ms, what }).then(
    () => true,
    () => false,
  );
  expect(happened, `unexpectedly: ${what}`).toBe(false);
}

// ---- the app and a real collab-server on one data directory --------------------------------------

export interface Stack {
  fx: Fixture;
  srv: ChildServer;
  close(): Promise<void>;
}

/**
 * The product as deployed on one machine: a collab-server child process (its own database handle,
 * default ACL poll interval unless overridden) and the app's real route handlers in this process,
 * both on the fixture's data directory, so tokens, ACLs and the change feed cross a process boundary.
 */
export async function startStack(collabEnv: Record<string, string> = {}): Promise<Stack> {
  const fx = await createFixture();
  const srv = await spawnServer(fx, { ACL_POLL_MS: '200', ...collabEnv });
  setAppEnv(fx.dir, { COLLAB_PUBLIC_URL: srv.url });
  return {
    fx,
    srv,
    async close() {
      srv.proc.kill('SIGTERM');
      await srv.exited;
      await getApp().close();
      fx.cleanup();
    },
  };
}

/** A collab token from the real POST /api/docs/:id/token. */
export async function collabToken(session: string, docId: string): Promise<{ token: string; url: string; expiresAt: number; role: string }> {
  const r = await call(tokenRoute.POST, { method: 'POST', token: session, params: { id: docId } });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body;
}

/** Yjs client ids with structs in any stored update or the snapshot of `docId`. */
export function storedClientIds(db: SqliteDb, docId: string): Set<number> {
  const ids = new Set<number>();
  const rows = db.prepare<[string], { data: Buffer }>('SELECT data FROM doc_updates WHERE doc_id = ? ORDER BY seq').all(docId);
  const snap = db.prepare<[string], { data: Buffer }>('SELECT data FROM doc_snapshots WHERE doc_id = ?').get(docId);
  for (const r of snap ? [snap, ...rows] : rows) for (const s of Y.decodeUpdate(new Uint8Array(r.data)).structs) ids.add(s.id.client);
  return ids;
}

/** The document as stored (snapshot + log), applied to a fresh Y.Doc. */
export function storedDoc(db: SqliteDb, docId: string): Y.Doc {
  const d = new Y.Doc();
  const snap = db.prepare<[string], { data: Buffer }>('SELECT data FROM doc_snapshots WHERE doc_id = ?').get(docId);
  if (snap) Y.applyUpdate(d, new Uint8Array(snap.data));
  for (const r of db.prepare<[string], { data: Buffer }>('SELECT data FROM doc_updates WHERE doc_id = ? ORDER BY seq').all(docId)) Y.applyUpdate(d, new Uint8Array(r.data));
  return d;
}
