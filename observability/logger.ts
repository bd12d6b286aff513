/**
 * Structured JSON logs (pino) to stdout, with trace_id/span_id on every line when a span is
 * active, and optionally shipped to Grafana Loki (see ./loki.ts) off the hot path.
 */
import { trace, context } from '@opentelemetry/api';
import pino, { type Logger, type DestinationStream } from 'pino';

export type { Logger };

export interface LoggerOptions {
  service: string;
  instance: string;
  level: string;
  /** Extra destinations (e.g. the Loki stream); stdout is always written. */
  streams?: DestinationStream[];
  /** Write to this stream instead of stdout (tests). */
  destination?: DestinationStream;
}

/** Create the process logger. */
export function createLogger(opts: LoggerOptions): Logger {
  const base = { service: opts.service, instance: opts.instance };
  const mixin = () => {
    const span = trace.getSpan(context.active());
    if (!span) return {};
    const sc = span.spanContext();
    return sc.traceFlags & 1 || sc.traceId !== '00000000000000000000000000000000' ? { trace_id: sc.traceId, span_id: sc.spanId } : {};
  };
  const stdout = opts.destination ?? pino.destination({ fd: 1, sync: false });
  const dest = opts.streams?.length
    ? pino.multistream([{ stream: stdout, level: opts.level as pino.Level }, ...opts.streams.map((stream) => ({ stream, level: opts.level as pino.Level }))])
    : stdout;
  return pino({ level: opts.level, base, mixin, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) } }, dest);
}
