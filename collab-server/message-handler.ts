/**
 * The only place that decodes inbound frames and asks for authorization. One frame in → zero or
 * more frames out and at most one update queued on the LiveDoc. Runs synchronously once the
 * connection is authorized, so a connection's frames are handled strictly in arrival order.
 */
import * as Y from 'yjs';
import * as awarenessProtocol from 'y-protocols/awareness';
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, context, trace, type Span, type Tracer } from '@opentelemetry/api';
import { CloseCode } from '../lib/close-codes';
import { decodeFrame, encode, FrameError, type Frame } from '../lib/protocol';
import { roleAtLeast } from '../lib/acl';
import type { CollabMetrics } from '../observability/metrics';
import type { Logger } from '../observability/logger';
import { Attr, SpanName } from '../observability/attributes';
import { contextFromTraceparent } from '../observability/trace-context';
import type { Connection } from './connection';
import type { LiveDoc } from './live-doc';
import { createChunkReceiver, type ChunkLimits } from './chunks';
import { LogBudget } from './log-budget';
import { checkPresenceJson } from '../lib/presence';

export interface MessageHandlerDeps {
  metrics: CollabMetrics;
  log: Logger;
  /** Verify a renewed token for this connection; resolves to the new expiry or throws TokenError. */
  renewToken(conn: Connection, token: string): Promise<number>;
  /** Every refused write (the server logs and audits them per user and document, with counts). */
  onRefusedWrite(conn: Connection, reason: string, count: number): void;
  /** OpenTelemetry tracer; undefined = tracing off (no span objects are created). */
  tracer?: Tracer;
  /** CHUNK extension limits (chunks.ts); default: 256 KiB parts, 64 MiB totals, 15 s idle. */
  chunks?: ChunkLimits;
  /** Where a reassembled chunked message goes: the server's frame handler (the normal path). */
  deliverChunked?(conn: Connection, doc: LiveDoc, message: Uint8Array): void;
}


/**
 * Presence entries a frame may carry that are refused (another user's id, malformed): beyond this
 * the socket is closed 1008. An honest client sends its own state, so any refusal is rare.
 */
const PRESENCE_ABUSE_PER_FRAME = 16;
/** Removals of other users' ids an honest client may echo in one frame (its peers timing out). */
const PRESENCE_FOREIGN_REMOVALS_PER_FRAME = 256;
/** Frames with refused entries allowed per window before the socket is closed as abusive. */
const PRESENCE_ABUSIVE_FRAMES_PER_WINDOW = 20;
const PRESENCE_ABUSE_WINDOW_MS = 60_000;
/**
 * How far an awareness clock may jump past the one we hold (issue 13): an honest client counts up
 * by one per state change. A clock like 2^53−1 would make every later state of that id look old
 * to every peer, for good.
 */
const PRESENCE_MAX_CLOCK_STEP = 2 ** 24;

/** An empty Yjs update (no structs, empty delete set): what a client with nothing new sends. */
const isEmptyUpdate = (u: Uint8Array) => u.length === 2 && u[0] === 0 && u[1] === 0;

export function createMessageHandler(deps: MessageHandlerDeps) {
  const { metrics, log, tracer } = deps;

  function refuseWrite(conn: Connection, reason: string): void {
    metrics.refusedUpdates.inc({ reason });
    metrics.authzDecisions.inc({ action: 'write', result: 'deny', reason });
    conn.send(encode.permissionDenied(reason), 'auth');
    // Logged and audited per (user, document) with counts by the server (refusal-audit.ts).
    deps.onRefusedWrite(conn, reason, 1);
  }

  const chunkReceiver = createChunkReceiver({
    metrics,
    log,
    limits: deps.chunks ?? { chunkBytes: 256 * 1024, maxTotalBytes: 64 * 1024 * 1024, idleTimeoutMs: 15_000 },
    writeRefusal: (conn, doc, bytes) => {
      const role = doc.decideRole(conn);
      if (!roleAtLeast(role, 'editor')) return role ? 'read-only: you are a viewer of this document' : 'no access';
      return doc.quotaRefusal(bytes);
    },
    refuse: (conn, reason) => refuseWrite(conn, reason),
    deliver: (conn, doc, message) => deps.deliverChunked?.(conn, doc, message),
  });

  /** A write (sync step 2 or update): authorize against the current ACL, pre-check, queue. */
  function handleWrite(conn: Connection, doc: LiveDoc, update: Uint8Array, span?: Span): boolean {
    if (isEmptyUpdate(update)) return false;
    const role = doc.decideRole(conn);
    const allowed = roleAtLeast(role, 'editor');
    if (span) {
      const reason = allowed ? (role ?? '') : role ? 'read-only: you are a viewer of this document' : 'no access';
      const attrs = { [Attr.AUTHZ_DECISION]: allowed ? 'allow' : 'deny', [Attr.AUTHZ_REASON]: reason, [Attr.ROLE]: role ?? 'none' };
      span.setAttributes(attrs);
      tracer!.startSpan(SpanName.AUTHZ, { attributes: attrs }).end();
    }
    if (!allowed) {
      refuseWrite(conn, role ? 'read-only: you are a viewer of this document' : 'no access');
      return false;
    }
    // The document's size quota (DOC_MAX_BYTES): refused like a viewer's write, reading goes on.
    const overQuota = doc.quotaRefusal(update.byteLength);
    if (overQuota) {
      refuseWrite(conn, overQuota);
      return false;
    }
    metrics.authzDecisions.inc({ action: 'write', result: 'allow', reason: 'role' });
    const admitted = doc.admit(conn, update, doc.clustered && !retrying);
    if (!admitted.ok && admitted.reason === 'behind') {
      span?.setAttribute(Attr.ADMIT_RESULT, 'behind');
      holdForCatchUp(conn, doc, update);
      return false;
    }
    if (!admitted.ok) {
      span?.setAttribute(Attr.ADMIT_RESULT, admitted.reason);
      if (admitted.reason === 'clock-gap') {
        // An honest client that missed something fills the gap when asked for what we lack.
        metrics.refusedUpdates.inc({ reason: 'clock-gap' });
        log.warn({ conn: conn.id, doc: doc.id, user: conn.userId }, 'update with a clock gap: not applied, asking the client to resync');
        conn.send(encode.syncStep1(Y.encodeStateVector(doc.doc)), 'sync-step1');
      } else {
        refuseWrite(conn, admitted.reason === 'too-many-client-ids' ? 'too many client ids on one connection' : 'client id in use by another user');
      }
      return false;
    }
    doc.enqueue(update, { kind: 'client', conn }, span);
    return true;
  }

  /** Connections whose frames wait while their document catches up with the log (in arrival order). */
  const held = new WeakMap<Connection, Uint8Array[]>();
  /** True while a held write is judged again after its catch-up (judged as on one machine then). */
  let retrying = false;

  /**
   * Scaled out: this write may carry what other instances stored and we have not applied yet.
   * Read the log, then judge it again; the connection's later frames wait so order is kept.
   */
  function holdForCatchUp(conn: Connection, doc: LiveDoc, update: Uint8Array): void {
    held.set(conn, []);
    doc
      .catchUp('behind')
      .catch((err: unknown) => {
        metrics.errors.inc({ where: 'cluster-catchup' });
        log.warn({ err, conn: conn.id, doc: doc.id }, 'catch-up before admitting a write failed');
      })
      .finally(() => {
        const queued = held.get(conn) ?? [];
        held.delete(conn);
        if (conn.closed) return;
        retrying = true;
        try {
          handleWrite(conn, doc, update);
        } catch (err) {
          undecodablePayload(conn, { kind: 'update', update } as Frame, err);
        } finally {
          retrying = false;
        }
        // A frame that holds again queues the rest behind it.
        for (const f of queued) handleFrame(conn, doc, f);
      });
  }

  /** Per-connection state of the presence checks; kept off Connection so idle sockets stay small. */
  const presenceGuards = new WeakMap<Connection, { budget: LogBudget; strikes: number; windowStart: number }>();
  const guardOf = (conn: Connection) => {
    let g = presenceGuards.get(conn);
    if (!g) presenceGuards.set(conn, (g = { budget: new LogBudget(), strikes: 0, windowStart: Date.now() }));
    return g;
  };

  /**
   * Presence: a connection may only set or clear the awareness states of client ids it holds; each
   * state is checked (lib/presence.ts: shape, size, colour, cursor positions that exist in the
   * document) and what fails is dropped; the `user` it shows is the token's identity. Refusals are
   * counted per entry, logged at most a few lines per connection, and a connection that keeps
   * sending entries it may not send is closed 1008 as abusive (issue 11 #1, #3).
   */
  function handleAwareness(conn: Connection, doc: LiveDoc, update: Uint8Array): void {
    const dec = decoding.createDecoder(update);
    const n = decoding.readVarUint(dec);
    const enc = encoding.createEncoder();
    let kept = 0;
    let malformed = 0;
    let spoofs = 0;
    let foreignRemovals = 0;
    const problems = new Map<string, number>();
    const note = (problem: string) => {
      problems.set(problem, (problems.get(problem) ?? 0) + 1);
      metrics.refusedUpdates.inc({ reason: `awareness-${problem}` });
    };
    const knows = (id: { client: number; clock: number }) => doc.knowsId(id);
    const body = encoding.createEncoder();
    for (let i = 0; i < n; i++) {
      const clientId = decoding.readVarUint(dec);
      const clock = decoding.readVarUint(dec);
      const json = decoding.readVarString(dec);
      // The stock client re-sends every peer's state it learns of. An entry no newer than what we
      // hold changes nothing (Awareness would ignore it too): skip it quietly, it is not a spoof.
      const known = doc.awareness.meta.get(clientId);
      if (known && clock <= known.clock && !conn.clientIds.has(clientId)) continue;
      if (clock > (known?.clock ?? 0) + PRESENCE_MAX_CLOCK_STEP) {
        note('clock');
        if (spoofs + ++malformed > PRESENCE_ABUSE_PER_FRAME) break;
        continue;
      }
      const removal = json === 'null';
      if (!conn.clientIds.has(clientId) && !doc.claim(conn, clientId)) {
        // An honest client echoes a peer's removal when its own copy times out: drop it quietly,
        // unless a frame is made of them. Setting a state under someone else's id is a spoof.
        if (removal && ++foreignRemovals <= PRESENCE_FOREIGN_REMOVALS_PER_FRAME) continue;
        note('spoof');
        if (++spoofs + malformed > PRESENCE_ABUSE_PER_FRAME) break;
        continue;
      }
      const checked = checkPresenceJson(json, knows);
      // Bytes that are not JSON are an undecodable payload (1007), as for any other message.
      if (!checked.ok && checked.problem === 'not-json') throw new Error('awareness state is not JSON');
      if (!checked.ok) {
        note(checked.problem);
        if (spoofs + ++malformed > PRESENCE_ABUSE_PER_FRAME) break;
        continue;
      }
      let state = checked.state;
      if (checked.problems.length) {
        for (const p of checked.problems) note(p);
        // A stale cursor (a position this server has not stored yet) is not abuse; a malformed one is.
        if (checked.problems.some((p) => p !== 'cursor-position')) malformed++;
      }
      if (state !== null && conn.identity) {
        const user = (state.user ?? {}) as Record<string, unknown>;
        state = { ...state, user: { ...user, name: conn.identity.name, id: conn.identity.userId } };
      }
      encoding.writeVarUint(body, clientId);
      encoding.writeVarUint(body, clock);
      encoding.writeVarString(body, JSON.stringify(state));
      kept++;
    }
    if (problems.size) {
      // One refused entry of one's own id is what an honest client sends while another user's
      // presence holds it (see LiveDoc.claim); several, or a malformed state, are not.
      const abusive = malformed + (spoofs > 1 ? spoofs : 0);
      const g = guardOf(conn);
      const line = g.budget.take();
      if (line) log.warn({ conn: conn.id, doc: doc.id, user: conn.userId, dropped: Object.fromEntries(problems), suppressedLines: line.suppressed }, 'presence entries dropped');
      const now = Date.now();
      if (now - g.windowStart > PRESENCE_ABUSE_WINDOW_MS) {
        g.windowStart = now;
        g.strikes = 0;
      }
      if (abusive > 0) g.strikes++;
      if (abusive > PRESENCE_ABUSE_PER_FRAME || g.strikes > PRESENCE_ABUSIVE_FRAMES_PER_WINDOW) {
        metrics.rateLimited.inc({ limit: 'abusive-presence' });
        conn.close(CloseCode.POLICY_VIOLATION, 'abusive presence: entries for client ids it does not hold, or malformed states');
        return;
      }
    }
    if (kept === 0) return;
    encoding.writeVarUint(enc, kept);
    encoding.writeUint8Array(enc, encoding.toUint8Array(body));
    const filtered = encoding.toUint8Array(enc);
    awarenessProtocol.applyAwarenessUpdate(doc.awareness, filtered, conn);
    doc.shareAwareness(conn, filtered);
  }

  /** Handle one decoded frame; true when `span` was handed to the LiveDoc (it ends after broadcast). */
  function dispatch(conn: Connection, doc: LiveDoc, frame: Frame, span?: Span): boolean | void {
    switch (frame.kind) {
      case 'sync-step1':
        doc.answerStep1(conn, frame.stateVector);
        return;
      case 'sync-step2':
      case 'update':
        return handleWrite(conn, doc, frame.update, span);
      case 'awareness':
        handleAwareness(conn, doc, frame.update);
        return;
      case 'query-awareness':
        conn.send(encode.awareness(awarenessProtocol.encodeAwarenessUpdate(doc.awareness, [...doc.awareness.states.keys()])), 'awareness');
        return;
      case 'auth':
        return; // servers send permission messages; a client's is ignored
      case 'ext-hello':
        conn.ext = true;
        conn.send(encode.role(doc.decideRole(conn) ?? 'none'), 'role');
        return;
      case 'token-refresh':
        deps.renewToken(conn, frame.token).then(
          (expiresAt) => {
            metrics.tokenRenewals.inc({ result: 'ok' });
            conn.send(encode.tokenResult(true, expiresAt / 1000, ''), 'token-result');
          },
          (err: Error) => {
            metrics.tokenRenewals.inc({ result: 'refused' });
            log.info({ conn: conn.id, doc: conn.docId, user: conn.userId, reason: err.message }, 'token renewal refused');
            conn.send(encode.tokenResult(false, 0, err.message), 'token-result');
          },
        );
        return;
      case 'chunk-hello':
        chunkReceiver.hello(conn, frame.version);
        return;
      case 'chunk':
        chunkReceiver.receive(conn, doc, frame.index, frame.total, frame.part);
        return;
      case 'trace-context':
        // An empty traceparent only says "I understand trace context" (see observability/browser.ts).
        conn.traceparent = frame.traceparent || null;
        conn.traceExt = true;
        return;
    }
  }

  /** The collab.message span for a frame: child of the browser's edit when it sent trace context. */
  function startMessageSpan(conn: Connection, frame: Frame, bytes: number): Span {
    let parent = ROOT_CONTEXT;
    if (frame.kind === 'update' || frame.kind === 'sync-step2' || frame.kind === 'sync-step1') {
      // TRACE_CONTEXT applies to the next sync frame only.
      if (conn.traceparent) parent = contextFromTraceparent(conn.traceparent);
      conn.traceparent = null;
    }
    const span = tracer!.startSpan(SpanName.MESSAGE, { kind: SpanKind.SERVER }, parent);
    // Attributes only for sampled spans: most frames are not sampled and should cost nothing more.
    if (span.isRecording()) {
      span.setAttributes({
        [Attr.MESSAGE_TYPE]: frame.kind,
        [Attr.MESSAGE_BYTES]: bytes,
        [Attr.DOC_ID]: conn.docId,
        [Attr.CONNECTION_ID]: conn.id,
        [Attr.USER_ID]: conn.userId,
      });
    }
    return span;
  }

  /**
   * Handle one inbound binary frame. Malformed input closes only this socket, with a named code
   * and a reason; nothing from the frame is stored or applied.
   */
  function handleFrame(conn: Connection, doc: LiveDoc, data: Uint8Array): void {
    const waiting = held.get(conn);
    if (waiting) {
      waiting.push(data);
      return;
    }
    let frame: Frame;
    try {
      frame = decodeFrame(data);
    } catch (err) {
      const unknown = err instanceof FrameError && err.code === 'unknown-type';
      metrics.messagesIn.inc({ type: 'invalid' });
      log.warn({ conn: conn.id, doc: conn.docId, user: conn.userId, err: (err as Error).message }, 'undecodable frame');
      conn.close(unknown ? CloseCode.UNSUPPORTED_DATA : CloseCode.INVALID_PAYLOAD, `bad frame: ${(err as Error).message}`);
      return;
    }
    metrics.messagesIn.inc({ type: frame.kind });
    metrics.bytesIn.inc({ type: frame.kind }, data.byteLength);
    if (tracer && frame.kind !== 'trace-context') {
      handleTraced(conn, doc, frame, data.byteLength);
      return;
    }
    try {
      dispatch(conn, doc, frame);
    } catch (err) {
      undecodablePayload(conn, frame, err);
    }
  }
  return handleFrame;

  /** Tracing on: the same dispatch inside a collab.message span, so logs carry its trace id. */
  function handleTraced(conn: Connection, doc: LiveDoc, frame: Frame, bytes: number): void {
    const span = startMessageSpan(conn, frame, bytes);
    if (!span.isRecording()) {
      // Not sampled: no child spans, no context switch, nothing handed to the LiveDoc.
      try {
        dispatch(conn, doc, frame);
      } catch (err) {
        undecodablePayload(conn, frame, err);
      }
      return;
    }
    context.with(trace.setSpan(ROOT_CONTEXT, span), () => {
      try {
        if (dispatch(conn, doc, frame, span) !== true) span.end();
      } catch (err) {
        span.recordException(err as Error);
        span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
        span.setAttribute(Attr.ERROR_TYPE, 'undecodable-payload');
        span.end();
        undecodablePayload(conn, frame, err);
      }
    });
  }

  /** Yjs or awareness decoding failed on the payload: bytes we cannot decode. */
  function undecodablePayload(conn: Connection, frame: Frame, err: unknown): void {
    metrics.errors.inc({ where: 'decode-payload' });
    log.warn({ conn: conn.id, doc: conn.docId, user: conn.userId, kind: frame.kind, err: (err as Error).message }, 'undecodable payload');
    conn.close(CloseCode.INVALID_PAYLOAD, `cannot decode ${frame.kind}: ${(err as Error).message}`.slice(0, 120));
  }
}

export type HandleFrame = ReturnType<typeof createMessageHandler>;
