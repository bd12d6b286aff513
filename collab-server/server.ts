/**
 * The HTTP + WebSocket transport: health endpoints, metrics, the upgrade (path → document id,
 * Origin allow-list, token), keepalive, and graceful shutdown. Frames go to the message handler;
 * documents come from the registry.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer } from 'ws';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, context, trace, type Context, type Span, type Tracer } from '@opentelemetry/api';
import { CloseCode, closeCodeName } from '../lib/close-codes';
import { isDocId } from '../lib/ids';
import type { CollabMetrics } from '../observability/metrics';
import type { Logger } from '../observability/logger';
import { Attr, SpanName } from '../observability/attributes';
import type { AclStore } from './acl-store';
import { createAdminApi } from './admin-api';
import { isTokenProtocol, tokenFromRequest, AuthError, type Authenticator } from './auth';
import { Connection } from './connection';
import { LiveDoc } from './live-doc';
import { createMessageHandler } from './message-handler';
import type { DocStore } from './persistence/doc-store';
import { DocRegistry } from './registry';
import { createDeletionPurger } from './deletions';
import type { VersionCapture } from './versions';
import type { DocSync } from './cluster/doc-sync';
import { createConnectionLimits, type ConnectionLimits, type LimitKind } from './limits';
import { createRefusalAudit } from './refusal-audit';
import { startIdentityRecheck } from './identity-recheck';
import type { ChunkLimits } from './chunks';
import { CHUNK_OVERHEAD_BYTES, MessageType } from '../lib/protocol';
import { resolveClientAddress } from '../lib/client-address';
import { createInboundThrottle, DEFAULT_INBOUND_LIMITS, type InboundLimits } from './inbound-throttle';
import { createLoadShedder, DEFAULT_SHEDDING, type SheddingOptions } from './shedding';
import { SseSocket, type TransportSocket } from './sse-socket';
import { createSseTransport } from './sse';

export interface CollabServerOptions {
  store: DocStore;
  acl: AclStore;
  auth: Authenticator;
  metrics: CollabMetrics;
  log: Logger;
  maxMessageBytes: number;
  sendBufferCap: number;
  /** A socket whose unsent buffer has not shrunk for this long is closed 1013 (default 30 s). */
  sendStallMs?: number;
  /** How often open sockets' users are re-checked: deleted, signed out since the token, admin status (default 10 s). */
  identityRecheckMs?: number;
  keepaliveMs: number;
  compactAfterUpdates: number;
  compactIdleMs: number;
  shutdownTimeoutMs: number;
  /** Browser Origins allowed to open sockets; empty = any (main.ts passes the configured list, see allowedOriginsFor). */
  allowedOrigins: string[];
  /** Who may read /metrics (observability/scrape-access.ts); undefined = anyone who reaches the port. */
  metricsAccess?: (client: { address: string; authorization: string | null }) => { ok: true } | { ok: false; status: number; reason: string };
  preauth: { maxFrames: number; maxBytes: number; timeoutMs: number };
  /** Per-connection inbound message rate, and concurrent sockets per user / per IP (0 = no limit). */
  limits?: { messagesPerSec: number; messageBurst: number; connectionsPerUser: number; connectionsPerIp: number };
  /** Socket counting for those per-user / per-IP limits; default: in this process (createConnectionLimits). */
  connectionLimits?: ConnectionLimits;
  /** Cluster instance id: connection ids become `<instanceId>:c<n>` and admin listings name the instance. */
  instanceId?: string;
  /** Called for every refused write (the app's audit log records them). */
  onRefusedWrite?: (who: { userId: string; docId: string }, reason: string, count: number) => void;
  /** Refused writes are audited at most once per (user, document) per this interval, with a count (default 60 s). */
  refusalAuditIntervalMs?: number;
  /** OpenTelemetry tracer; undefined turns tracing off (no span objects on any path). */
  tracer?: Tracer;
  /** Scaled out (PostgreSQL, optionally Redis): keeps loaded documents in step across instances. */
  sync?: DocSync;
  /** Version history: automatic versions after durable batches, and the REST restore endpoint (collab-server/versions.ts). */
  versions?: VersionCapture;
  /** CHUNK extension: part size, largest chunked total, idle timeout (default 256 KiB, 64 MiB, 15 s). */
  chunks?: ChunkLimits;
  /** Largest encoded document (DOC_MAX_BYTES); writes past it are refused. Default: no limit. */
  docMaxBytes?: number;
  /** Inbound budgets per connection and user, awareness rate, anomaly throttling (issue 13; inbound-throttle.ts). */
  inbound?: Partial<InboundLimits>;
  /** Load shedding thresholds (shedding.ts); default DEFAULT_SHEDDING. */
  shedding?: Partial<SheddingOptions>;
  /** Is this TCP peer a trusted proxy (its X-Forwarded-For names the client)? Default: none is. */
  trustedProxy?: (ip: string) => boolean;
  /** Documents one user may have open at once on this instance (0 = no limit; default 0). */
  maxDocsPerUser?: number;
  /** A socket that said its tab is in the background may miss this many pongs before it is dropped (default 5). */
  backgroundMissedPongs?: number;
  /** The SSE + POST fallback transport (sse.ts): replay buffer per stream, how long a dropped stream may resume; undefined = off. */
  sse?: { replayBytes: number; resumeMs: number };
  /** False answers every WebSocket upgrade 503 (WEBSOCKET_UPGRADES; clients fall back to SSE). Read per upgrade. */
  websocketUpgrades?: () => boolean;
}

export interface CollabServer {
  readonly http: http.Server;
  readonly registry: DocRegistry;
  readonly connections: ReadonlySet<Connection>;
  listen(port: number, host?: string): Promise<number>;
  /** Graceful stop: refuse new sockets, store everything, close sockets with 1012. */
  close(): Promise<void>;
}

/** Build a collab-server; nothing listens until `listen`. */
export function createCollabServer(o: CollabServerOptions): CollabServer {
  const { metrics, log } = o;
  const registry = new DocRegistry({
    store: o.store,
    acl: o.acl,
    metrics,
    log,
    compactAfterUpdates: o.compactAfterUpdates,
    compactIdleMs: o.compactIdleMs,
    tracer: o.tracer,
    sync: o.sync,
    onStored: o.versions?.onStored,
    docMaxBytes: o.docMaxBytes,
  });
  o.versions?.attach({ registry, auth: o.auth });
  const purger = createDeletionPurger({ acl: o.acl, store: o.store, metrics, log });
  const connections = new Set<Connection>();
  /** The audit hook must never break the socket path (e.g. its database closing at shutdown). */
  const refusals = createRefusalAudit({
    log,
    intervalMs: o.refusalAuditIntervalMs,
    record: (who, reason, count) => {
      try {
        o.onRefusedWrite?.(who, reason, count);
      } catch (err) {
        metrics.errors.inc({ where: 'audit' });
        log.error({ err, doc: who.docId, user: who.userId }, 'recording a refused write failed');
      }
    },
  });
  const recordRefusal = (conn: Connection, reason: string) => refusals.refused(conn.userId, conn.docId, reason, conn.id);
  /** Tracing on: each connection's ws.upgrade span context (the context manager is synchronous). */
  const upgradeContexts = new WeakMap<Connection, Context>();
  const inUpgradeContext = <T>(conn: Connection, f: () => T): T => {
    const ctx = upgradeContexts.get(conn);
    return ctx ? context.with(ctx, f) : f();
  };
  const limits = o.limits ?? { messagesPerSec: 2000, messageBurst: 10_000, connectionsPerUser: 0, connectionsPerIp: 0 };
  const slots = o.connectionLimits ?? createConnectionLimits(limits);
  const inboundLimits: InboundLimits = { ...DEFAULT_INBOUND_LIMITS, messagesPerSec: limits.messagesPerSec, messageBurst: limits.messageBurst, ...o.inbound };
  const throttle = createInboundThrottle({ limits: inboundLimits, metrics, log });
  // Off unless configured (main.ts passes the configured thresholds; in-process test servers share a busy loop).
  const shedder = createLoadShedder({ ...DEFAULT_SHEDDING, eventLoopLagMs: 0, memoryBudgetBytes: -1, ...o.shedding, metrics, log });
  const trustedProxy = o.trustedProxy ?? (() => false);
  /** Open documents per user on this instance (MAX_DOCS_PER_USER): doc id → sockets. */
  const userDocs = new Map<string, Map<string, number>>();
  /** Slots each connection holds, given back when its socket closes. */
  const held = new WeakMap<Connection, [LimitKind, string][]>();
  const adminApi = createAdminApi({ auth: o.auth, connections, metrics, log, instanceId: o.instanceId });
  let stopping = false;
  // One shared deps object: idle sockets are counted in kilobytes, so nothing per socket that can be shared.
  const connDeps = {
    metrics,
    log,
    sendBufferCap: o.sendBufferCap,
    preauth: o.preauth,
    rate: { perSec: limits.messagesPerSec, burst: limits.messageBurst },
    idPrefix: o.instanceId ? `${o.instanceId}:` : undefined,
  };

  const handleFrame = createMessageHandler({
    metrics,
    log,
    renewToken: (conn, token) => o.auth.renew(conn, token),
    onRefusedWrite: (conn, reason) => recordRefusal(conn, reason),
    tracer: o.tracer,
    // A chunk frame (part + framing) must itself fit the frame limit.
    chunks: { ...(o.chunks ?? { chunkBytes: 256 * 1024, maxTotalBytes: 64 * 1024 * 1024, idleTimeoutMs: 15_000 }), chunkBytes: Math.max(1024, Math.min(o.chunks?.chunkBytes ?? 256 * 1024, o.maxMessageBytes - CHUNK_OVERHEAD_BYTES)) },
    deliverChunked: (conn, doc, message) => handleFrame(conn, doc, message),
  });

  const wss = new WebSocketServer({
    noServer: true,
    // We keep our own set of connections; ws's would be a second entry per socket.
    clientTracking: false,
    maxPayload: o.maxMessageBytes,
    perMessageDeflate: false,
    // Browsers fail the handshake unless one offered protocol is chosen; never choose (echo) the token.
    handleProtocols: (protocols) => {
      for (const p of protocols) if (!isTokenProtocol(p)) return p;
      return false;
    },
  });

  // SSE sessions end in onConnection like upgraded sockets: one connection path for both transports.
  const sse = o.sse
    ? createSseTransport({
        auth: o.auth,
        metrics,
        log,
        allowedOrigins: o.allowedOrigins,
        maxMessageBytes: o.maxMessageBytes,
        ...o.sse,
        open: (socket, docId, token, ip, cid) => onConnection(socket, docId, token, ip, undefined, cid),
        userOf: (socket) => [...connections].find((c) => c.ws === socket)?.userId ?? '',
        stopping: () => stopping,
        // The same client address and load shedding as an upgrade (new sessions only).
        clientAddress: (req) => resolveClientAddress(req.socket.remoteAddress, req.headers['x-forwarded-for'], trustedProxy),
        admit: () => {
          if (!shedder.reason) return null;
          metrics.shedRefused.inc();
          return { status: 503, reason: `overloaded (${shedder.reason}): retry later`, retryAfterSec: shedder.retryAfterSec };
        },
      })
    : null;

  const server = http.createServer((req, res) => {
    if (adminApi(req, res)) return;
    if (sse?.handle(req, res)) return;
    if (o.versions?.http(req, res)) return;
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      if (stopping) {
        res.writeHead(503, { 'content-type': 'text/plain' }).end('stopping\n');
        return;
      }
      if (shedder.reason) {
        // A load balancer steers new clients elsewhere; open sockets here keep working.
        res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': String(shedder.retryAfterSec) }).end(`overloaded: ${shedder.reason}\n`);
        return;
      }
      o.store.ping().then(
        () => res.writeHead(200, { 'content-type': 'text/plain' }).end('ready\n'),
        (err: Error) => {
          log.warn({ err }, 'readiness check failed');
          // The cause is in the log; the world learns only that the store does not answer.
          res.writeHead(503, { 'content-type': 'text/plain' }).end('store unreachable\n');
        },
      );
    } else if (path === '/metrics') {
      // Metrics name documents' load, error rates and traffic shape: not for the world (issue 11).
      const access = o.metricsAccess?.({ address: req.socket.remoteAddress ?? '', authorization: req.headers.authorization ?? null });
      if (access && !access.ok) {
        res.writeHead(access.status, { 'content-type': 'text/plain' }).end(`${access.reason}\n`);
        return;
      }
      metrics.registry.metrics().then(
        (body) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body),
        (err: Error) => {
          log.error({ err }, 'rendering metrics failed');
          res.writeHead(500).end('metrics unavailable\n');
        },
      );
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
  });
  server.on('clientError', (err, socket) => {
    log.debug({ err: err.message }, 'http client error');
    socket.destroy();
  });

  function refuseUpgrade(socket: Socket, status: number, reason: string, span?: Span, retryAfterSec?: number): void {
    if (span) {
      span.setAttributes({ [Attr.HTTP_STATUS]: status, [Attr.AUTHZ_DECISION]: 'deny', [Attr.AUTHZ_REASON]: reason });
      span.end();
    }
    metrics.upgradesRefused.inc({ reason: String(status) });
    log.info({ status, reason }, 'upgrade refused');
    const retry = retryAfterSec ? `Retry-After: ${retryAfterSec}\r\n` : '';
    socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nConnection: close\r\n${retry}Content-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(reason)}\r\n\r\n${reason}`);
  }

  server.on('upgrade', (req, socket: Socket, head) => {
    socket.on('error', (err) => log.debug({ err: err.message }, 'upgrade socket error'));
    const span = o.tracer?.startSpan(SpanName.WS_UPGRADE, { kind: SpanKind.SERVER, attributes: { [Attr.CLIENT_ADDRESS]: req.socket.remoteAddress ?? '' } }, ROOT_CONTEXT);
    if (stopping) return refuseUpgrade(socket, 503, 'server restarting', span);
    if (o.websocketUpgrades && !o.websocketUpgrades()) return refuseUpgrade(socket, 503, 'websocket upgrades are off: use the SSE transport', span);
    let url: URL;
    let docId: string;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
      // The last path segment is the document, so the server can sit behind a path prefix.
      docId = decodeURIComponent(url.pathname.split('/').pop() ?? '');
    } catch {
      // Both throw on hostile paths ("//a:99999/x", "/%E0%A4%A"); uncaught in this handler that
      // took the whole process down. refuseUpgrade logs and counts it.
      return refuseUpgrade(socket, 400, 'bad document id', span);
    }
    span?.setAttribute(Attr.DOC_ID, docId);
    if (!isDocId(docId)) return refuseUpgrade(socket, 400, 'bad document id', span);
    const origin = req.headers.origin;
    if (origin && o.allowedOrigins.length && !o.allowedOrigins.includes(origin)) {
      metrics.authzDecisions.inc({ action: 'connect', result: 'deny', reason: 'origin' });
      return refuseUpgrade(socket, 403, 'origin not allowed', span);
    }
    const token = tokenFromRequest(url, req.headers['sec-websocket-protocol']);
    // X-Forwarded-For only from a trusted proxy: anyone else could name any address.
    const ip = resolveClientAddress(req.socket.remoteAddress, req.headers['x-forwarded-for'], trustedProxy);
    // The client's own id for this connection attempt (Tandem's client sends ?cid=), logged on the
    // connection's lines so a browser's report of a close lines up with ours in one Loki query.
    const cid = /^[A-Za-z0-9_-]{8,64}$/.exec(url.searchParams.get('cid') ?? '')?.[0];
    if (shedder.reason) {
      metrics.shedRefused.inc();
      return refuseUpgrade(socket, 503, `overloaded (${shedder.reason}): retry later`, span, shedder.retryAfterSec);
    }
    // The per-address slot is taken before the upgrade: a refused client costs no WebSocket.
    let adopted = false;
    void Promise.resolve(slots.acquire('ip', ip)).then((ok) => {
      if (!ok) {
        metrics.rateLimited.inc({ limit: 'connections-per-ip' });
        return refuseUpgrade(socket, 429, 'too many connections from this address', span, 10);
      }
      socket.once('close', () => {
        if (!adopted) slots.release('ip', ip);
      });
      if (socket.destroyed) return;
      wss.handleUpgrade(req, socket, head, (ws) => {
        adopted = true;
        onConnection(ws, docId, token, ip, span, cid, true);
      });
    });
  });

  function onConnection(ws: TransportSocket, docId: string, token: string | null, ip: string, span?: Span, cid?: string, ipSlotHeld = false): void {
    // Tracing on: the connection's lifecycle log lines carry its ws.upgrade trace id.
    const connCtx = span && trace.setSpan(ROOT_CONTEXT, span);
    const inConnContext = (f: () => void) => (connCtx ? context.with(connCtx, f) : f());
    const conn = new Connection(ws, docId, ip, connDeps);
    refuseOversizeWithPermanentCode(ws);
    connections.add(conn);
    if (ipSlotHeld) held.set(conn, [['ip', ip]]);
    if (connCtx) upgradeContexts.set(conn, connCtx);
    metrics.openSockets.inc();
    metrics.connectionsOpened.inc();

    // ws emits 'error' for protocol violations (bad RSV bits, oversize frames) and then closes
    // with the matching code; without this listener one bad frame would crash the process.
    ws.on('error', (err) => {
      metrics.errors.inc({ where: 'socket' });
      log.info({ conn: conn.id, doc: docId, user: conn.userId, err: err.message }, 'socket error');
    });
    ws.on('pong', () => {
      conn.alive = true;
      conn.missedPongs = 0;
    });
    ws.on('message', (data, isBinary) => {
      if (conn.closed) return;
      if (!isBinary) {
        conn.close(CloseCode.UNSUPPORTED_DATA, 'text frames are not part of the protocol');
        return;
      }
      // Budgets and anomaly throttling: handled now, or later at the allowed rate (inbound-throttle.ts).
      throttle.frame(conn, data as Buffer, onFrame);
    });
    const onFrame = (bytes: Buffer) => {
      if (conn.closed) return;
      // A tab in the background (BACKGROUND extension) is allowed to miss pongs (keepalive below).
      if (bytes[0] === MessageType.BACKGROUND && bytes.length === 2 && conn.ext) {
        conn.background = bytes[1] === 1;
        return;
      }
      if (conn.authorized) handleFrame(conn, conn.doc!, bytes);
      else if (!conn.enqueuePreauth(bytes)) conn.close(CloseCode.POLICY_VIOLATION, 'too much data before authorization');
    };
    ws.on('close', (code, reason) => {
      connections.delete(conn);
      metrics.openSockets.dec();
      metrics.connectionsClosed.inc({ code: closeCodeName(conn.closeCode ?? code) });
      inConnContext(() => log.info({ conn: conn.id, cid, doc: docId, user: conn.userId, transport: ws instanceof SseSocket ? 'sse' : 'websocket', code, codeName: closeCodeName(code), reason: reason.toString() }, 'connection closed'));
      conn.dispose();
      throttle.release(conn);
      if (conn.countedDoc) releaseUserDoc(conn.userId, conn.docId);
      for (const [kind, key] of held.get(conn) ?? []) slots.release(kind, key);
      held.delete(conn);
      const doc = conn.doc;
      if (doc) {
        doc.removeConnection(conn);
        registry.release(doc);
      }
    });

    // The socket's listeners share this function's closure scope for the socket's whole life:
    // drop what is only needed until authorization (the token string, the timer, the span).
    let preauthTimer: NodeJS.Timeout | null = setTimeout(() => {
      if (!conn.authorized) conn.close(CloseCode.UNAUTHORIZED, 'authorization timed out');
    }, o.preauth.timeoutMs);
    preauthTimer.unref();
    const run = () =>
      authorize(conn, takeToken())
      .catch((err: unknown) => inConnContext(() => {
        span?.setAttribute(Attr.AUTHZ_DECISION, 'deny');
        if (err instanceof AuthError) {
          span?.setAttributes({ [Attr.AUTHZ_REASON]: err.message, [Attr.CLOSE_CODE]: closeCodeName(err.closeCode) });
          log.info({ conn: conn.id, cid, doc: docId, user: conn.userId, code: err.closeCode, reason: err.message }, 'connection refused');
          metrics.authzDecisions.inc({ action: 'connect', result: 'deny', reason: closeCodeName(err.closeCode) });
          conn.close(err.closeCode, err.message);
        } else {
          metrics.errors.inc({ where: 'authorize' });
          span?.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
          log.error({ err, conn: conn.id, doc: docId }, 'authorization failed');
          // Opening reads the ACL and the document: what fails here is the store. Transient.
          conn.close(CloseCode.STORAGE_UNAVAILABLE, 'storage unavailable: could not open the document; retrying');
        }
      }))
      .finally(() => inConnContext(() => {
        if (preauthTimer) clearTimeout(preauthTimer);
        preauthTimer = null;
        if (conn.authorized) {
          span?.setAttributes({ [Attr.AUTHZ_DECISION]: 'allow', [Attr.ROLE]: conn.role ?? '', [Attr.USER_ID]: conn.userId, [Attr.CONNECTION_ID]: conn.id });
          log.info({ conn: conn.id, cid, doc: docId, user: conn.userId, role: conn.role, transport: ws instanceof SseSocket ? 'sse' : 'websocket' }, 'connection opened');
        }
        span?.end();
        span = undefined;
      }));
    const takeToken = () => {
      const t = token;
      token = null;
      return t;
    };
    inConnContext(() => void run());
  }

  /**
   * `ws` closes a socket whose message passes maxPayload (MAX_MESSAGE_BYTES) with 1009 before any
   * of our code sees the message, and 1009 is not permanent: the stock y-websocket client would
   * reconnect and re-send the same oversize sync step 2 forever (issue 10). Turn that close into
   * 4413 MESSAGE_TOO_LARGE, which stops it; its edits stay in its Y.Doc. Nothing of the message
   * was buffered past the limit (ws checks the length in the frame header).
   */
  function refuseOversizeWithPermanentCode(ws: TransportSocket): void {
    const close = ws.close.bind(ws);
    ws.close = (code?: number, reason?: string | Buffer) => {
      if (code !== CloseCode.MESSAGE_TOO_BIG) return close(code, reason);
      metrics.errors.inc({ where: 'message-too-large' });
      close(CloseCode.MESSAGE_TOO_LARGE, `message too big: over ${o.maxMessageBytes} bytes (MAX_MESSAGE_BYTES); send large edits in chunks`);
    };
  }

  /** Take a connection slot for the socket; false if over the limit. A slot granted after the socket closed is given back. */
  async function takeSlot(conn: Connection, kind: LimitKind, key: string): Promise<boolean> {
    if (!(await slots.acquire(kind, key))) return false;
    if (!connections.has(conn)) slots.release(kind, key);
    else held.set(conn, [...(held.get(conn) ?? []), [kind, key]]);
    return true;
  }

  const releaseUserDoc = (userId: string, docId: string) => {
    const docs = userDocs.get(userId);
    if (!docs) return;
    const n = (docs.get(docId) ?? 0) - 1;
    if (n > 0) docs.set(docId, n);
    else docs.delete(docId);
    if (!docs.size) userDocs.delete(userId);
  };

  async function authorize(conn: Connection, token: string | null): Promise<void> {
    // An upgraded socket took its per-address slot before the upgrade (HTTP 429); SSE sessions take it here.
    if (!held.get(conn)?.some(([k]) => k === 'ip') && !(await takeSlot(conn, 'ip', conn.remoteAddress))) {
      metrics.rateLimited.inc({ limit: 'connections-per-ip' });
      throw new AuthError(CloseCode.RATE_LIMITED, 'too many connections from this address');
    }
    if (conn.closed) return;
    const identity = await o.auth.authenticate(token, conn.docId);
    if (conn.closed) return;
    conn.identity = identity;
    if (!(await takeSlot(conn, 'user', identity.userId))) {
      metrics.rateLimited.inc({ limit: 'connections-per-user' });
      throw new AuthError(CloseCode.RATE_LIMITED, 'too many connections for this user');
    }
    if (conn.closed) return;
    const openDocs = userDocs.get(identity.userId);
    if (o.maxDocsPerUser && !openDocs?.has(conn.docId) && (openDocs?.size ?? 0) >= o.maxDocsPerUser) {
      metrics.rateLimited.inc({ limit: 'docs-per-user' });
      throw new AuthError(CloseCode.RATE_LIMITED, `too many documents open for this user (at most ${o.maxDocsPerUser})`);
    }
    conn.armExpiry(identity.expiresAt);
    // Synchronously inside the ws.upgrade span, so a doc.load it starts is that span's child.
    let doc = await inUpgradeContext(conn, () => registry.open(conn.docId));
    // The last connection may have left (and the doc begun unloading) while we waited.
    while (doc?.closing) doc = await registry.open(conn.docId);
    if (!doc) throw new AuthError(CloseCode.FORBIDDEN, 'document not found');
    if (conn.closed) return registry.release(doc);
    // The live ACL trails the change feed by up to one poll and 4403 is permanent: before refusing
    // someone the app may have just granted access (and a token), re-read the ACL.
    if (!doc.decideRole(conn)) await registry.refreshAcl(conn.docId);
    if (conn.closed) return registry.release(doc);
    if (!doc.decideRole(conn)) {
      registry.release(doc);
      throw new AuthError(CloseCode.FORBIDDEN, 'no access to this document');
    }
    metrics.authzDecisions.inc({ action: 'connect', result: 'allow', reason: conn.role ?? '' });
    const docs = userDocs.get(conn.userId) ?? new Map<string, number>();
    docs.set(conn.docId, (docs.get(conn.docId) ?? 0) + 1);
    userDocs.set(conn.userId, docs);
    conn.countedDoc = true;
    doc.addConnection(conn);
    for (const frame of conn.takePreauthQueue()) {
      if (conn.closed) break;
      handleFrame(conn, doc, frame);
    }
  }

  // Keepalive: ping every keepaliveMs and drop sockets that missed the previous pong. The
  // y-websocket client cannot see pings and drops a socket silent for 30 s, so any socket we have
  // not written to for half of that gets a 3-byte empty awareness update.
  const heartbeatAfterMs = Math.min(15_000, o.keepaliveMs / 2);
  const sendStallMs = o.sendStallMs ?? 30_000;
  const pingTimer = setInterval(() => {
    for (const c of connections) {
      // A background tab's socket (mobile, hidden tab) may sleep through a few pings.
      if (!c.alive && c.background && ++c.missedPongs < (o.backgroundMissedPongs ?? 5)) {
        c.ws.ping();
        continue;
      }
      if (!c.alive) {
        log.info({ conn: c.id, doc: c.docId, user: c.userId, background: c.background }, 'missed pong: terminating');
        c.ws.terminate();
        continue;
      }
      c.alive = false;
      c.ws.ping();
    }
  }, o.keepaliveMs);
  // One sweep for every socket: token expiry (closes within 250 ms of `exp`) and heartbeats.
  const heartbeatTimer = setInterval(() => {
    const now = Date.now();
    for (const c of connections) {
      if (!c.authorized) continue;
      c.checkExpiry(now);
      c.checkSendProgress(now, sendStallMs);
      if (now - c.lastSentAt >= heartbeatAfterMs) LiveDoc.heartbeat(c);
    }
  }, 250);
  pingTimer.unref();
  heartbeatTimer.unref();
  const recheck = startIdentityRecheck({ acl: o.acl, connections, metrics, log, intervalMs: o.identityRecheckMs ?? 10_000 });

  const unwatch = o.acl.watch((change) => {
    purger.onChange(change);
    registry.refreshAcl(change.docId).catch((err) => {
      metrics.errors.inc({ where: 'acl-refresh' });
      log.error({ err, doc: change.docId }, 'ACL refresh failed');
    });
  });
  purger.catchUp().catch((err: unknown) => {
    metrics.errors.inc({ where: 'purge' });
    log.error({ err }, 'purging documents deleted while this instance was down failed');
  });

  return {
    http: server,
    registry,
    connections,
    listen(port, host) {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve((server.address() as AddressInfo).port);
        });
      });
    },
    async close() {
      if (stopping) return;
      stopping = true;
      clearInterval(pingTimer);
      clearInterval(heartbeatTimer);
      shedder.stop();
      unwatch();
      refusals.close();
      recheck.stop();
      server.close();
      const work = (async () => {
        // Store and broadcast everything accepted so far, then tell clients to come back later.
        await Promise.all([...registry.docs()].map((d) => d.drain()));
        for (const c of connections) c.close(CloseCode.SERVICE_RESTART, 'server restarting');
        await registry.closeAll();
      })();
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          log.warn('shutdown timed out; exiting with work unfinished');
          resolve();
        }, o.shutdownTimeoutMs);
      });
      await Promise.race([work, timeout]);
      clearTimeout(timer);
      for (const c of connections) c.ws.terminate();
      server.closeAllConnections?.();
      // Limits passed in (shared counters) belong to the caller, who closes them after this.
      if (!o.connectionLimits) await slots.close();
    },
  };
}
