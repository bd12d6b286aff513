/**
 * Inbound budgets of one connection and of its user (token buckets for messages and bytes, a
 * bucket for awareness updates), and anomaly throttling: a connection whose message or byte rate
 * in the current second jumps far above its own recent baseline is slowed to that ceiling.
 *
 * Over a budget a connection is first SLOWED: its socket is paused (TCP back-pressure reaches the
 * sender; we hold only what was already read) and its frames are handled, in order, as the
 * budgets refill. If it is still being slowed after `closeAfterMs`, it is closed 4429. An honest
 * burst (a reconnect's sync, a paste, fast typing) fits the bursts and never waits.
 */
import { CloseCode } from '../lib/close-codes';
import { MessageType } from '../lib/protocol';
import type { CollabMetrics } from '../observability/metrics';
import type { Logger } from '../observability/logger';
import type { Connection } from './connection';

export interface InboundLimits {
  /** Per connection: sustained messages/s and burst; bytes/s and burst. */
  messagesPerSec: number;
  messageBurst: number;
  bytesPerSec: number;
  bytesBurst: number;
  /** Per user (all of its connections on this instance). */
  userMessagesPerSec: number;
  userMessageBurst: number;
  userBytesPerSec: number;
  userBytesBurst: number;
  /** Awareness (presence) updates per connection; over it they are dropped (the next one carries the latest state). */
  awarenessPerSec: number;
  awarenessBurst: number;
  /** A connection still slowed after this long is closed 4429. */
  closeAfterMs: number;
  /** Anomaly: this many times the connection's own baseline per second (0 = off)... */
  anomalyFactor: number;
  /** ...but never below these ceilings (an idle connection may start typing or paste). */
  anomalyMinMessagesPerSec: number;
  anomalyMinBytesPerSec: number;
}

/** Defaults: a fast typist sends ~30 messages/s (update + awareness per keystroke); a paste is one message. */
export const DEFAULT_INBOUND_LIMITS: InboundLimits = {
  messagesPerSec: 200,
  messageBurst: 2000,
  bytesPerSec: 4 * 1024 * 1024,
  bytesBurst: 64 * 1024 * 1024,
  userMessagesPerSec: 600,
  userMessageBurst: 6000,
  userBytesPerSec: 8 * 1024 * 1024,
  userBytesBurst: 128 * 1024 * 1024,
  awarenessPerSec: 30,
  awarenessBurst: 120,
  closeAfterMs: 5000,
  anomalyFactor: 10,
  anomalyMinMessagesPerSec: 100,
  anomalyMinBytesPerSec: 8 * 1024 * 1024,
};

/** A token bucket; 0 per second = unlimited. */
class Bucket {
  private tokens: number;
  private at = performance.now();
  constructor(
    private readonly perSec: number,
    private readonly burst: number,
  ) {
    this.tokens = burst;
  }
  private refill(now: number): void {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) * this.perSec) / 1000);
    this.at = now;
  }
  /** Can `n` be taken now? (A cost above the burst is allowed when the bucket is full.) */
  has(n: number, now: number): boolean {
    if (this.perSec <= 0) return true;
    this.refill(now);
    return this.tokens >= Math.min(n, this.burst);
  }
  take(n: number): void {
    if (this.perSec > 0) this.tokens -= n;
  }
  /** ms until `n` could be taken. */
  waitMs(n: number, now: number): number {
    if (this.perSec <= 0) return 0;
    this.refill(now);
    return Math.max(0, ((Math.min(n, this.burst) - this.tokens) * 1000) / this.perSec);
  }
}

/** Rate of the current one-second window against the connection's own recent baseline (EWMA). */
class Baseline {
  windowStart = performance.now();
  msgs = 0;
  bytes = 0;
  avgMsgs = 0;
  avgBytes = 0;
  /** Slowed in the current window: it does not teach the baseline. */
  capped = false;
  roll(now: number): void {
    if (now - this.windowStart < 1000) return;
    const seconds = Math.floor((now - this.windowStart) / 1000);
    if (!this.capped) {
      // Windows with no traffic pull the average down too.
      for (let i = 0; i < Math.min(seconds, 30); i++) {
        this.avgMsgs = 0.8 * this.avgMsgs + 0.2 * (i === 0 ? this.msgs : 0);
        this.avgBytes = 0.8 * this.avgBytes + 0.2 * (i === 0 ? this.bytes : 0);
      }
    }
    this.windowStart += seconds * 1000;
    this.msgs = 0;
    this.bytes = 0;
    this.capped = false;
  }
}

interface ConnState {
  msgs: Bucket;
  bytes: Bucket;
  awareness: Bucket;
  base: Baseline;
  queue: Buffer[];
  queuedBytes: number;
  timer: NodeJS.Timeout | null;
  slowSince: number;
  reason: string;
  user: UserState | null;
}
interface UserState {
  id: string;
  msgs: Bucket;
  bytes: Bucket;
  refs: number;
}

export type ThrottleReason = 'messages' | 'bytes' | 'user-messages' | 'user-bytes' | 'anomaly-messages' | 'anomaly-bytes';

export interface InboundThrottleDeps {
  limits: InboundLimits;
  metrics: CollabMetrics;
  log: Logger;
  /** What a connection may hold read-but-unhandled while slowed (its socket is paused). */
  maxQueuedBytes?: number;
}

/** Per-connection and per-user inbound budgets; `frame` handles or defers one inbound frame. */
export function createInboundThrottle(deps: InboundThrottleDeps) {
  const { limits: l, metrics, log } = deps;
  const maxQueued = deps.maxQueuedBytes ?? 8 * 1024 * 1024;
  const states = new WeakMap<Connection, ConnState>();
  const users = new Map<string, UserState>();

  const stateOf = (conn: Connection): ConnState => {
    let s = states.get(conn);
    if (!s) {
      s = {
        msgs: new Bucket(l.messagesPerSec, l.messageBurst),
        bytes: new Bucket(l.bytesPerSec, l.bytesBurst),
        awareness: new Bucket(l.awarenessPerSec, l.awarenessBurst),
        base: new Baseline(),
        queue: [],
        queuedBytes: 0,
        timer: null,
        slowSince: 0,
        reason: '',
        user: null,
      };
      states.set(conn, s);
    }
    // The user is known once the token is verified; frames before that count per connection only.
    if (!s.user && conn.identity) {
      let u = users.get(conn.userId);
      if (!u) users.set(conn.userId, (u = { id: conn.userId, msgs: new Bucket(l.userMessagesPerSec, l.userMessageBurst), bytes: new Bucket(l.userBytesPerSec, l.userBytesBurst), refs: 0 }));
      u.refs++;
      s.user = u;
    }
    return s;
  };

  /** null = admit now; otherwise why it must wait and for how long. */
  function check(s: ConnState, n: number, chunk: boolean, now: number): { reason: ThrottleReason; waitMs: number } | null {
    if (!s.msgs.has(1, now)) return { reason: 'messages', waitMs: s.msgs.waitMs(1, now) };
    if (!s.bytes.has(n, now)) return { reason: 'bytes', waitMs: s.bytes.waitMs(n, now) };
    if (s.user && !s.user.msgs.has(1, now)) return { reason: 'user-messages', waitMs: s.user.msgs.waitMs(1, now) };
    if (s.user && !s.user.bytes.has(n, now)) return { reason: 'user-bytes', waitMs: s.user.bytes.waitMs(n, now) };
    if (l.anomalyFactor > 0) {
      const b = s.base;
      b.roll(now);
      const toNext = b.windowStart + 1000 - now;
      if (b.msgs + 1 > Math.max(l.anomalyMinMessagesPerSec, l.anomalyFactor * b.avgMsgs)) return { reason: 'anomaly-messages', waitMs: toNext };
      // A chunked upload is bounded by the chunk receiver and the byte bucket; one message always fits an empty window.
      if (!chunk && b.bytes > 0 && b.bytes + n > Math.max(l.anomalyMinBytesPerSec, l.anomalyFactor * b.avgBytes)) return { reason: 'anomaly-bytes', waitMs: toNext };
    }
    return null;
  }

  function take(s: ConnState, n: number): void {
    s.msgs.take(1);
    s.bytes.take(n);
    s.user?.msgs.take(1);
    s.user?.bytes.take(n);
    s.base.msgs++;
    s.base.bytes += n;
  }

  function slow(conn: Connection, s: ConnState, reason: ThrottleReason, now: number): boolean {
    if (!s.slowSince) {
      s.slowSince = now;
      s.reason = reason;
      metrics.throttled.inc({ reason, action: 'slowed' });
      log.warn({ conn: conn.id, doc: conn.docId, user: conn.userId, reason, baselineMsgsPerSec: Math.round(s.base.avgMsgs), baselineBytesPerSec: Math.round(s.base.avgBytes) }, 'inbound throttled: slowing connection');
    }
    if (reason.startsWith('anomaly')) s.base.capped = true;
    if (now - s.slowSince < l.closeAfterMs) return true;
    metrics.throttled.inc({ reason: s.reason, action: 'closed' });
    metrics.rateLimited.inc({ limit: s.reason });
    log.warn({ conn: conn.id, doc: conn.docId, user: conn.userId, reason: s.reason, slowedMs: Math.round(now - s.slowSince) }, 'inbound throttled: still over its budget, closing 4429');
    // The retry hint is read by Tandem's client (lib/backoff.ts retryHintMs).
    conn.close(CloseCode.RATE_LIMITED, `too many ${s.reason.endsWith('bytes') ? 'bytes' : 'messages'} (${s.reason}): slow down; retry after 10s`);
    drop(conn, s);
    return false;
  }

  function drop(conn: Connection, s: ConnState): void {
    if (s.timer) clearTimeout(s.timer);
    s.timer = null;
    s.queue = [];
    s.queuedBytes = 0;
    void conn;
  }

  /** Awareness over its own rate is dropped, not delayed: presence is latest-state-wins. */
  function awarenessOver(s: ConnState, data: Buffer, now: number): boolean {
    if (data[0] !== MessageType.AWARENESS) return false;
    if (s.awareness.has(1, now)) {
      s.awareness.take(1);
      return false;
    }
    return true;
  }

  function drain(conn: Connection, s: ConnState, handle: (d: Buffer) => void): void {
    s.timer = null;
    if (conn.closed) return drop(conn, s);
    while (s.queue.length) {
      const now = performance.now();
      const d = s.queue[0]!;
      const over = check(s, d.byteLength, d[0] === MessageType.CHUNK, now);
      if (over) {
        if (!slow(conn, s, over.reason, now)) return;
        s.timer = setTimeout(() => drain(conn, s, handle), Math.min(1000, Math.max(5, over.waitMs)));
        return;
      }
      s.queue.shift();
      s.queuedBytes -= d.byteLength;
      take(s, d.byteLength);
      if (awarenessOver(s, d, now)) metrics.throttled.inc({ reason: 'awareness', action: 'dropped' });
      else handle(d);
      if (conn.closed) return drop(conn, s);
    }
    // Caught up: read from the socket again; it stays "slowed" until a frame is admitted at once.
    conn.ws.resume();
  }

  return {
    /** Handle `data` now through `handle`, or queue it (pausing the socket) until the budgets allow. */
    frame(conn: Connection, data: Buffer, handle: (d: Buffer) => void): void {
      const s = stateOf(conn);
      const n = data.byteLength;
      if (s.queue.length) {
        s.queue.push(data);
        s.queuedBytes += n;
        if (s.queuedBytes > maxQueued) slow(conn, s, (s.reason || 'bytes') as ThrottleReason, s.slowSince + l.closeAfterMs);
        return;
      }
      const now = performance.now();
      const over = check(s, n, data[0] === MessageType.CHUNK, now);
      if (!over) {
        if (s.slowSince) {
          metrics.throttled.inc({ reason: s.reason, action: 'recovered' });
          s.slowSince = 0;
        }
        take(s, n);
        if (awarenessOver(s, data, now)) {
          metrics.throttled.inc({ reason: 'awareness', action: 'dropped' });
          return;
        }
        handle(data);
        return;
      }
      if (!slow(conn, s, over.reason, now)) return;
      conn.ws.pause();
      s.queue.push(data);
      s.queuedBytes += n;
      s.timer = setTimeout(() => drain(conn, s, handle), Math.min(1000, Math.max(5, over.waitMs)));
    },
    /** The connection closed: free its queue and its share of the user's budget. */
    release(conn: Connection): void {
      const s = states.get(conn);
      if (!s) return;
      drop(conn, s);
      states.delete(conn);
      if (s.user && --s.user.refs <= 0) users.delete(s.user.id);
    },
  };
}

export type InboundThrottle = ReturnType<typeof createInboundThrottle>;
