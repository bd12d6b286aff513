/**
 * Spans for a group-committed batch (tracing on only): the append and apply spans of every traced
 * update (they share the group commit's timing), and a broadcast span per traced update whose trace
 * context is forwarded (TRACE_CONTEXT, server → client) to the clients that speak it, so the
 * receiving browser's render span joins the same trace.
 */
import { ROOT_CONTEXT, trace, type Span, type Tracer } from '@opentelemetry/api';
import { encode } from '../lib/protocol';
import { Attr, SpanName } from '../observability/attributes';
import { formatTraceparent } from '../observability/trace-context';
import type { Pending } from './live-doc';

/** Start the batch's spans; undefined when no update in it is traced. */
export function traceBatch(tracer: Tracer, docId: string, batch: Pending[], p0: number, p1: number, p2: number) {
  // Epoch ms: the SDK corrects performance.now() values per span, which would skew siblings.
  const [t0, t1, t2] = [p0, p1, p2].map((t) => performance.timeOrigin + t) as [number, number, number];
  const frames: (Uint8Array | undefined)[] = [];
  const spans: (Span | undefined)[] = [];
  let any = false;
  for (const p of batch) {
    if (!p.span) {
      frames.push(undefined);
      spans.push(undefined);
      continue;
    }
    any = true;
    const parent = trace.setSpan(ROOT_CONTEXT, p.span);
    const common = { [Attr.DOC_ID]: docId, [Attr.BATCH_SIZE]: batch.length };
    tracer
      .startSpan(SpanName.APPEND, { startTime: t0, attributes: { ...common, [Attr.DB_OPERATION]: 'append', [Attr.DB_BATCH_SIZE]: batch.length, [Attr.MESSAGE_BYTES]: p.update.byteLength } }, parent)
      .end(t1);
    tracer.startSpan(SpanName.APPLY, { startTime: t1, attributes: common }, parent).end(t2);
    const b = tracer.startSpan(SpanName.BROADCAST, { startTime: t2, attributes: common }, parent);
    spans.push(b);
    frames.push(encode.traceContext(formatTraceparent(b.spanContext())));
  }
  return any ? { frames, spans, counts: batch.map(() => 0) } : undefined;
}

/** End the broadcast and message spans once every socket was written to. */
export function endTraces(batch: Pending[], t: { spans: (Span | undefined)[]; counts: number[] }, done: number): void {
  for (let i = 0; i < batch.length; i++) {
    const b = t.spans[i];
    if (!b) continue;
    const n = batch[i]!.update.byteLength;
    // The frame each recipient got: [0][2][varUint n][n bytes].
    const bytes = 2 + (n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : 4) + n;
    b.setAttributes({ [Attr.FANOUT_COUNT]: t.counts[i]!, [Attr.FANOUT_BYTES]: bytes, [Attr.FANOUT_TOTAL_BYTES]: bytes * t.counts[i]! });
    b.end(performance.timeOrigin + done);
    batch[i]!.span!.setAttribute(Attr.FANOUT_COUNT, t.counts[i]!);
    batch[i]!.span!.end();
  }
}
