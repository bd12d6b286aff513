/**
 * The load generator's side of the wire, kept small and allocation-light so one core can drive
 * servers that accept ~50k updates/s: the two framings (y-websocket, and Hocuspocus' document-name
 * prefix with an auth message first), a frame reader, and a template encoder for the one edit the
 * writers make (append one character to their own run in `Y.Text('t')`). The template produces the
 * exact bytes Yjs itself emits for that edit (tests/unit/bench-wire.test.ts checks this), without
 * the cost of a Y.Doc transaction per update on the load generator's core.
 */
import * as encoding from 'lib0/encoding';

export type Framing = 'yws' | 'hocus';

export const MSG_SYNC = 0;
export const MSG_AWARENESS = 1;
export const MSG_AUTH = 2;
/** Hocuspocus: a sync message that must not trigger another step 1. */
export const MSG_SYNC_REPLY = 4;
export const SYNC_STEP1 = 0;
export const SYNC_STEP2 = 1;
export const SYNC_UPDATE = 2;

/** The root type every writer types into. */
export const TEXT_KEY = 't';

/** The character a writer types at clock `k` (deterministic, so a reference state can be rebuilt). */
export const charAt = (k: number): string => String.fromCharCode(97 + (k % 26));

/** The characters for clocks [from, to). */
export function charsFor(from: number, to: number): string {
  let s = '';
  for (let k = from; k < to; k++) s += charAt(k);
  return s;
}

/**
 * A Yjs v1 update holding one string item for `client` covering clocks [from, to), appended after
 * the client's own previous item (or at the start of `Y.Text('t')` when from = 0). Empty range →
 * the empty update.
 */
export function encodeRun(client: number, from: number, to: number): Uint8Array {
  const e = encoding.createEncoder();
  if (to <= from) {
    encoding.writeVarUint(e, 0);
    encoding.writeVarUint(e, 0);
    return encoding.toUint8Array(e);
  }
  encoding.writeVarUint(e, 1); // one client
  encoding.writeVarUint(e, 1); // one struct
  encoding.writeVarUint(e, client);
  encoding.writeVarUint(e, from);
  if (from === 0) {
    encoding.writeUint8(e, 4); // ContentString, no origins → parent info follows
    encoding.writeVarUint(e, 1); // parent is a root type key
    encoding.writeVarString(e, TEXT_KEY);
  } else {
    encoding.writeUint8(e, 4 | 0x80); // ContentString with a left origin
    encoding.writeVarUint(e, client);
    encoding.writeVarUint(e, from - 1);
  }
  encoding.writeVarString(e, charsFor(from, to));
  encoding.writeVarUint(e, 0); // empty delete set
  return encoding.toUint8Array(e);
}

/** Prefix for every frame on a connection (Hocuspocus: the document name). */
export function framePrefix(framing: Framing, docName: string): Uint8Array {
  if (framing === 'yws') return new Uint8Array(0);
  const e = encoding.createEncoder();
  encoding.writeVarString(e, docName);
  return encoding.toUint8Array(e);
}

function withPrefix(prefix: Uint8Array, write: (e: encoding.Encoder) => void): Uint8Array {
  const e = encoding.createEncoder();
  encoding.writeUint8Array(e, prefix);
  write(e);
  return encoding.toUint8Array(e);
}

/** A sync frame [type 0][sub][varBytes payload]. */
export function syncFrame(prefix: Uint8Array, sub: number, payload: Uint8Array): Uint8Array {
  return withPrefix(prefix, (e) => {
    encoding.writeVarUint(e, MSG_SYNC);
    encoding.writeVarUint(e, sub);
    encoding.writeVarUint8Array(e, payload);
  });
}

/** Hocuspocus' first message: [2 auth][0 token][varString token]. */
export function hocusAuthFrame(prefix: Uint8Array, token: string): Uint8Array {
  return withPrefix(prefix, (e) => {
    encoding.writeVarUint(e, MSG_AUTH);
    encoding.writeVarUint(e, 0);
    encoding.writeVarString(e, token);
  });
}

/** An inbound frame as the load generator cares about it. */
export interface Inbound {
  type: number;
  /** Sync sub-type, or -1 for non-sync frames. */
  sub: number;
  /** Sync payload (state vector or update), a view into the frame; null otherwise. */
  payload: Uint8Array | null;
}

function readVarUint(buf: Uint8Array, pos: { p: number }): number {
  let num = 0;
  let mult = 1;
  for (;;) {
    const b = buf[pos.p++];
    if (b === undefined) throw new Error('truncated varint');
    num += (b & 0x7f) * mult;
    if (b < 0x80) return num;
    mult *= 128;
  }
}

/** Decode the header of an inbound frame (skipping Hocuspocus' document name). */
export function readInbound(framing: Framing, buf: Uint8Array): Inbound {
  const pos = { p: 0 };
  if (framing === 'hocus') {
    const nameLen = readVarUint(buf, pos); // varString: length, then bytes
    pos.p += nameLen;
  }
  const type = readVarUint(buf, pos);
  if (type !== MSG_SYNC && type !== MSG_SYNC_REPLY) return { type, sub: -1, payload: null };
  const sub = readVarUint(buf, pos);
  const len = readVarUint(buf, pos);
  if (pos.p + len > buf.length) throw new Error('truncated payload');
  return { type, sub, payload: buf.subarray(pos.p, pos.p + len) };
}

/**
 * The frame for "client typed one character at clock k" in one allocation (the load generator's
 * hottest path): the same bytes as `syncFrame(prefix, SYNC_UPDATE, encodeRun(client, k, k + 1))`.
 */
export function oneCharFrame(prefix: Uint8Array, client: number, clock: number): Uint8Array {
  if (clock === 0) return syncFrame(prefix, SYNC_UPDATE, encodeRun(client, 0, 1));
  const scratch = SCRATCH;
  let p = 0;
  const varUint = (n: number) => {
    while (n > 0x7f) {
      scratch[p++] = 0x80 | (n & 0x7f);
      n = Math.floor(n / 128);
    }
    scratch[p++] = n;
  };
  varUint(1);
  varUint(1);
  varUint(client);
  varUint(clock);
  scratch[p++] = 4 | 0x80;
  varUint(client);
  varUint(clock - 1);
  scratch[p++] = 1; // string of one (ASCII) character
  scratch[p++] = 97 + (clock % 26);
  scratch[p++] = 0; // empty delete set
  const updateLen = p;
  const out = new Uint8Array(prefix.length + 2 + (updateLen > 0x7f ? 2 : 1) + updateLen);
  out.set(prefix, 0);
  let o = prefix.length;
  out[o++] = MSG_SYNC;
  out[o++] = SYNC_UPDATE;
  if (updateLen > 0x7f) {
    out[o++] = 0x80 | (updateLen & 0x7f);
    out[o++] = updateLen >> 7;
  } else out[o++] = updateLen;
  out.set(scratch.subarray(0, updateLen), o);
  return out;
}
const SCRATCH = new Uint8Array(64);

/**
 * Per-client clock ranges of an update, like `Y.parseUpdateMeta(u).to`, with a fast path for the
 * only shape the writers produce (one client, one string item of ASCII characters); anything else
 * (merged broadcasts, other content) goes through Yjs.
 */
export function updateEnds(u: Uint8Array, slow: (u: Uint8Array) => Map<number, number>): Map<number, number> | [number, number] {
  const pos = { p: 0 };
  try {
    if (readVarUint(u, pos) !== 1 || readVarUint(u, pos) !== 1) return slow(u);
    const client = readVarUint(u, pos);
    const clock = readVarUint(u, pos);
    const info = u[pos.p++]!;
    if ((info & 0x1f) !== 4 || info & 0x60) return slow(u); // not a string, or right origin / parentSub
    if (info & 0x80) {
      readVarUint(u, pos);
      readVarUint(u, pos);
    } else return slow(u);
    const len = readVarUint(u, pos);
    for (let i = 0; i < len; i++) if (u[pos.p + i]! >= 0x80) return slow(u);
    if (pos.p + len + 1 !== u.length || u[pos.p + len] !== 0) return slow(u);
    return [client, clock + len];
  } catch {
    return slow(u);
  }
}
