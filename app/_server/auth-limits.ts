/**
 * What an anonymous client may make the server spend on password hashing (issue 11, item 6): each
 * sign-in or sign-up costs one scrypt (~0.5 s of a core at the default cost), so without limits 300
 * requests with random emails took a real user's sign-in from 200 ms to 13 s. In order:
 *  1. hashes in flight per client address (this process): one address cannot hold more than a few
 *     of the hash slots, so a flood from it never queues in front of everyone else;
 *  2. attempts per address per window and 3. attempts for the whole instance per window (Redis
 *     sliding windows when REDIS_URL is set, so M app instances share them);
 *  4. a cap on hashes computed at once in this process, with a bounded line behind it.
 * Anything refused answers 429 with Retry-After before any hashing happens.
 */
import type { Redis } from 'ioredis';
import { createMemoryLoginThrottle, createRedisLoginThrottle, type LoginThrottle } from './login-throttle';

export type Gate = { ok: true; release(): void } | { ok: false; retryAfter: number; message: string };

export interface AuthLimits {
  /** Wait for a password-hash slot for `address`, or be refused. Call release() when the hash is done. */
  enter(address: string): Promise<Gate>;
  /** Hashes running and waiting in this process (for tests and metrics). */
  load(): { running: number; waiting: number };
}

export interface AuthLimitsOptions {
  perAddress: number;
  global: number;
  windowMs: number;
  hashConcurrency: number;
  hashQueue: number;
  /** In-flight hashes per address; 0 = no limit. */
  hashPerAddress: number;
  redis: Redis | null;
  prefix: string;
  onError(err: unknown, op: string): void;
}

const GLOBAL_KEY = 'all';

/** Build the limits; a limit of 0 is off. */
export function createAuthLimits(o: AuthLimitsOptions): AuthLimits {
  const window = (limit: number, name: string): LoginThrottle | null => {
    if (limit <= 0) return null;
    const l = { maxFailures: limit, windowMs: o.windowMs };
    return o.redis ? createRedisLoginThrottle({ ...l, redis: o.redis, prefix: o.prefix, name, onError: o.onError }) : createMemoryLoginThrottle(l);
  };
  const perAddress = window(o.perAddress, 'auth-addr');
  const global = window(o.global, 'auth-all');
  const inFlight = new Map<string, number>();
  let running = 0;
  const waiting: (() => void)[] = [];

  const busy = (retryAfter: number, message: string): Gate => ({ ok: false, retryAfter, message });

  function releaseSlot(address: string): void {
    const n = (inFlight.get(address) ?? 1) - 1;
    if (n > 0) inFlight.set(address, n);
    else inFlight.delete(address);
    const next = waiting.shift();
    if (next) next(); // the slot passes straight to the next in line
    else running--;
  }

  return {
    async enter(address) {
      // Reserved synchronously, before any await, so a burst from one address cannot all pass the check.
      if (o.hashPerAddress > 0 && (inFlight.get(address) ?? 0) >= o.hashPerAddress) {
        return busy(1, 'too many sign-in attempts at once from your network: try again in a moment');
      }
      inFlight.set(address, (inFlight.get(address) ?? 0) + 1);
      const refuse = (retryAfter: number, message: string): Gate => {
        const n = (inFlight.get(address) ?? 1) - 1;
        if (n > 0) inFlight.set(address, n);
        else inFlight.delete(address);
        return busy(retryAfter, message);
      };
      // Counted before anything is hashed (and never un-counted), like the per-email throttle.
      const a = perAddress ? await perAddress.attempt(address) : null;
      if (a && !a.ok) return refuse(a.retryAfter, `too many sign-in attempts from your network: try again in ${a.retryAfter} s`);
      const g = global ? await global.attempt(GLOBAL_KEY) : null;
      if (g && !g.ok) return refuse(g.retryAfter, `the server is receiving too many sign-in attempts: try again in ${g.retryAfter} s`);
      if (running >= o.hashConcurrency && waiting.length >= o.hashQueue) return refuse(1, 'the server is busy: try again in a moment');
      if (running < o.hashConcurrency) running++;
      else await new Promise<void>((resolve) => waiting.push(resolve));
      let released = false;
      return {
        ok: true,
        release() {
          if (released) return;
          released = true;
          releaseSlot(address);
        },
      };
    },
    load: () => ({ running, waiting: waiting.length }),
  };
}
