// Default sampling (OTEL_TRACES_SAMPLER unset): a frame that carries a sampled browser context is
// always traced, a frame without one is a root kept at OTEL_TRACES_SAMPLER_ARG (here 0: never),
// and an unsampled root costs no SDK span.
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT_CONTEXT } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { startTracing } from '../../observability/tracing';
import { contextFromTraceparent } from '../../observability/trace-context';
import { waitFor } from '../helpers/wait';

const spans = new InMemorySpanExporter();
const tracing = await startTracing({ enabled: true, serviceName: 's', instance: 'i', env: { OTEL_TRACES_SAMPLER_ARG: '0' }, spanProcessors: [new SimpleSpanProcessor(spans)] });
afterAll(() => tracing.shutdown(200));

describe('default head sampling', () => {
  it('keeps every span under a sampled remote parent', async () => {
    const parent = contextFromTraceparent('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
    const s = tracing.tracer!.startSpan('collab.message', {}, parent);
    expect(s.isRecording()).toBe(true);
    expect(s.spanContext().traceId).toBe('0af7651916cd43dd8448eb211c80319c');
    s.end();
    // Export waits for the detected resource attributes (async), so poll for it.
    await waitFor(() => spans.getFinishedSpans().length === 1, { what: 'exported span' });
    expect(spans.getFinishedSpans().map((x) => x.name)).toEqual(['collab.message']);
  });

  it('drops roots at ratio 0 and follows an unsampled parent', async () => {
    spans.reset();
    for (let i = 0; i < 100; i++) {
      const s = tracing.tracer!.startSpan('collab.message', {}, ROOT_CONTEXT);
      expect(s.isRecording()).toBe(false);
      s.end();
    }
    const unsampled = tracing.tracer!.startSpan('collab.message', {}, contextFromTraceparent('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00'));
    expect(unsampled.isRecording()).toBe(false);
    unsampled.end();
    // A recorded span under the sampled parent after them is exported: nothing before it was.
    const marker = tracing.tracer!.startSpan('marker', {}, contextFromTraceparent('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'));
    marker.end();
    await waitFor(() => spans.getFinishedSpans().length > 0, { what: 'marker exported' });
    expect(spans.getFinishedSpans().map((x) => x.name)).toEqual(['marker']);
  });
});
