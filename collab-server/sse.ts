/**
 * The Server-Sent Events + HTTP POST transport (issue 15), for networks that break WebSockets.
 *
 *   GET  <prefix>/sse/<docId>?token=…[&sid=…]   (Last-Event-ID header or ?lastEventId= to resume)
 *   POST <prefix>/sse/<docId>?sid=…              (token in Authorization: Bearer, or ?token=)
 *
 * A GET without a known session opens one: an SseSocket is handed to the server's `open` — the
 * same function a WebSocket upgrade ends in — so the token, the ACL, the per-update checks, the
 * limits and telemetry are the WebSocket's code. The first thing on the stream is a `session`
 * event with the session id; then every frame is an `id:`-numbered event. A GET with `sid` and
 * Last-Event-ID re-attaches to its session and gets what it missed from the replay buffer; when
 * that is too old (or the session is gone) it gets a new session instead (`resumed: false`), and
 * the sync handshake (both sides' step 1) brings both up to date, as on a WebSocket reconnect.
 *
 * A POST body is a batch: varUint first message id, varUint count, then each message as a
 * varUint8Array (lib0). Ids are per session and consecutive; ids already applied are skipped, so
 * a POST retried after a lost response applies nothing twice (counts and audit included). A gap
 * answers 409 with the expected id. The path carries the document id as its last segment, so
 * nginx's consistent hash sends a document's POSTs where its streams are; a POST that lands on an
 * instance without the session gets 404 and the client opens a new session there.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import * as decoding from 'lib0/decoding';
import { isDocId } from '../lib/ids';
import { CloseCode } from '../lib/close-codes';
import type { CollabMetrics } from '../observability/metrics';
import type { Logger } from '../observability/logger';
import type { Authenticator } from './auth';
import { AuthError } from './auth';
import { SseSocket } from './sse-socket';

export interface SseTransportOptions {
  auth: Authenticator;
  metrics: CollabMetrics;
  log: Logger;
  /** Browser Origins allowed (empty = any); the same list as for WebSocket upgrades. */
  allowedOrigins: string[];
  maxMessageBytes: number;
  replayBytes: number;
  resumeMs: number;
  /** Hand a new session to the server exactly as an upgraded WebSocket. */
  open(socket: SseSocket, docId: string, token: string | null, ip: string, cid?: string): void;
  /** The user id of the session's connection once authorized ('' before). */
  userOf(socket: SseSocket): string;
  stopping(): boolean;
  /** The client's address for per-IP limits and logs (behind a trusted proxy: X-Forwarded-For); default the TCP peer. */
  clientAddress?(req: IncomingMessage): string;
  /** Load shedding: a refusal for a NEW session (resumes and POSTs of open ones always pass), or null. */
  admit?(): { status: number; reason: string; retryAfterSec?: number } | null;
}

/** Parse `<prefix>/sse/<docId>`; null when the path is not an SSE route. */
export function sseRoute(pathname: string): { docId: string } | null {
  const parts = pathname.split('/');
  if (parts.length < 3 || parts[parts.length - 2] !== 'sse') return null;
  let docId: string;
  try {
    docId = decodeURIComponent(parts[parts.length - 1] ?? '');
  } catch {
    return { docId: '' };
  }
  return { docId };
}

const bearer = (h: string | undefined) => /^Bearer\s+(\S+)$/i.exec(h ?? '')?.[1] ?? null;

/** Build the SSE transport; `handle(req, res)` returns false for requests that are not its routes. */
export function createSseTransport(o: SseTransportOptions) {
  const sessions = new Map<string, SseSocket>();
  // One base64 string per broadcast frame, shared by every session that sends or keeps it.
  const encoded = new WeakMap<Uint8Array, string>();
  const base64 = (frame: Uint8Array): string => {
    let s = encoded.get(frame);
    if (s === undefined) encoded.set(frame, (s = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength).toString('base64')));
    return s;
  };

  function cors(req: IncomingMessage, res: ServerResponse): boolean {
    const origin = req.headers.origin;
    if (!origin) return true;
    if (o.allowedOrigins.length && !o.allowedOrigins.includes(origin)) {
      o.metrics.authzDecisions.inc({ action: 'connect', result: 'deny', reason: 'origin' });
      res.writeHead(403, { 'content-type': 'text/plain' }).end('origin not allowed\n');
      return false;
    }
    res.setHeader('access-control-allow-origin', origin);
    res.setHeader('vary', 'Origin');
    return true;
  }

  function fail(res: ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body));
  }

  function openStream(req: IncomingMessage, res: ServerResponse, url: URL, docId: string): void {
    const token = url.searchParams.get('token') ?? bearer(req.headers.authorization);
    const sid = url.searchParams.get('sid');
    const ip = o.clientAddress?.(req) ?? req.socket.remoteAddress ?? '';
    // Shedding load turns away new sessions only, as it does new sockets; open ones keep working.
    const refusal = sid ? null : o.admit?.();
    if (refusal) {
      res.writeHead(refusal.status, { 'content-type': 'application/json', ...(refusal.retryAfterSec ? { 'retry-after': String(refusal.retryAfterSec) } : {}) }).end(JSON.stringify({ error: refusal.reason }));
      return;
    }
    const lastEventId = Number(req.headers['last-event-id'] ?? url.searchParams.get('lastEventId') ?? NaN);
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-store, no-transform',
      // nginx: never buffer this response (the shipped config also sets proxy_buffering off).
      'x-accel-buffering': 'no',
    });
    res.flushHeaders();
    req.socket.setNoDelay(true);
    if (!sid) return startSession(res, url, docId, token, ip);
    // Resume: the same user and document (a token for them), events after Last-Event-ID. A session
    // that is gone, or events no longer in its replay buffer, end this stream with 1001: the client
    // opens a new session and the sync handshake (both sides' step 1) resyncs both, as a socket's
    // reconnect does. Nothing is lost: the CRDT state on each side is what is exchanged.
    const existing = sessions.get(sid);
    const refuse = (why: string) => {
      o.metrics.sse.inc({ event: 'resume-refused' });
      o.log.info({ sid, doc: docId, lastEventId, why }, 'sse resume refused: client resyncs on a new session');
      if (!res.destroyed) res.end(`event: close\ndata: ${JSON.stringify({ code: CloseCode.GOING_AWAY, reason: `cannot resume: ${why}; reconnect to resync` })}\n\n`);
    };
    if (!existing || existing.docId !== docId) return refuse('session gone');
    if (!Number.isInteger(lastEventId)) return refuse('no Last-Event-ID');
    void resume(existing, res, token, lastEventId).then((why) => why && refuse(why));
  }

  /** Re-attach `res` to the session; the reason when it cannot be. */
  async function resume(s: SseSocket, res: ServerResponse, token: string | null, lastEventId: number): Promise<string | null> {
    if (!(await sameUser(s, token, s.docId))) return 'token not valid for this session';
    if (res.destroyed) return null;
    s.control('session', { sid: s.sid, resumed: true }, res);
    if (!s.attach(res, lastEventId)) {
      // Events it missed are gone: this session cannot continue without a gap.
      s.close(CloseCode.GOING_AWAY, 'resync');
      return 'events no longer in the replay buffer';
    }
    o.metrics.sse.inc({ event: 'resumed' });
    return null;
  }

  /** The token proves the session's user on this document; a token seen before needs no new check. */
  async function sameUser(s: SseSocket, token: string | null, docId: string): Promise<boolean> {
    if (!token) return false;
    if (token === s.token) return true;
    try {
      const identity = await o.auth.authenticate(token, docId);
      const user = o.userOf(s);
      if (!user || identity.userId !== user) return false;
      s.token = token;
      return true;
    } catch (err) {
      if (!(err instanceof AuthError)) o.log.warn({ err, sid: s.sid }, 'sse token check failed');
      return false;
    }
  }

  function startSession(res: ServerResponse, url: URL, docId: string, token: string | null, ip: string): void {
    if (res.destroyed) return;
    const sid = randomBytes(16).toString('base64url');
    const s = new SseSocket(sid, docId, token, { replayBytes: o.replayBytes, resumeMs: o.resumeMs, base64 });
    sessions.set(sid, s);
    o.metrics.sse.inc({ event: 'opened' });
    s.once('close', () => sessions.delete(sid));
    s.control('session', { sid, resumed: false }, res);
    s.attach(res, 0);
    const cid = /^[A-Za-z0-9_-]{8,64}$/.exec(url.searchParams.get('cid') ?? '')?.[0];
    o.open(s, docId, token, ip, cid);
  }

  async function readBody(req: IncomingMessage, limit: number): Promise<Buffer | null> {
    const chunks: Buffer[] = [];
    let n = 0;
    for await (const c of req as AsyncIterable<Buffer>) {
      n += c.length;
      if (n > limit) return null;
      chunks.push(c);
    }
    return Buffer.concat(chunks);
  }

  async function post(req: IncomingMessage, res: ServerResponse, url: URL, docId: string): Promise<void> {
    const token = bearer(req.headers.authorization) ?? url.searchParams.get('token');
    const s = sessions.get(url.searchParams.get('sid') ?? '');
    // Who is asking first (401/404), then the body.
    if (!token) return fail(res, 401, { error: 'token missing' });
    if (!s) return fail(res, 404, { error: 'unknown session: open a new stream' });
    if (!(await sameUser(s, token, docId))) return fail(res, 401, { error: 'token is not valid for this session' });
    // A batch holds at least one whole message; a larger one is refused as a WebSocket frame is (4413).
    const body = await readBody(req, o.maxMessageBytes + 64 * 1024);
    if (!body) {
      s.close(CloseCode.MESSAGE_TOO_LARGE, `message too big: over ${o.maxMessageBytes} bytes (MAX_MESSAGE_BYTES)`);
      return fail(res, 413, { error: 'batch too large' });
    }
    let first: number;
    const messages: Uint8Array[] = [];
    try {
      const dec = decoding.createDecoder(body);
      first = decoding.readVarUint(dec);
      const count = decoding.readVarUint(dec);
      for (let i = 0; i < count; i++) messages.push(decoding.readVarUint8Array(dec));
    } catch {
      return fail(res, 400, { error: 'malformed batch' });
    }
    if (first > s.nextInbound) {
      o.metrics.sse.inc({ event: 'gap' });
      return fail(res, 409, { error: 'gap in message ids', next: s.nextInbound });
    }
    for (let i = 0; i < messages.length; i++) {
      // Paused by inbound throttling: hold the rest of the batch (and the response) until it resumes.
      await s.readable();
      if (s.readyState !== 1) break;
      // Checked after the wait: a retry of this POST may have applied these ids meanwhile.
      const id = first + i;
      if (id < s.nextInbound) {
        s.duplicates++;
        o.metrics.sse.inc({ event: 'duplicate' });
        continue;
      }
      if (id > s.nextInbound) break;
      s.nextInbound = id + 1;
      if (messages[i]!.byteLength > o.maxMessageBytes) {
        s.close(CloseCode.MESSAGE_TOO_LARGE, `message too big: over ${o.maxMessageBytes} bytes (MAX_MESSAGE_BYTES)`);
        break;
      }
      o.metrics.sse.inc({ event: 'applied' });
      s.deliver(messages[i]!);
    }
    // The client closed its side (provider destroyed, tab closed): end now, not after SSE_RESUME_MS.
    const closing = url.searchParams.get('close') === '1';
    if (closing) s.close(CloseCode.NORMAL, 'client closed');
    // 410: the session ended while this POST was handled (its close event says why).
    fail(res, s.readyState === 1 || closing ? 200 : 410, { next: s.nextInbound });
  }

  return {
    sessions: sessions as ReadonlyMap<string, SseSocket>,
    /** Serve an SSE route; false when `req` is not one. */
    handle(req: IncomingMessage, res: ServerResponse): boolean {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const route = sseRoute(url.pathname);
      if (!route) return false;
      if (req.method === 'OPTIONS') {
        if (!cors(req, res)) return true;
        res.writeHead(204, {
          'access-control-allow-methods': 'GET, POST',
          'access-control-allow-headers': 'authorization, content-type, last-event-id',
          'access-control-max-age': '600',
        }).end();
        return true;
      }
      if (!cors(req, res)) return true;
      if (!isDocId(route.docId)) {
        fail(res, 400, { error: 'bad document id' });
        return true;
      }
      if (o.stopping()) {
        fail(res, 503, { error: 'server restarting' });
        return true;
      }
      if (req.method === 'GET') openStream(req, res, url, route.docId);
      else if (req.method === 'POST') {
        post(req, res, url, route.docId).catch((err: unknown) => {
          o.metrics.errors.inc({ where: 'sse-post' });
          o.log.error({ err, doc: route.docId }, 'sse post failed');
          if (!res.headersSent) fail(res, 500, { error: 'internal error' });
        });
      } else fail(res, 405, { error: 'method not allowed' });
      return true;
    },
  };
}
