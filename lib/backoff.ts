/**
 * Reconnect delays for Tandem's client (issue 13). The stock y-websocket provider waits
 * min(100·2^n, 2500) ms with no jitter, so after a server restart every tab comes back in the same
 * few hundred milliseconds. Here: exponential back-off with full jitter (AWS architecture blog,
 * "Exponential Backoff And Jitter"), a server's retry hint honoured, and a 1012 restart spread
 * over seconds. Pure: the random source is a parameter.
 */
import { CloseCode } from './close-codes';

export interface BackoffOptions {
  /** First step of the exponential back-off (ms). */
  baseMs: number;
  /** Largest back-off (ms). */
  capMs: number;
  /** After a 1012 (server restarting) the return is spread uniformly over this long (ms). */
  restartSpreadMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 250, capMs: 30_000, restartSpreadMs: 5000 };

/** A retry hint in a close reason: "retry after 10s", "retry after 1500ms", "retry-after=10" (seconds). */
export function retryHintMs(reason: string | undefined | null): number | null {
  if (!reason) return null;
  const m = /retry[- ]after[ =:]*(\d+(?:\.\d+)?)\s*(ms|s)?/i.exec(reason);
  if (!m) return null;
  const n = Number(m[1]);
  return Math.min(10 * 60_000, m[2]?.toLowerCase() === 'ms' ? n : n * 1000);
}

/**
 * How long to wait before reconnect attempt number `attempt` (0 = first) after a close with
 * `code`/`reason`: a hint waits at least the hint (plus up to half of it, so a crowd told the same
 * thing does not return together); 1012 is spread over `restartSpreadMs`; otherwise full jitter.
 */
export function reconnectDelayMs(attempt: number, code: number | undefined, reason: string | undefined, o: BackoffOptions = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const hint = retryHintMs(reason);
  if (hint !== null) return Math.round(hint + random() * hint * 0.5);
  if (code === CloseCode.SERVICE_RESTART && attempt === 0) return Math.round(random() * o.restartSpreadMs);
  return Math.round(random() * Math.min(o.capMs, o.baseMs * 2 ** Math.min(attempt, 30)));
}
