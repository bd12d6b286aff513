/**
 * One clock for every span, in Node and in the browser: `performance.timeOrigin + performance.now()`
 * (monotonic, sub-millisecond, epoch-based). Without it the OpenTelemetry SDK starts a span with no
 * explicit start time on `Date.now()` (whole milliseconds, wall clock that NTP may step) and ends a
 * span that was given a start time on `Date.now()` again, while Tandem's batch spans use
 * performance.now(): children then started before or ended after their parents, and the queue gap
 * between a `collab.message` start and its `collab.append` carried ~1 ms of rounding.
 * Epoch milliseconds (not raw performance.now() values) because the SDK re-derives a per-span
 * offset for those, which skews siblings.
 */
import { context, trace, type Context, type Exception, type Link, type Span, type SpanAttributes, type SpanAttributeValue, type SpanContext, type SpanOptions, type SpanStatus, type TimeInput, type Tracer } from '@opentelemetry/api';

/** Now, in epoch milliseconds with sub-millisecond precision, from the monotonic clock. */
export const spanNow = (): number => performance.timeOrigin + performance.now();

/** A recording span whose end and event times default to spanNow(). */
class MonotonicSpan implements Span {
  constructor(readonly inner: Span) {}
  spanContext(): SpanContext {
    return this.inner.spanContext();
  }
  setAttribute(key: string, value: SpanAttributeValue): this {
    this.inner.setAttribute(key, value);
    return this;
  }
  setAttributes(attributes: SpanAttributes): this {
    this.inner.setAttributes(attributes);
    return this;
  }
  addEvent(name: string, attributesOrStartTime?: SpanAttributes | TimeInput, startTime?: TimeInput): this {
    const isTime = typeof attributesOrStartTime === 'number' || attributesOrStartTime instanceof Date || Array.isArray(attributesOrStartTime);
    if (isTime) this.inner.addEvent(name, attributesOrStartTime as TimeInput);
    else this.inner.addEvent(name, attributesOrStartTime as SpanAttributes | undefined, startTime ?? spanNow());
    return this;
  }
  addLink(link: Link): this {
    this.inner.addLink(link);
    return this;
  }
  addLinks(links: Link[]): this {
    this.inner.addLinks(links);
    return this;
  }
  setStatus(status: SpanStatus): this {
    this.inner.setStatus(status);
    return this;
  }
  updateName(name: string): this {
    this.inner.updateName(name);
    return this;
  }
  end(endTime?: TimeInput): void {
    this.inner.end(endTime ?? spanNow());
  }
  isRecording(): boolean {
    return this.inner.isRecording();
  }
  recordException(exception: Exception, time?: TimeInput): void {
    this.inner.recordException(exception, time ?? spanNow());
  }
}

class MonotonicTracer implements Tracer {
  constructor(private readonly inner: Tracer) {}

  startSpan(name: string, options?: SpanOptions, ctx?: Context): Span {
    const span = this.inner.startSpan(name, options?.startTime !== undefined ? options : { ...options, startTime: spanNow() }, ctx);
    // Unsampled spans record nothing: no wrapper, no allocation.
    return span.isRecording() ? new MonotonicSpan(span) : span;
  }

  startActiveSpan<F extends (span: Span) => unknown>(name: string, ...args: unknown[]): ReturnType<F> {
    const fn = args[args.length - 1] as F;
    const options = (args.length > 1 ? args[0] : undefined) as SpanOptions | undefined;
    const ctx = (args.length > 2 ? args[1] : undefined) as Context | undefined;
    const parent = ctx ?? context.active();
    const span = this.startSpan(name, options, parent);
    return context.with(trace.setSpan(parent, span), fn as (s: Span) => ReturnType<F>, undefined, span);
  }
}

const WRAPPED = Symbol.for('tandem.monotonicTracer');

/** Wrap a tracer so every span it starts and ends is timed by spanNow() unless told otherwise. */
export function monotonicTracer(tracer: Tracer): Tracer {
  if ((tracer as unknown as Record<symbol, boolean>)[WRAPPED]) return tracer;
  const t = new MonotonicTracer(tracer);
  (t as unknown as Record<symbol, boolean>)[WRAPPED] = true;
  return t;
}
