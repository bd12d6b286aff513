/**
 * Large messages both ways, for clients that negotiated the CHUNK extension (lib/protocol.ts):
 *
 * - Inbound: a connection may have ONE chunked message in flight. Its declared total is checked
 *   against the limit before a byte is kept, a write is authorized at its first chunk (a viewer's
 *   20 MB sync step 2 is refused and its chunks counted to the end, never buffered), chunk bytes
 *   take tokens from the connection's message-rate bucket, and a message with no chunk for
 *   `idleTimeoutMs` is dropped. Every failure frees the buffer and closes with a named code. The
 *   reassembled message goes through the normal frame path (admit → append → apply → broadcast).
 * - Outbound: a frame above the chunk size is split once (`Outgoing`) and the same chunk frames
 *   are streamed to every chunk-capable recipient, paced by its socket's buffer (`Outbox`), while
 *   that socket's other frames wait behind them in order. No per-recipient copies.
 */
import { ChunkError, ChunkReassembler } from '../lib/chunks';
import { CloseCode } from '../lib/close-codes';
import { CHUNK_OVERHEAD_BYTES, MessageType, encode, encodeChunks, peekMessageKind } from '../lib/protocol';
import type { CollabMetrics } from '../observability/metrics';
import type { Logger } from '../observability/logger';
import type { Connection } from './connection';
import type { LiveDoc } from './live-doc';

export interface ChunkLimits {
  /** Part size both ways; the client is told it in the CHUNK_HELLO answer. */
  chunkBytes: number;
  /** Largest declared total of an inbound chunked message. */
  maxTotalBytes: number;
  /** A chunked message with no chunk for this long is dropped and the socket closed. */
  idleTimeoutMs: number;
}

/**
 * Chunk bytes cost one message-rate token per this many bytes (on top of the token every frame
 * takes): at the defaults (2000/s, burst 10 000) that is about 125 MiB/s sustained per socket,
 * far above any paste, while a client streaming chunks forever runs dry.
 */
export const CHUNK_RATE_UNIT_BYTES = 64 * 1024;

export interface ChunkReceiverDeps {
  metrics: CollabMetrics;
  log: Logger;
  limits: ChunkLimits;
  /** Why a write of `bytes` by `conn` would be refused (role, quota), or null to allow it. */
  writeRefusal(conn: Connection, doc: LiveDoc, bytes: number): string | null;
  /** Refuse a write (permission-denied, counted, audited). */
  refuse(conn: Connection, reason: string): void;
  /** Handle a reassembled message like any frame. */
  deliver(conn: Connection, doc: LiveDoc, message: Uint8Array): void;
}

interface Inbound {
  asm: ChunkReassembler;
  timer: NodeJS.Timeout | null;
  /** Bytes this connection currently adds to the buffered-bytes gauge. */
  counted: number;
}

/** The inbound half: CHUNK_HELLO answers and bounded reassembly, per connection. */
export function createChunkReceiver(deps: ChunkReceiverDeps) {
  const { metrics, log, limits } = deps;
  // Kept off Connection: only sockets that ever chunk pay for it.
  const inbound = new WeakMap<Connection, Inbound>();

  function free(conn: Connection): void {
    const s = inbound.get(conn);
    if (!s) return;
    if (s.timer) clearTimeout(s.timer);
    s.timer = null;
    if (s.counted) metrics.chunkBufferedBytes.dec(s.counted);
    s.counted = 0;
    s.asm.reset();
  }

  function fail(conn: Connection, code: number, result: string, reason: string): void {
    metrics.chunkedMessages.inc({ direction: 'in', result });
    log.warn({ conn: conn.id, doc: conn.docId, user: conn.userId, result, reason }, 'chunked message refused: closing');
    free(conn);
    conn.close(code, reason);
  }

  function stateOf(conn: Connection): Inbound {
    let s = inbound.get(conn);
    if (!s) {
      s = { asm: new ChunkReassembler(limits.maxTotalBytes), timer: null, counted: 0 };
      inbound.set(conn, s);
      // However the socket ends, what it had buffered goes with it.
      conn.ws.once('close', () => {
        free(conn);
        inbound.delete(conn);
      });
    }
    return s;
  }

  return {
    /** CHUNK_HELLO from the client: accept, and tell it the chunk size and the largest total. */
    hello(conn: Connection, version: number): void {
      if (version < 1) return;
      conn.acceptChunks(limits.chunkBytes);
      conn.send(encode.chunkAccept(limits.chunkBytes, limits.maxTotalBytes), 'chunk-hello');
    },

    /** One CHUNK frame. */
    receive(conn: Connection, doc: LiveDoc, index: number, total: number, part: Uint8Array): void {
      const s = stateOf(conn);
      if (!conn.takeMessageToken(Math.floor(part.byteLength / CHUNK_RATE_UNIT_BYTES))) {
        metrics.rateLimited.inc({ limit: 'chunk-bytes' });
        return fail(conn, CloseCode.RATE_LIMITED, 'rate-limited', 'too many chunk bytes: slow down and reconnect');
      }
      let r;
      try {
        r = s.asm.push(index, total, part, (head, declared) => {
          const kind = peekMessageKind(head);
          if (kind !== 'sync-step2' && kind !== 'update') return true;
          // Authorized here, at the first chunk: nothing of a refused write is ever buffered.
          const why = deps.writeRefusal(conn, doc, declared);
          if (!why) return true;
          deps.refuse(conn, why);
          return false;
        });
      } catch (err) {
        if (!(err instanceof ChunkError)) throw err;
        return fail(conn, err.code === 'too-large' ? CloseCode.MESSAGE_TOO_LARGE : CloseCode.BAD_CHUNKS, err.code, err.message);
      }
      const held = s.asm.bufferedBytes;
      if (held !== s.counted) metrics.chunkBufferedBytes.inc(held - s.counted);
      s.counted = held;
      if (s.timer) clearTimeout(s.timer);
      s.timer = null;
      if (!r.done) {
        s.timer = setTimeout(() => {
          s.timer = null;
          const { received, total: declared } = s.asm.progress;
          fail(conn, CloseCode.CHUNK_TIMEOUT, 'timeout', `chunked message stalled at ${received} of ${declared} bytes: no chunk for ${limits.idleTimeoutMs} ms`);
        }, limits.idleTimeoutMs);
        s.timer.unref();
        return;
      }
      if (!r.message) {
        // Only a write refused at its first chunk is discarded.
        metrics.chunkedMessages.inc({ direction: 'in', result: 'refused' });
        return;
      }
      if (r.message[0] === MessageType.CHUNK) return fail(conn, CloseCode.BAD_CHUNKS, 'nested', 'a chunked message may not contain a chunk');
      metrics.chunkedMessages.inc({ direction: 'in', result: 'ok' });
      deps.deliver(conn, doc, r.message);
    },
  };
}

export type ChunkReceiver = ReturnType<typeof createChunkReceiver>;

/**
 * One outbound frame, possibly large: sent whole to clients that cannot chunk, and as chunk frames
 * to those that can. The chunk frames are encoded on first use and shared by every recipient.
 */
export class Outgoing {
  private parts: Uint8Array[] | null = null;
  private partsFor = 0;

  constructor(
    readonly frame: Uint8Array,
    readonly kind: string,
    /** One buffer for many sockets (a broadcast, the memoized full state): see Connection.send. */
    readonly shared = true,
  ) {}

  /** Send to one connection; `onWritten` fires once the whole message is written. */
  sendTo(conn: Connection, onWritten?: () => void): void {
    const size = conn.chunkBytes;
    if (size === 0 || this.frame.byteLength <= size + CHUNK_OVERHEAD_BYTES) {
      conn.send(this.frame, this.kind, onWritten, this.shared);
      return;
    }
    if (this.partsFor !== size) {
      this.parts = encodeChunks(this.frame, size);
      this.partsFor = size;
    }
    Outbox.of(conn).stream(this.parts!, onWritten);
  }
}

/** Send one frame to a connection, chunked when it negotiated chunks and the frame is large. */
export function sendFrame(conn: Connection, frame: Uint8Array, kind: string, onWritten?: () => void): void {
  new Outgoing(frame, kind, false).sendTo(conn, onWritten);
}

/**
 * Keep this much queued in a socket while streaming chunks: enough to fill a fast link, small
 * enough that the send-buffer cap (SEND_BUFFER_CAP_BYTES) is about slow readers, not about the
 * size of one message.
 */
const STREAM_HIGH_WATER_BYTES = 1024 * 1024;

type Queued = { parts: Uint8Array[]; next: number; onWritten?: () => void } | { frame: Uint8Array; kind: string; onWritten?: () => void; shared: boolean };

/**
 * A connection's outbound queue while chunk frames stream: chunk frames leave as the socket
 * drains, and every other frame sent meanwhile waits behind them, so the client sees messages in
 * the order they were sent. Exists only while something streams.
 */
export class Outbox {
  private readonly queue: Queued[] = [];
  /** Bytes of non-chunk frames waiting (chunk frames are shared and not counted per socket). */
  private waitingBytes = 0;
  /** True while the outbox itself writes: Connection.send then goes straight to the socket. */
  pumping = false;
  private scheduled = false;

  private constructor(private readonly conn: Connection) {}

  /** The connection's outbox, created on first use. */
  static of(conn: Connection): Outbox {
    if (!conn.outbox) conn.outbox = new Outbox(conn);
    return conn.outbox;
  }

  /** Queue a chunked message. */
  stream(parts: Uint8Array[], onWritten?: () => void): void {
    this.queue.push({ parts, next: 0, onWritten });
    this.pump();
  }

  /**
   * Connection.send while streaming: queue the frame behind the chunks; false when the outbox is
   * itself writing (send it now). Closes a client whose queue passes the send-buffer cap.
   */
  divert(frame: Uint8Array, kind: string, onWritten?: () => void, shared = false): boolean {
    if (this.pumping) return false;
    // A shared frame (one buffer for every socket) costs this socket nothing while it waits.
    if (!shared) this.waitingBytes += frame.byteLength;
    if (this.waitingBytes + this.conn.ws.bufferedAmount > this.conn.sendBufferCap) {
      this.conn.close(CloseCode.TRY_AGAIN_LATER, 'too slow to keep up: reconnect to resync');
      this.drop();
      return true;
    }
    this.queue.push({ frame, kind, onWritten, shared });
    return true;
  }

  private drop(): void {
    this.queue.length = 0;
    this.waitingBytes = 0;
    if (this.conn.outbox === this) this.conn.outbox = null;
  }

  private pump(): void {
    const conn = this.conn;
    if (conn.closed || conn.ws.readyState !== 1) return this.drop();
    this.pumping = true;
    try {
      while (this.queue.length) {
        if (conn.ws.bufferedAmount > STREAM_HIGH_WATER_BYTES) return this.wait();
        const q = this.queue[0]!;
        if ('frame' in q) {
          this.queue.shift();
          if (!q.shared) this.waitingBytes -= q.frame.byteLength;
          conn.send(q.frame, q.kind, q.onWritten, q.shared);
          continue;
        }
        const last = q.next === q.parts.length - 1;
        // Each chunk's write callback resumes the pump when the socket drained below the mark.
        conn.send(q.parts[q.next++]!, 'chunk', () => {
          if (last) q.onWritten?.();
          this.wake();
        });
        if (last) this.queue.shift();
      }
      if (this.conn.outbox === this) this.conn.outbox = null;
    } finally {
      this.pumping = false;
    }
  }

  private wait(): void {
    // Woken by a chunk's write callback; the timer covers a buffer filled by frames that have none.
    if (this.scheduled) return;
    this.scheduled = true;
    setTimeout(() => {
      this.scheduled = false;
      this.wake();
    }, 20).unref();
  }

  private wake(): void {
    if (this.conn.outbox === this && !this.pumping) this.pump();
  }
}
