/**
 * Concurrent-socket budgets per user and per client IP. A slot is acquired while a socket is being
 * authorized and released when it closes; over the budget the socket is refused with 4429.
 */

export type LimitKind = 'user' | 'ip';

export interface ConnectionLimitsConfig {
  /** Concurrent sockets per user / per client IP; 0 = no limit. */
  connectionsPerUser: number;
  connectionsPerIp: number;
}

export interface ConnectionLimits {
  /** Take one slot for `key`; false when it is at its limit (nothing is taken then). */
  acquire(kind: LimitKind, key: string): Promise<boolean> | boolean;
  /** Give back a slot `acquire` granted. */
  release(kind: LimitKind, key: string): void;
  close(): Promise<void>;
}

/** Counts kept in this process: a limit per instance. */
export function createConnectionLimits(cfg: ConnectionLimitsConfig): ConnectionLimits {
  const counts: Record<LimitKind, Map<string, number>> = { user: new Map(), ip: new Map() };
  const max = (kind: LimitKind) => (kind === 'user' ? cfg.connectionsPerUser : cfg.connectionsPerIp);
  return {
    acquire(kind, key) {
      const m = counts[kind];
      const n = m.get(key) ?? 0;
      if (max(kind) > 0 && n + 1 > max(kind)) return false;
      m.set(key, n + 1);
      return true;
    },
    release(kind, key) {
      const m = counts[kind];
      const n = (m.get(key) ?? 0) - 1;
      if (n <= 0) m.delete(key);
      else m.set(key, n);
    },
    async close() {},
  };
}
