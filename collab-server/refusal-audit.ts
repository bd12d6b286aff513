/**
 * Refused writes, logged and audited per (user, document, reason) with counts. Throttling per connection
 * let a client that reconnects between refusals write one audit row per socket (issue 11): the
 * first refusal of a (user, document) is logged and audited at once, the ones after it within
 * `intervalMs` are counted and written as one row with their count when the interval is over
 * (by a sweep, so a burst that ends is still recorded), and whatever is pending is written at
 * shutdown. Counted per instance: N instances write at most N rows per interval.
 */
import type { Logger } from '../observability/logger';

export interface RefusalAuditDeps {
  log: Logger;
  /** Write one audit row (may throw: the caller's problem is logged, never the socket's). */
  record(who: { userId: string; docId: string }, reason: string, count: number): void;
  /** At most one row per (user, document) per this many ms (default one minute). */
  intervalMs?: number;
}

export interface RefusalAudit {
  /** One refused write by `userId` on `docId`. */
  refused(userId: string, docId: string, reason: string, conn?: string): void;
  /** Write every pending count now and stop the sweep (shutdown). */
  close(): void;
}

interface Entry {
  userId: string;
  docId: string;
  reason: string;
  count: number;
  lastAuditAt: number;
}

/** Build the per-(user, document) refusal log and audit. */
export function createRefusalAudit(d: RefusalAuditDeps): RefusalAudit {
  const intervalMs = d.intervalMs ?? 60_000;
  const entries = new Map<string, Entry>();
  const write = (e: Entry, now: number, conn?: string) => {
    d.log.info({ conn, doc: e.docId, user: e.userId, reason: e.reason, count: e.count }, 'write refused');
    const count = e.count;
    e.count = 0;
    e.lastAuditAt = now;
    d.record({ userId: e.userId, docId: e.docId }, e.reason, count);
  };
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [key, e] of entries) {
      if (now - e.lastAuditAt < intervalMs) continue;
      if (e.count > 0) write(e, now);
      else entries.delete(key);
    }
  }, Math.max(1000, intervalMs / 4));
  sweep.unref();
  return {
    refused(userId, docId, reason, conn) {
      // Per reason too (a small fixed set): a quota refusal is not hidden inside a viewer's count.
      const key = `${userId}\u0000${docId}\u0000${reason}`;
      let e = entries.get(key);
      if (!e) entries.set(key, (e = { userId, docId, reason, count: 0, lastAuditAt: 0 }));
      e.count++;
      const now = Date.now();
      if (now - e.lastAuditAt >= intervalMs) write(e, now, conn);
    },
    close() {
      clearInterval(sweep);
      const now = Date.now();
      for (const e of entries.values()) if (e.count > 0) write(e, now);
      entries.clear();
    },
  };
}
