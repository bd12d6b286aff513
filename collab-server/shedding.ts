/**
 * Load shedding: while the event loop lags past a threshold or the process nears its memory
 * budget, new sockets are refused (HTTP 503 with Retry-After before the upgrade) so the sockets
 * already open keep their share of the machine; /readyz reports it so a load balancer steers new
 * clients to another instance. Hysteresis: shedding ends only after the signal has been below
 * its threshold for `recoverMs`, so admission does not flap.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import v8 from 'node:v8';
import type { CollabMetrics } from '../observability/metrics';
import type { Logger } from '../observability/logger';

export interface SheddingOptions {
  /** Event-loop delay (p99 over each sample period, two periods in a row) past which new sockets are refused; 0 = off. */
  eventLoopLagMs: number;
  /** Memory budget in bytes (resident set); shed past `memoryHighRatio` of it. 0 = 85 % of V8's heap limit, applied to heap used; negative = off. */
  memoryBudgetBytes: number;
  memoryHighRatio: number;
  /** How often the signals are sampled. */
  sampleMs: number;
  /** Below every threshold this long before admitting again. */
  recoverMs: number;
  /** Retry-After sent with a 503 (seconds). */
  retryAfterSec: number;
}

export const DEFAULT_SHEDDING: SheddingOptions = {
  eventLoopLagMs: 200,
  memoryBudgetBytes: 0,
  memoryHighRatio: 0.9,
  sampleMs: 500,
  recoverMs: 2000,
  retryAfterSec: 5,
};

export type ShedReason = 'event-loop-lag' | 'memory';

export interface LoadShedder {
  /** Why new sockets are refused right now, or null. */
  readonly reason: ShedReason | null;
  readonly lastLagMs: number;
  readonly retryAfterSec: number;
  stop(): void;
}

/** Start sampling; `reason` is non-null while shedding. */
export function createLoadShedder(o: SheddingOptions & { metrics: CollabMetrics; log: Logger }): LoadShedder {
  let reason: ShedReason | null = null;
  let calmSince = 0;
  let lastLagMs = 0;
  /** Samples in a row over the lag threshold: one GC pause or one large document load is not overload. */
  let lagged = 0;
  let h: IntervalHistogram | null = null;
  if (o.eventLoopLagMs > 0) {
    h = monitorEventLoopDelay({ resolution: 10 });
    h.enable();
  }
  const heapLimit = v8.getHeapStatistics().heap_size_limit;
  const sample = (): ShedReason | null => {
    if (h) {
      lastLagMs = h.percentile(99) / 1e6;
      h.reset();
      lagged = lastLagMs > o.eventLoopLagMs ? lagged + 1 : 0;
      if (lagged >= 2) return 'event-loop-lag';
    }
    if (o.memoryBudgetBytes < 0) return null;
    const mem = process.memoryUsage();
    if (o.memoryBudgetBytes > 0 ? mem.rss > o.memoryBudgetBytes * o.memoryHighRatio : mem.heapUsed > heapLimit * 0.85 * o.memoryHighRatio) return 'memory';
    return null;
  };
  const timer = setInterval(() => {
    const now = Date.now();
    const over = sample();
    if (over) {
      calmSince = 0;
      if (reason !== over) {
        if (reason) o.metrics.shedding.set({ reason }, 0);
        o.log.warn({ reason: over, eventLoopLagMs: Math.round(lastLagMs), rss: process.memoryUsage().rss }, 'overloaded: shedding new sockets');
        o.metrics.shedding.set({ reason: over }, 1);
      }
      reason = over;
    } else if (reason) {
      if (!calmSince) calmSince = now;
      else if (now - calmSince >= o.recoverMs) {
        o.log.info({ eventLoopLagMs: Math.round(lastLagMs) }, 'load back under thresholds: admitting new sockets');
        o.metrics.shedding.set({ reason }, 0);
        reason = null;
        calmSince = 0;
      }
    }
  }, o.sampleMs);
  timer.unref();
  return {
    get reason() {
      return reason;
    },
    get lastLagMs() {
      return lastLagMs;
    },
    retryAfterSec: o.retryAfterSec,
    stop() {
      clearInterval(timer);
      h?.disable();
      if (reason) o.metrics.shedding.set({ reason }, 0);
    },
  };
}
