/**
 * Online password guessing protection: after LOGIN_MAX_FAILURES wrong passwords for one email
 * within LOGIN_WINDOW_SECONDS, further attempts for that email get 429 with Retry-After until the
 * oldest failure leaves the window. A successful login clears the count.
 *
 * An attempt is counted BEFORE its password is checked (and un-counted on success): checking the
 * limit first and recording the failure after the ~100 ms hash would let a burst of parallel
 * guesses all pass the check. With REDIS_URL the counts live in Redis, so M app instances share
 * one limit instead of allowing M times as many guesses; otherwise in this process's memory.
 */
import crypto from 'node:crypto';
import type { Redis } from 'ioredis';

export type Attempt = { ok: true; id: string } | { ok: false; retryAfter: number };

export interface LoginThrottle {
  /** Count an attempt for this email, or refuse it with the seconds to wait. Call before checking the password. */
  attempt(email: string, now?: number): Promise<Attempt>;
  /** The password was right: forget this email's failures, this attempt included. */
  succeed(email: string): Promise<void>;
  /** The attempt could not be judged (e.g. the database failed): do not hold it against the user. */
  cancel(email: string, id: string): Promise<void>;
}

export interface ThrottleLimits {
  maxFailures: number;
  windowMs: number;
}

const normalize = (email: string) => email.trim().toLowerCase();
const retrySeconds = (oldest: number, windowMs: number, now: number) => Math.max(1, Math.ceil((oldest + windowMs - now) / 1000));

/** Counts in this process's memory (one app instance, or Redis unavailable). */
export function createMemoryLoginThrottle(opts: ThrottleLimits): LoginThrottle {
  const attempts = new Map<string, { at: number; id: string }[]>();
  const recent = (key: string, now: number) => {
    const list = (attempts.get(key) ?? []).filter((a) => now - a.at < opts.windowMs);
    if (list.length) attempts.set(key, list);
    else attempts.delete(key);
    return list;
  };
  return {
    // Synchronous from read to write, so parallel requests in this process cannot interleave.
    async attempt(email, now = Date.now()) {
      const k = normalize(email);
      const list = recent(k, now);
      if (list.length >= opts.maxFailures) return { ok: false, retryAfter: retrySeconds(list[0]!.at, opts.windowMs, now) };
      const id = crypto.randomUUID();
      list.push({ at: now, id });
      attempts.set(k, list);
      // Bound the map: forget the oldest entries if someone sprays many addresses.
      if (attempts.size > 100_000) attempts.delete(attempts.keys().next().value!);
      return { ok: true, id };
    },
    async succeed(email) {
      attempts.delete(normalize(email));
    },
    async cancel(email, id) {
      const k = normalize(email);
      const list = (attempts.get(k) ?? []).filter((a) => a.id !== id);
      if (list.length) attempts.set(k, list);
      else attempts.delete(k);
    },
  };
}

/**
 * One attempt as a sliding window in a sorted set (score = time): drop what left the window, refuse
 * when full (returning the oldest score), else add this attempt. A script, so the check and the add
 * are one atomic step across every app instance.
 */
const ATTEMPT_SCRIPT = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[2]))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  return tonumber(redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2])
end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return -1
`;

/**
 * Counts in Redis under `<prefix>login:<sha256(email)>` (no addresses in Redis). While Redis fails,
 * each instance falls back to its own memory counts (reported through onError) rather than refusing
 * every sign-in or allowing unlimited guesses.
 */
export function createRedisLoginThrottle(
  opts: ThrottleLimits & { redis: Redis; prefix: string; onError(err: unknown, op: string): void; /** Key namespace (default `login`); the address and global auth limits reuse this window. */ name?: string },
): LoginThrottle {
  const local = createMemoryLoginThrottle(opts);
  const ns = opts.name ?? 'login';
  const key = (email: string) => `${opts.prefix}${ns}:${crypto.createHash('sha256').update(normalize(email)).digest('hex')}`;
  return {
    async attempt(email, now = Date.now()) {
      const id = crypto.randomUUID();
      let oldest: number;
      try {
        oldest = Number(await opts.redis.eval(ATTEMPT_SCRIPT, 1, key(email), now, opts.windowMs, opts.maxFailures, id));
      } catch (err) {
        opts.onError(err, 'attempt');
        return local.attempt(email, now);
      }
      return oldest < 0 ? { ok: true, id } : { ok: false, retryAfter: retrySeconds(oldest, opts.windowMs, now) };
    },
    async succeed(email) {
      await local.succeed(email);
      try {
        await opts.redis.del(key(email));
      } catch (err) {
        opts.onError(err, 'succeed');
      }
    },
    async cancel(email, id) {
      await local.cancel(email, id);
      try {
        await opts.redis.zrem(key(email), id);
      } catch (err) {
        opts.onError(err, 'cancel');
      }
    },
  };
}
