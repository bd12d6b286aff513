/**
 * A per-connection budget for warning lines about what a client sent. One 1 MB awareness frame used
 * to produce ~90,000 warn lines (issue 11 #1): lines about one socket's input are now a token bucket
 * (a few at once, then one per interval), and the line that ends a quiet spell says how many were
 * suppressed. The metric still counts every event.
 */

export interface LogBudgetOptions {
  /** Lines allowed at once. */
  burst: number;
  /** One more line per this many ms. */
  intervalMs: number;
}

export const DEFAULT_LOG_BUDGET: LogBudgetOptions = { burst: 3, intervalMs: 10_000 };

/** Token bucket of log lines; `take()` answers whether to log, and how many were suppressed before. */
export class LogBudget {
  private tokens: number;
  private at = Date.now();
  private suppressed = 0;

  constructor(private readonly o: LogBudgetOptions = DEFAULT_LOG_BUDGET) {
    this.tokens = o.burst;
  }

  /** Null: stay quiet (counted). Otherwise log, with `suppressed` lines skipped since the last one. */
  take(now = Date.now()): { suppressed: number } | null {
    this.tokens = Math.min(this.o.burst, this.tokens + (now - this.at) / this.o.intervalMs);
    this.at = now;
    if (this.tokens < 1) {
      this.suppressed++;
      return null;
    }
    this.tokens -= 1;
    const suppressed = this.suppressed;
    this.suppressed = 0;
    return { suppressed };
  }
}
