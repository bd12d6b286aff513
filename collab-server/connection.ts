/**
 * One socket × one document. Owns the socket's send path (with the back-pressure cap), the queue
 * of frames that arrive before authorization completes, and the identity the token proved.
 * It never touches storage: frames go to the message handler, which talks to the LiveDoc.
 */
import type { TransportSocket } from './sse-socket';
import { CloseCode, closeCodeName } from '../lib/close-codes';
import type { Role } from '../lib/acl';
import type { CollabMetrics } from '../observability/metrics';
import type { Logger } from '../observability/logger';
import type { LiveDoc } from './live-doc';
import type { Outbox } from './chunks';

export interface Identity {
  userId: string;
  name: string;
  isAdmin: boolean;
  /** Token expiry (ms since epoch); Infinity for anonymous development mode. */
  expiresAt: number;
  jti: string;
  /** When the token was issued (ms); 0 when unknown. Compared with the user's tokens-not-before. */
  issuedAt?: number;
}

export interface ConnectionDeps {
  metrics: CollabMetrics;
  log: Logger;
  sendBufferCap: number;
  preauth: { maxFrames: number; maxBytes: number };
  /** Inbound message token bucket. */
  rate: { perSec: number; burst: number };
  /** Prepended to connection ids (`<instance>:`), so an id names its instance across a cluster. */
  idPrefix?: string;
}

let nextId = 1;

/** Unsent bytes a socket may hold without counting as stalled (a heartbeat, an awareness frame). */
const SEND_PROGRESS_SLACK_BYTES = 64 * 1024;

export class Connection {
  readonly id: string;
  identity: Identity | null = null;
  doc: LiveDoc | null = null;
  /** The role decided for `roleVersion` of the ACL; re-decided whenever the version moves. */
  role: Role | null = null;
  roleVersion = -1;
  /** The client said EXT_HELLO: it understands Tandem's extension messages. */
  ext = false;
  /** Yjs/awareness client ids this connection holds (released on close). */
  readonly clientIds = new Set<number>();
  /** W3C traceparent for the next sync frame, from a TRACE_CONTEXT extension message. */
  traceparent: string | null = null;
  /** The client sent TRACE_CONTEXT at least once: it understands the trace context we forward with broadcasts. */
  traceExt = false;
  /** Chunk size the client accepted (CHUNK extension): larger frames reach it as chunks. 0 = whole frames. */
  chunkBytes = 0;
  /** While chunk frames stream to this client, its other frames wait here in order (chunks.ts). */
  outbox: Outbox | null = null;
  readonly openedAt = Date.now();
  alive = true;
  /** The client said its tab went to the background (BACKGROUND extension): keepalive is relaxed. */
  background = false;
  /** Pings missed in a row while in the background. */
  missedPongs = 0;
  /** Counted toward its user's open documents (MAX_DOCS_PER_USER). */
  countedDoc = false;
  lastSentAt = Date.now();
  closed = false;
  /** The code we closed with, if we did (a peer that never answers shows up as 1006 otherwise). */
  closeCode: number | null = null;
  private preauthQueue: Uint8Array[] | null = [];
  private preauthBytes = 0;
  private expiresAt = Infinity;
  /** Unsent bytes at the last sweep, and since when they have not shrunk (checkSendProgress). */
  private stallBuffered = 0;
  private stallSince = 0;
  private tokens: number;
  private tokensAt = performance.now();

  constructor(
    /** A `ws` WebSocket or an SseSocket (sse-socket.ts): the same connection code serves both transports. */
    readonly ws: TransportSocket,
    readonly docId: string,
    readonly remoteAddress: string,
    private readonly deps: ConnectionDeps,
  ) {
    this.id = `${deps.idPrefix ?? ''}c${nextId++}`;
    this.tokens = deps.rate.burst;
  }

  /** Take `n` (default one) messages from the rate bucket; false when the client is over its rate. */
  takeMessageToken(n = 1): boolean {
    const now = performance.now();
    const { perSec, burst } = this.deps.rate;
    this.tokens = Math.min(burst, this.tokens + ((now - this.tokensAt) * perSec) / 1000);
    this.tokensAt = now;
    if (this.tokens < n) return false;
    this.tokens -= n;
    return true;
  }

  /** The client negotiated the CHUNK extension with this part size. */
  acceptChunks(chunkBytes: number): void {
    this.chunkBytes = chunkBytes;
  }

  get sendBufferCap(): number {
    return this.deps.sendBufferCap;
  }

  /** Instance admin status changed (re-checked by the server): the role is decided again. */
  setAdmin(isAdmin: boolean): void {
    if (!this.identity || this.identity.isAdmin === isAdmin) return;
    this.identity = { ...this.identity, isAdmin };
    this.roleVersion = -1;
  }

  get userId(): string {
    return this.identity?.userId ?? '';
  }

  /** Queue a frame that arrived before authorization; false if the bounds are exceeded. */
  enqueuePreauth(data: Uint8Array): boolean {
    if (!this.preauthQueue) return false;
    this.preauthBytes += data.byteLength;
    if (this.preauthQueue.length >= this.deps.preauth.maxFrames || this.preauthBytes > this.deps.preauth.maxBytes) return false;
    this.preauthQueue.push(data);
    return true;
  }

  /** Hand over the queued frames and stop queueing. */
  takePreauthQueue(): Uint8Array[] {
    const q = this.preauthQueue ?? [];
    this.preauthQueue = null;
    return q;
  }

  get authorized(): boolean {
    return this.preauthQueue === null && this.doc !== null;
  }

  /**
   * When the token runs out un-renewed the socket is closed 4401. The server's sweep (every
   * 250 ms) enforces it: one shared timer instead of one per socket keeps idle sockets small.
   */
  armExpiry(expiresAt: number): void {
    this.expiresAt = expiresAt;
  }

  /** Called by the sweep: close if the token has expired. */
  checkExpiry(now: number): void {
    if (now >= this.expiresAt) this.close(CloseCode.UNAUTHORIZED, 'token expired');
  }

  /**
   * Send one encoded frame. What is already queued plus this frame must fit the cap, or the client
   * is not keeping up: close it with 1013 (it resyncs on reconnect) rather than let server memory
   * grow. Counting the frame about to be queued (not only what is queued) is what bounds a socket
   * that never reads (issue 11 #2). One exception: a `shared` frame (the document's memoized full
   * state, one buffer for every socket that asked) may exceed the cap when little is queued, so a
   * document larger than the cap still reaches a fresh reader that keeps up.
   */
  send(frame: Uint8Array, kind: string, onWritten?: () => void, shared = false): void {
    if (this.closed) return;
    // While chunk frames stream to this client, everything else waits behind them (chunks.ts).
    if (this.outbox?.divert(frame, kind, onWritten, shared)) return;
    const ws = this.ws;
    if (ws.readyState !== 1) return;
    const buffered = ws.bufferedAmount;
    const cap = this.deps.sendBufferCap;
    if (buffered + frame.byteLength > cap && !(shared && buffered <= cap / 8)) {
      this.deps.metrics.errors.inc({ where: 'send-buffer-cap' });
      this.deps.log.warn({ conn: this.id, doc: this.docId, user: this.userId, buffered, frame: frame.byteLength }, 'send buffer over cap: closing slow client');
      this.close(CloseCode.TRY_AGAIN_LATER, 'too slow to keep up: reconnect to resync');
      return;
    }
    ws.send(frame, { binary: true }, onWritten && (() => onWritten()));
    this.lastSentAt = Date.now();
    this.deps.metrics.messagesOut.inc({ type: kind });
    this.deps.metrics.bytesOut.inc({ type: kind }, frame.byteLength);
  }

  /**
   * Called by the server's sweep: a socket whose unsent buffer has not shrunk for `stallMs` is not
   * reading at all; close it 1013 so what it holds is freed (issue 11 #2) — a slow reader keeps
   * draining and is left alone, one that falls behind by the cap is closed in `send`.
   */
  checkSendProgress(now: number, stallMs: number): void {
    const b = this.ws.bufferedAmount;
    if (b <= SEND_PROGRESS_SLACK_BYTES || b < this.stallBuffered) {
      this.stallBuffered = b;
      this.stallSince = 0;
      return;
    }
    this.stallBuffered = b;
    if (!this.stallSince) this.stallSince = now;
    else if (now - this.stallSince >= stallMs) {
      this.deps.metrics.errors.inc({ where: 'send-stalled' });
      this.close(CloseCode.TRY_AGAIN_LATER, 'not reading: reconnect to resync');
    }
  }

  /** Batch several sends into one write (see LiveDoc broadcast). */
  cork(): void {
    (this.ws as unknown as { _socket?: { cork(): void } })._socket?.cork();
  }
  uncork(): void {
    (this.ws as unknown as { _socket?: { uncork(): void } })._socket?.uncork();
  }

  /** Close with a named code and a reason; terminates the TCP connection if the peer does not answer. */
  close(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.closeCode = code;
    this.deps.log.info({ conn: this.id, doc: this.docId, user: this.userId, code, codeName: closeCodeName(code), reason }, 'closing connection');
    try {
      // Close reasons are limited to 123 bytes by RFC 6455.
      this.ws.close(code, Buffer.from(reason).subarray(0, 123).toString());
    } catch (err) {
      this.deps.log.warn({ err, conn: this.id }, 'close failed; terminating');
      this.ws.terminate();
      return;
    }
    // A client that stopped reading will never answer the close frame: do not keep its buffers.
    const t = setTimeout(() => this.ws.terminate(), 2000);
    t.unref();
  }

  dispose(): void {
    this.closed = true;
    this.preauthQueue = null;
  }
}
