/**
 * Online password guessing protection: after LOGIN_MAX_FAILURES wrong passwords for one email
 * within LOGIN_WINDOW_SECONDS, further attempts for that email get 429 with Retry-After until the
 * oldest failure leaves the window. A successful login clears the count. Kept in memory: the app is
 * one process, and a restart forgetting the counts only costs an attacker's wait.
 */
export interface LoginThrottle {
  /** Seconds to wait before another attempt for this email, or 0 if allowed now. */
  retryAfter(email: string, now?: number): number;
  fail(email: string, now?: number): void;
  succeed(email: string): void;
}

export function createLoginThrottle(opts: { maxFailures: number; windowMs: number }): LoginThrottle {
  const failures = new Map<string, number[]>();
  const recent = (key: string, now: number) => {
    const list = (failures.get(key) ?? []).filter((t) => now - t < opts.windowMs);
    if (list.length) failures.set(key, list);
    else failures.delete(key);
    return list;
  };
  const key = (email: string) => email.trim().toLowerCase();
  return {
    retryAfter(email, now = Date.now()) {
      const list = recent(key(email), now);
      if (list.length < opts.maxFailures) return 0;
      return Math.max(1, Math.ceil((list[0]! + opts.windowMs - now) / 1000));
    },
    fail(email, now = Date.now()) {
      const k = key(email);
      const list = recent(k, now);
      list.push(now);
      failures.set(k, list);
      // Bound the map: forget the oldest entries if someone sprays many addresses.
      if (failures.size > 100_000) failures.delete(failures.keys().next().value!);
    },
    succeed(email) {
      failures.delete(key(email));
    },
  };
}
