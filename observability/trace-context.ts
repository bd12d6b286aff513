/**
 * W3C Trace Context (`traceparent`) in and out, with only @opentelemetry/api: the browser sends
 * one in a TRACE_CONTEXT extension frame before an update, and the server forwards its broadcast
 * span's to the other browsers, so one trace runs keystroke → server → other browser.
 */
import { ROOT_CONTEXT, trace, type Context, type SpanContext } from '@opentelemetry/api';

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const ZERO_TRACE = '00000000000000000000000000000000';
const ZERO_SPAN = '0000000000000000';

/** Parse a version-00 traceparent into a remote span context; null if malformed or all-zero. */
export function parseTraceparent(tp: string | null | undefined): SpanContext | null {
  if (!tp || tp.length !== 55) return null;
  const m = TRACEPARENT.exec(tp);
  if (!m || m[1] === ZERO_TRACE || m[2] === ZERO_SPAN) return null;
  return { traceId: m[1]!, spanId: m[2]!, traceFlags: parseInt(m[3]!, 16) & 1, isRemote: true };
}

/** A context whose parent is the remote span in `tp` (ROOT_CONTEXT when there is none). */
export function contextFromTraceparent(tp: string | null | undefined, base: Context = ROOT_CONTEXT): Context {
  const sc = parseTraceparent(tp);
  return sc ? trace.setSpanContext(base, sc) : base;
}

/** Format a span context as a traceparent header value. */
export function formatTraceparent(sc: SpanContext): string {
  return `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 1) === 1 ? '01' : '00'}`;
}
