// W3C traceparent handling and the tracing switch: malformed or all-zero contexts are ignored
// (a frame then starts its own trace), and tracing off hands out no tracer at all.
import { describe, expect, it } from 'vitest';
import { trace } from '@opentelemetry/api';
import { contextFromTraceparent, formatTraceparent, parseTraceparent } from '../../observability/trace-context';
import { startTracing, tracingEnabled } from '../../observability/tracing';

const TP = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

describe('traceparent', () => {
  it('round-trips a sampled context and marks it remote', () => {
    const sc = parseTraceparent(TP)!;
    expect(sc).toEqual({ traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1, isRemote: true });
    expect(formatTraceparent(sc)).toBe(TP);
    expect(formatTraceparent({ ...sc, traceFlags: 0 })).toBe(TP.replace(/01$/, '00'));
    expect(trace.getSpanContext(contextFromTraceparent(TP))?.spanId).toBe('b7ad6b7169203331');
  });

  it.each([
    ['empty', ''],
    ['wrong version', TP.replace(/^00/, 'ff')],
    ['upper case', TP.toUpperCase()],
    ['zero trace id', '00-00000000000000000000000000000000-b7ad6b7169203331-01'],
    ['zero span id', '00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01'],
    ['trailing data', `${TP}-x`],
    ['short', TP.slice(0, 50)],
  ])('ignores a %s traceparent', (_what, tp) => {
    expect(parseTraceparent(tp)).toBeNull();
    expect(trace.getSpanContext(contextFromTraceparent(tp))).toBeUndefined();
  });
});

describe('tracing switch', () => {
  it('off (or OTEL_SDK_DISABLED) gives no tracer, so instrumented code creates no spans', async () => {
    expect((await startTracing({ enabled: false, serviceName: 's', instance: 'i', env: {} })).tracer).toBeUndefined();
    expect((await startTracing({ enabled: true, serviceName: 's', instance: 'i', env: { OTEL_SDK_DISABLED: 'true' } })).tracer).toBeUndefined();
    expect(tracingEnabled(true, {})).toBe(true);
    expect(tracingEnabled(true, { OTEL_SDK_DISABLED: '1' })).toBe(false);
  });
});
