/**
 * Concurrent-socket budgets per user and per client IP. A slot is acquired while a socket is being
 * authorized and released when it closes; over the budget the socket is refused with 4429.
 * In a cluster the counts live in Redis, so N instances still mean one limit (see
 * createRedisConnectionLimits); without Redis they are counted in this process.
 */
import type { Redis } from 'ioredis';
import type { CollabMetrics } from '../observability/metrics';
import type { Logger } from '../observability/logger';

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

export interface RedisConnectionLimitsOptions extends ConnectionLimitsConfig {
  redis: Redis;
  prefix: string;
  instanceId: string;
  /** Sorted set of live instances (InstanceRegistry.liveKey): counts of instances not in it are ignored and dropped. */
  liveKey: string;
  /** How often this instance rewrites its counts (repairs drift after Redis blips, keeps keys from expiring). */
  resyncMs: number;
  /** Lifetime of a count key nobody rewrites (a dead cluster's leftovers). */
  keyTtlMs: number;
  /** A Redis answer slower than this counts as Redis being down. */
  timeoutMs: number;
  metrics: CollabMetrics;
  log: Logger;
}

// One hash per user / IP: field = instance id, value = that instance's sockets. The check and the
// write are one script so two instances cannot both take the last slot. Every write SETS this
// instance's field to its local count (never increments), so a lost or late write is repaired by
// the next one or by the periodic resync.
const ACQUIRE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local all = redis.call('HGETALL', KEYS[1])
local others = 0
for i = 1, #all, 2 do
  local id = all[i]
  if id ~= ARGV[1] then
    local exp = redis.call('ZSCORE', KEYS[2], id)
    if exp and tonumber(exp) > now then others = others + tonumber(all[i + 1])
    else redis.call('HDEL', KEYS[1], id) end
  end
end
if others + tonumber(ARGV[2]) > tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
`;

/**
 * Cluster-wide counts in Redis. Fails open: when Redis is unreachable or slow, a socket is checked
 * against this instance's own count instead (counted in tandem_errors_total{where="limits-redis"})
 * — an outage of Redis must never lock users out.
 */
export function createRedisConnectionLimits(o: RedisConnectionLimitsOptions): ConnectionLimits {
  const local: Record<LimitKind, Map<string, number>> = { user: new Map(), ip: new Map() };
  const max = (kind: LimitKind) => (kind === 'user' ? o.connectionsPerUser : o.connectionsPerIp);
  const key = (kind: LimitKind, k: string) => `${o.prefix}limits:${kind}:${k}`;
  let degraded = false;
  let closed = false;
  /** Counts that dropped to zero while Redis missed the write: the resync deletes their fields. */
  const emptied = new Set<`${LimitKind}:${string}`>();

  const setLocal = (kind: LimitKind, k: string, n: number) => {
    if (n <= 0) local[kind].delete(k);
    else local[kind].set(k, n);
  };
  const healthy = () => {
    if (degraded) o.log.info('connection limits: Redis answering again, counting cluster-wide');
    degraded = false;
  };
  const failOpen = (err: unknown) => {
    o.metrics.errors.inc({ where: 'limits-redis' });
    // Once per outage, not once per socket.
    if (!degraded) o.log.warn({ err: (err as Error)?.message ?? String(err) }, 'connection limits: Redis unavailable, counting per instance (fail open)');
    degraded = true;
  };
  const withTimeout = <T>(p: Promise<T>): Promise<T> => {
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`Redis did not answer within ${o.timeoutMs} ms`)), o.timeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
  };
  const write = (kind: LimitKind, k: string) => {
    const n = local[kind].get(k) ?? 0;
    const m = o.redis.multi();
    if (n > 0) m.hset(key(kind, k), o.instanceId, n).pexpire(key(kind, k), o.keyTtlMs);
    else m.hdel(key(kind, k), o.instanceId);
    return m.exec();
  };

  const resync = async () => {
    if (closed || o.redis.status !== 'ready') return;
    try {
      const m = o.redis.multi();
      for (const kind of ['user', 'ip'] as const) {
        for (const [k, n] of local[kind]) m.hset(key(kind, k), o.instanceId, n).pexpire(key(kind, k), o.keyTtlMs);
      }
      const gone = [...emptied].filter((e) => !local[e.startsWith('user:') ? 'user' : 'ip'].has(e.slice(e.indexOf(':') + 1)));
      for (const e of gone) m.hdel(`${o.prefix}limits:${e}`, o.instanceId);
      if (m.length) await withTimeout(m.exec());
      for (const e of gone) emptied.delete(e);
    } catch (err) {
      failOpen(err);
    }
  };
  const timer = setInterval(() => void resync(), o.resyncMs);
  timer.unref();
  // After a reconnect (Redis restarted, or lost our writes) put our counts back at once.
  const onReady = () => void resync();
  o.redis.on('ready', onReady);

  return {
    async acquire(kind, k) {
      const limit = max(kind);
      if (limit <= 0) return true;
      // Reserve locally first: concurrent acquires on this instance then ask for distinct totals.
      const n = (local[kind].get(k) ?? 0) + 1;
      local[kind].set(k, n);
      let ok: boolean;
      if (o.redis.status !== 'ready') {
        failOpen(new Error(`Redis connection is ${o.redis.status}`));
        ok = n <= limit;
      } else {
        try {
          ok = (await withTimeout(o.redis.eval(ACQUIRE, 2, key(kind, k), o.liveKey, o.instanceId, String(n), String(limit), String(o.keyTtlMs)))) === 1;
          healthy();
        } catch (err) {
          failOpen(err);
          ok = n <= limit;
        }
      }
      if (!ok) setLocal(kind, k, (local[kind].get(k) ?? 1) - 1);
      return ok;
    },
    release(kind, k) {
      if (max(kind) <= 0) return;
      setLocal(kind, k, (local[kind].get(k) ?? 0) - 1);
      const missed = () => {
        if (!local[kind].has(k)) emptied.add(`${kind}:${k}`);
      };
      // The resync repairs a write Redis missed.
      if (closed || o.redis.status !== 'ready') return missed();
      write(kind, k).catch((err: unknown) => {
        missed();
        failOpen(err);
      });
    },
    async close() {
      closed = true;
      clearInterval(timer);
      o.redis.off('ready', onReady);
    },
  };
}
