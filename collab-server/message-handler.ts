/**
 * The only place that decodes inbound frames and asks for authorization. One frame in → zero or
 * more frames out and at most one update queued on the LiveDoc. Runs synchronously once the
 * connection is authorized, so a connection's frames are handled strictly in arrival order.
 */
import * as Y from 'yjs';
import * as awarenessProtocol from 'y-protocols/awareness';
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import { CloseCode } from '../lib/close-codes';
import { decodeFrame, encode, FrameError, type Frame } from '../lib/protocol';
import { roleAtLeast } from '../lib/acl';
import type { CollabMetrics } from '../observability/metrics';
import type { Logger } from '../observability/logger';
import type { Connection } from './connection';
import type { LiveDoc } from './live-doc';

export interface MessageHandlerDeps {
  metrics: CollabMetrics;
  log: Logger;
  /** Verify a renewed token for this connection; resolves to the new expiry or throws TokenError. */
  renewToken(conn: Connection, token: string): Promise<number>;
  /** Record a refused write (audit log). */
  onRefusedWrite(conn: Connection, reason: string): void;
}

/** An empty Yjs update (no structs, empty delete set): what a client with nothing new sends. */
const isEmptyUpdate = (u: Uint8Array) => u.length === 2 && u[0] === 0 && u[1] === 0;

export function createMessageHandler(deps: MessageHandlerDeps) {
  const { metrics, log } = deps;

  function refuseWrite(conn: Connection, reason: string): void {
    metrics.refusedUpdates.inc({ reason });
    metrics.authzDecisions.inc({ action: 'write', result: 'deny', reason });
    log.info({ conn: conn.id, doc: conn.docId, user: conn.userId, reason }, 'write refused');
    conn.send(encode.permissionDenied(reason), 'auth');
    deps.onRefusedWrite(conn, reason);
  }

  /** A write (sync step 2 or update): authorize against the current ACL, pre-check, queue. */
  function handleWrite(conn: Connection, doc: LiveDoc, update: Uint8Array): void {
    if (isEmptyUpdate(update)) return;
    const role = doc.decideRole(conn);
    if (!roleAtLeast(role, 'editor')) {
      refuseWrite(conn, role ? 'read-only: you are a viewer of this document' : 'no access');
      return;
    }
    metrics.authzDecisions.inc({ action: 'write', result: 'allow', reason: 'role' });
    const admitted = doc.admit(conn, update);
    if (!admitted.ok) {
      if (admitted.reason === 'clock-gap') {
        // An honest client that missed something fills the gap when asked for what we lack.
        metrics.refusedUpdates.inc({ reason: 'clock-gap' });
        log.warn({ conn: conn.id, doc: doc.id, user: conn.userId }, 'update with a clock gap: not applied, asking the client to resync');
        conn.send(encode.syncStep1(Y.encodeStateVector(doc.doc)), 'sync-step1');
      } else {
        refuseWrite(conn, 'client id in use by another user');
      }
      return;
    }
    doc.enqueue(update, { kind: 'client', conn });
  }

  /**
   * Presence: a connection may only set or clear the awareness states of client ids it holds, and
   * the `user` it shows is the token's identity, whatever the client claims.
   */
  function handleAwareness(conn: Connection, doc: LiveDoc, update: Uint8Array): void {
    const dec = decoding.createDecoder(update);
    const n = decoding.readVarUint(dec);
    const enc = encoding.createEncoder();
    let kept = 0;
    const body = encoding.createEncoder();
    for (let i = 0; i < n; i++) {
      const clientId = decoding.readVarUint(dec);
      const clock = decoding.readVarUint(dec);
      const json = decoding.readVarString(dec);
      if (!doc.claim(conn, clientId)) {
        metrics.refusedUpdates.inc({ reason: 'awareness-spoof' });
        log.warn({ conn: conn.id, doc: doc.id, user: conn.userId, clientId }, 'awareness for a client id held by another user: dropped');
        continue;
      }
      let state: unknown = JSON.parse(json);
      if (state !== null && typeof state === 'object' && conn.identity) {
        const s = state as Record<string, unknown>;
        const user = (typeof s.user === 'object' && s.user !== null ? s.user : {}) as Record<string, unknown>;
        state = { ...s, user: { ...user, name: conn.identity.name, id: conn.identity.userId } };
      }
      encoding.writeVarUint(body, clientId);
      encoding.writeVarUint(body, clock);
      encoding.writeVarString(body, JSON.stringify(state));
      kept++;
    }
    if (kept === 0) return;
    encoding.writeVarUint(enc, kept);
    encoding.writeUint8Array(enc, encoding.toUint8Array(body));
    const filtered = encoding.toUint8Array(enc);
    awarenessProtocol.applyAwarenessUpdate(doc.awareness, filtered, conn);
    doc.broadcast(encode.awareness(filtered), 'awareness', conn);
  }

  function dispatch(conn: Connection, doc: LiveDoc, frame: Frame): void {
    switch (frame.kind) {
      case 'sync-step1':
        conn.send(encode.syncStep2(Y.encodeStateAsUpdate(doc.doc, frame.stateVector)), 'sync-step2');
        return;
      case 'sync-step2':
      case 'update':
        handleWrite(conn, doc, frame.update);
        return;
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
      case 'trace-context':
        conn.traceparent = frame.traceparent;
        return;
    }
  }

  /**
   * Handle one inbound binary frame. Malformed input closes only this socket, with a named code
   * and a reason; nothing from the frame is stored or applied.
   */
  return function handleFrame(conn: Connection, doc: LiveDoc, data: Uint8Array): void {
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
    try {
      dispatch(conn, doc, frame);
    } catch (err) {
      // Yjs or awareness decoding failed on the payload: bytes we cannot decode.
      metrics.errors.inc({ where: 'decode-payload' });
      log.warn({ conn: conn.id, doc: conn.docId, user: conn.userId, kind: frame.kind, err: (err as Error).message }, 'undecodable payload');
      conn.close(CloseCode.INVALID_PAYLOAD, `cannot decode ${frame.kind}: ${(err as Error).message}`.slice(0, 120));
    }
  };
}

export type HandleFrame = ReturnType<typeof createMessageHandler>;
