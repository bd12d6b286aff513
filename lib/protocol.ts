/**
 * The y-websocket wire protocol as Tandem speaks it: message type codes, a bounds-checked frame
 * decoder, and encoders. Pure bytes in / bytes out — no sockets, no Y.Doc.
 *
 * Frame layout (lib0 varuint encoding): [messageType][...payload]
 *   0 sync:            [0][0 step1][varBytes stateVector] | [0][1 step2][varBytes update] | [0][2 update][varBytes update]
 *   1 awareness:       [1][varBytes awarenessUpdate]
 *   2 auth:            [2][0 permissionDenied][varString reason]
 *   3 query-awareness: [3]
 * Tandem extensions (only sent to clients that said EXT_HELLO):
 *   100 ext-hello:     [100][varString clientInfo]            client → server
 *   101 token-refresh: [101][varString token]                 client → server
 *   102 token-result:  [102][varUint ok][varUint expiresAtSec][varString reason]  server → client
 *   103 role:          [103][varString role]                  server → client ("viewer" | "editor" | "owner")
 *   104 trace-context: [104][varString traceparent]           client → server: applies to the next sync frame;
 *                      server → client (only to clients that sent one): the trace of the next update frame
 *   105 chunk-hello:   client → server [105][varUint version]  "I can send and receive chunked messages";
 *                      server → client [105][varUint chunkBytes][varUint maxTotalBytes]  accepted: the
 *                      client chunks every message above chunkBytes, none may total more than maxTotalBytes
 *   106 chunk:         [106][varUint index][varUint totalBytes][varBytes part]  both directions, only after
 *                      105 was answered: one message of totalBytes split into parts sent in order
 *                      (index 0, 1, …); the first part starts with the inner message's type bytes
 *   107 background:    [107][0|1]  client → server, only after the server answered EXT_HELLO (ROLE):
 *                      1 = the tab is hidden/frozen (keepalive relaxed for this socket), 0 = back in front
 */
import * as encoding from 'lib0/encoding';

export const MessageType = {
  SYNC: 0,
  AWARENESS: 1,
  AUTH: 2,
  QUERY_AWARENESS: 3,
  EXT_HELLO: 100,
  TOKEN_REFRESH: 101,
  TOKEN_RESULT: 102,
  ROLE: 103,
  TRACE_CONTEXT: 104,
  CHUNK_HELLO: 105,
  CHUNK: 106,
  BACKGROUND: 107,
} as const;

/** Version of the chunk extension this codec speaks (sent in CHUNK_HELLO). */
export const CHUNK_VERSION = 1;
/** Bytes a chunk frame adds around its part (type, index, total, part length: varints). */
export const CHUNK_OVERHEAD_BYTES = 1 + 8 + 8 + 8;

export const SyncType = { STEP1: 0, STEP2: 1, UPDATE: 2 } as const;

/** Label values for metrics (bounded). */
export type FrameKind =
  | 'sync-step1'
  | 'sync-step2'
  | 'update'
  | 'awareness'
  | 'auth'
  | 'query-awareness'
  | 'ext-hello'
  | 'token-refresh'
  | 'trace-context'
  | 'chunk-hello'
  | 'chunk';

export type Frame =
  | { kind: 'sync-step1'; stateVector: Uint8Array }
  | { kind: 'sync-step2'; update: Uint8Array }
  | { kind: 'update'; update: Uint8Array }
  | { kind: 'awareness'; update: Uint8Array }
  | { kind: 'auth'; reason: string }
  | { kind: 'query-awareness' }
  | { kind: 'ext-hello'; info: string }
  | { kind: 'token-refresh'; token: string }
  | { kind: 'trace-context'; traceparent: string }
  | { kind: 'chunk-hello'; version: number }
  | { kind: 'chunk'; index: number; total: number; part: Uint8Array };

/** Why a frame was refused by the decoder; maps to a close code in lib/errors. */
export class FrameError extends Error {
  constructor(
    readonly code: 'truncated' | 'unknown-type' | 'trailing-bytes' | 'too-long',
    message: string,
  ) {
    super(message);
    this.name = 'FrameError';
  }
}

/**
 * A tiny bounds-checked reader. lib0's decoder builds views on `arr.buffer`, which for Node
 * Buffers is often a larger pooled ArrayBuffer: a hostile length would read neighbouring memory
 * instead of failing. Every length here is checked against the view, and payloads are copied so a
 * stored update never pins a pooled chunk.
 */
class Reader {
  pos = 0;
  constructor(private readonly arr: Uint8Array) {}
  varUint(): number {
    let num = 0;
    let mult = 1;
    for (let i = 0; i < 8; i++) {
      if (this.pos >= this.arr.length) throw new FrameError('truncated', 'truncated varint');
      const b = this.arr[this.pos++]!;
      num += (b & 0x7f) * mult;
      if (b < 0x80) return num;
      mult *= 128;
    }
    throw new FrameError('too-long', 'varint longer than 53 bits');
  }
  bytes(): Uint8Array {
    const len = this.varUint();
    if (len > this.arr.length - this.pos) {
      throw new FrameError('truncated', `length ${len} runs past the end of the frame`);
    }
    const out = this.arr.slice(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }
  string(): string {
    return new TextDecoder('utf-8', { fatal: false }).decode(this.bytes());
  }
  end(): void {
    if (this.pos !== this.arr.length) {
      throw new FrameError('trailing-bytes', `${this.arr.length - this.pos} trailing bytes`);
    }
  }
}

/** Decode one inbound frame. Throws FrameError for anything malformed. */
export function decodeFrame(data: Uint8Array): Frame {
  // Uint8Array.prototype.slice copies even when `data` is a Buffer (Buffer#slice would not).
  const r = new Reader(data instanceof Buffer ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : data);
  const type = r.varUint();
  let frame: Frame;
  switch (type) {
    case MessageType.SYNC: {
      const sub = r.varUint();
      if (sub === SyncType.STEP1) frame = { kind: 'sync-step1', stateVector: r.bytes() };
      else if (sub === SyncType.STEP2) frame = { kind: 'sync-step2', update: r.bytes() };
      else if (sub === SyncType.UPDATE) frame = { kind: 'update', update: r.bytes() };
      else throw new FrameError('unknown-type', `unknown sync message type ${sub}`);
      break;
    }
    case MessageType.AWARENESS:
      frame = { kind: 'awareness', update: r.bytes() };
      break;
    case MessageType.AUTH: {
      r.varUint();
      frame = { kind: 'auth', reason: r.string() };
      break;
    }
    case MessageType.QUERY_AWARENESS:
      frame = { kind: 'query-awareness' };
      break;
    case MessageType.EXT_HELLO:
      frame = { kind: 'ext-hello', info: r.string() };
      break;
    case MessageType.TOKEN_REFRESH:
      frame = { kind: 'token-refresh', token: r.string() };
      break;
    case MessageType.TRACE_CONTEXT:
      frame = { kind: 'trace-context', traceparent: r.string() };
      break;
    case MessageType.CHUNK_HELLO:
      frame = { kind: 'chunk-hello', version: r.varUint() };
      break;
    case MessageType.CHUNK: {
      const index = r.varUint();
      const total = r.varUint();
      frame = { kind: 'chunk', index, total, part: r.bytes() };
      break;
    }
    default:
      throw new FrameError('unknown-type', `unknown message type ${type}`);
  }
  r.end();
  return frame;
}

function frameWith(type: number, write: (e: encoding.Encoder) => void): Uint8Array {
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, type);
  write(e);
  return encoding.toUint8Array(e);
}

export const encode = {
  syncStep1: (stateVector: Uint8Array) =>
    frameWith(MessageType.SYNC, (e) => {
      encoding.writeVarUint(e, SyncType.STEP1);
      encoding.writeVarUint8Array(e, stateVector);
    }),
  syncStep2: (update: Uint8Array) =>
    frameWith(MessageType.SYNC, (e) => {
      encoding.writeVarUint(e, SyncType.STEP2);
      encoding.writeVarUint8Array(e, update);
    }),
  update: (update: Uint8Array) =>
    frameWith(MessageType.SYNC, (e) => {
      encoding.writeVarUint(e, SyncType.UPDATE);
      encoding.writeVarUint8Array(e, update);
    }),
  awareness: (update: Uint8Array) =>
    frameWith(MessageType.AWARENESS, (e) => encoding.writeVarUint8Array(e, update)),
  queryAwareness: () => frameWith(MessageType.QUERY_AWARENESS, () => {}),
  permissionDenied: (reason: string) =>
    frameWith(MessageType.AUTH, (e) => {
      encoding.writeVarUint(e, 0);
      encoding.writeVarString(e, reason);
    }),
  extHello: (info: string) => frameWith(MessageType.EXT_HELLO, (e) => encoding.writeVarString(e, info)),
  tokenRefresh: (token: string) =>
    frameWith(MessageType.TOKEN_REFRESH, (e) => encoding.writeVarString(e, token)),
  tokenResult: (ok: boolean, expiresAtSec: number, reason: string) =>
    frameWith(MessageType.TOKEN_RESULT, (e) => {
      encoding.writeVarUint(e, ok ? 1 : 0);
      encoding.writeVarUint(e, Math.max(0, Math.floor(expiresAtSec)));
      encoding.writeVarString(e, reason);
    }),
  role: (role: string) => frameWith(MessageType.ROLE, (e) => encoding.writeVarString(e, role)),
  traceContext: (traceparent: string) =>
    frameWith(MessageType.TRACE_CONTEXT, (e) => encoding.writeVarString(e, traceparent)),
  /** Client → server: offer the chunk extension. */
  chunkHello: (version = CHUNK_VERSION) => frameWith(MessageType.CHUNK_HELLO, (e) => encoding.writeVarUint(e, version)),
  /** Server → client: chunk extension accepted, with the chunk size and the largest total. */
  chunkAccept: (chunkBytes: number, maxTotalBytes: number) =>
    frameWith(MessageType.CHUNK_HELLO, (e) => {
      encoding.writeVarUint(e, chunkBytes);
      encoding.writeVarUint(e, maxTotalBytes);
    }),
  /** Client → server: the tab went to the background (true) or came back (false). */
  background: (hidden: boolean) => new Uint8Array([MessageType.BACKGROUND, hidden ? 1 : 0]),
  chunk: (index: number, total: number, part: Uint8Array) =>
    frameWith(MessageType.CHUNK, (e) => {
      encoding.writeVarUint(e, index);
      encoding.writeVarUint(e, total);
      encoding.writeVarUint8Array(e, part);
    }),
};

/**
 * Split one encoded message into chunk frames whose parts are at most `chunkBytes` each. The
 * frames are what goes on the wire; a broadcast encodes them once and shares them.
 */
export function encodeChunks(message: Uint8Array, chunkBytes: number): Uint8Array[] {
  if (chunkBytes < 1) throw new RangeError('chunkBytes must be positive');
  const out: Uint8Array[] = [];
  for (let off = 0, i = 0; off < message.byteLength; off += chunkBytes, i++) {
    out.push(encode.chunk(i, message.byteLength, message.subarray(off, Math.min(off + chunkBytes, message.byteLength))));
  }
  return out;
}

/** What a message's first bytes say it is: enough to authorize a chunked write at its first chunk. */
export function peekMessageKind(head: Uint8Array): FrameKind | 'unknown' {
  const r = new Reader(head);
  try {
    const type = r.varUint();
    if (type === MessageType.SYNC) {
      const sub = r.varUint();
      return sub === SyncType.STEP1 ? 'sync-step1' : sub === SyncType.STEP2 ? 'sync-step2' : sub === SyncType.UPDATE ? 'update' : 'unknown';
    }
    if (type === MessageType.AWARENESS) return 'awareness';
    return 'unknown';
  } catch {
    return 'unknown';
  }
}

/**
 * Permission-denied reasons for a write refused by the document's size quota start with this
 * slug, so a UI recognises them without matching the prose.
 */
export const DOC_TOO_LARGE_REASON = 'document-too-large';

/** An awareness update with zero entries: a 3-byte keepalive the y-websocket client accepts. */
export const EMPTY_AWARENESS_FRAME = encode.awareness(new Uint8Array([0]));
