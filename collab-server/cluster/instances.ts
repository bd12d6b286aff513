/**
 * This instance's entry in the cluster's instance registry (see lib/cluster-instances.ts): a
 * heartbeat that keeps it "live" for `ttlMs`, with the base URL of its admin API once listening.
 * Other instances ignore (and drop) socket counts of an instance whose entry expired, so a crashed
 * instance cannot leave users locked out; the app lists live instances to fan the admin console out.
 */
import type { Redis } from 'ioredis';
import { instanceKeys } from '../../lib/cluster-instances';
import type { CollabMetrics } from '../../observability/metrics';
import type { Logger } from '../../observability/logger';

export interface InstanceRegistryOptions {
  redis: Redis;
  prefix: string;
  instanceId: string;
  /** How often the entry is refreshed. */
  heartbeatMs: number;
  /** How long an entry outlives its last heartbeat (several heartbeats, so one slow beat is not death). */
  ttlMs: number;
  metrics: CollabMetrics;
  log: Logger;
}

export interface InstanceRegistry {
  readonly instanceId: string;
  /** The sorted set of live instances (for scripts that must skip dead instances' counts). */
  readonly liveKey: string;
  /** Publish the admin API's base URL (once the server listens); resolves after the first write (or its failure). */
  advertise(url: string): Promise<void>;
  /** Stop the heartbeat and leave the registry at once (graceful stop). */
  close(): Promise<void>;
}

// Redis's clock for every expiry, so instances with skewed clocks agree on who is live. Also drops
// the info of instances that are gone (a few entries: one per instance).
const HEARTBEAT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if ARGV[3] ~= '' then redis.call('HSET', KEYS[2], ARGV[1], ARGV[3]) end
for _, id in ipairs(redis.call('HKEYS', KEYS[2])) do
  if not redis.call('ZSCORE', KEYS[1], id) then redis.call('HDEL', KEYS[2], id) end
end
return now
`;

/** Register this instance and keep it live until `close`. */
export function createInstanceRegistry(o: InstanceRegistryOptions): InstanceRegistry {
  const keys = instanceKeys(o.prefix);
  const startedAt = Date.now();
  let info = '';
  let closed = false;
  let failing = false;
  const beat = async () => {
    if (closed) return;
    try {
      await o.redis.eval(HEARTBEAT, 2, keys.live, keys.info, o.instanceId, String(o.ttlMs), info);
      if (failing) o.log.info('instance registry: heartbeat restored');
      failing = false;
    } catch (err) {
      o.metrics.errors.inc({ where: 'instance-heartbeat' });
      // Once per outage: a dead Redis would otherwise log every heartbeat.
      if (!failing) o.log.warn({ err: (err as Error).message }, 'instance registry: heartbeat failed (other instances will stop counting this one)');
      failing = true;
    }
  };
  // Beat as soon as Redis is (again) reachable, not a heartbeat later: while this instance is not
  // listed, the others drop its socket counts.
  const onReady = () => void beat();
  o.redis.on('ready', onReady);
  if (o.redis.status === 'ready') void beat();
  const timer = setInterval(() => void beat(), o.heartbeatMs);
  timer.unref();
  return {
    instanceId: o.instanceId,
    liveKey: keys.live,
    async advertise(url) {
      info = JSON.stringify({ url, startedAt });
      await beat();
    },
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      o.redis.off('ready', onReady);
      try {
        await o.redis.multi().zrem(keys.live, o.instanceId).hdel(keys.info, o.instanceId).exec();
      } catch (err) {
        o.metrics.errors.inc({ where: 'instance-heartbeat' });
        o.log.warn({ err: (err as Error).message }, 'instance registry: could not leave; the entry expires on its own');
      }
    },
  };
}
