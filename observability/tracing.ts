/**
 * Tracing wiring for Node processes (collab-server, the Next.js app via instrumentation.ts).
 *
 * When tracing is off nothing from the SDK is even imported: callers get `tracer: undefined` and
 * guard every span with that (one boolean decided at startup), so the update path pays nothing.
 * When on, the OpenTelemetry Node SDK is started with the OTLP/HTTP trace exporter, configured by
 * the standard variables (OTEL_EXPORTER_OTLP_ENDPOINT / _TRACES_ENDPOINT, OTEL_EXPORTER_OTLP_HEADERS,
 * OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER(_ARG), OTEL_BSP_*,
 * OTEL_SDK_DISABLED). Metrics go to Prometheus and logs to Loki, so the SDK's own metric and log
 * pipelines are left off.
 */
import { INVALID_SPAN_CONTEXT, context, isSpanContextValid, trace, type Context, type Span, type SpanOptions, type Tracer } from '@opentelemetry/api';
import type { Sampler, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { monotonicTracer } from './span-clock';

export interface TracingOptions {
  enabled: boolean;
  /** Default service.name; OTEL_SERVICE_NAME wins. */
  serviceName: string;
  /** service.instance.id (the same value the logs and metrics carry). */
  instance: string;
  env?: Record<string, string | undefined>;
  /** Replace the OTLP exporter (tests pass an in-memory exporter's processor). */
  spanProcessors?: SpanProcessor[];
  /**
   * 'sync' (collab-server): a stack-based context manager, no async_hooks (see ./sync-context.ts).
   * 'async' (default; the Next.js app needs it): AsyncLocalStorage.
   */
  contextManager?: 'sync' | 'async';
}

export interface Tracing {
  /** undefined when tracing is off: the one switch the instrumented code checks. */
  readonly tracer: Tracer | undefined;
  /** Flush and stop, waiting at most `timeoutMs` (an unreachable collector would hold us ~8 s). */
  shutdown(timeoutMs?: number): Promise<void>;
}

/** Share of root spans (no sampled parent) kept when OTEL_TRACES_SAMPLER is unset. */
export const DEFAULT_ROOT_RATIO = 0.01;

const OFF: Tracing = { tracer: undefined, shutdown: async () => {} };

/** Whether the environment turns tracing on (OTEL_SDK_DISABLED=true always wins). */
export function tracingEnabled(enabled: boolean, env: Record<string, string | undefined>): boolean {
  return enabled && !/^(true|1)$/i.test(env.OTEL_SDK_DISABLED ?? '');
}

/** Start the SDK when enabled; otherwise return the no-op handle without loading it. */
export async function startTracing(opts: TracingOptions): Promise<Tracing> {
  const env = opts.env ?? process.env;
  if (!tracingEnabled(opts.enabled, env)) return OFF;
  const [{ NodeSDK }, { resourceFromAttributes }] = await Promise.all([import('@opentelemetry/sdk-node'), import('@opentelemetry/resources')]);
  let spanProcessors = opts.spanProcessors;
  if (!spanProcessors) {
    const [{ OTLPTraceExporter }, { BatchSpanProcessor }] = await Promise.all([
      import('@opentelemetry/exporter-trace-otlp-http'),
      import('@opentelemetry/sdk-trace-base'),
    ]);
    // BatchSpanProcessor reads OTEL_BSP_* itself; the exporter reads OTEL_EXPORTER_OTLP_*.
    spanProcessors = [new BatchSpanProcessor(new OTLPTraceExporter())];
  }
  // Without OTEL_TRACES_SAMPLER: keep every trace a sampled parent (a traced browser edit) started,
  // and sample root spans (frames from clients that sent no trace context) at
  // OTEL_TRACES_SAMPLER_ARG, default 1%. Tracing every frame costs ~30 µs of CPU per update.
  // The root decision is made before the SDK is asked (RootGateTracer), so an unsampled frame
  // costs a Math.random() instead of ~1 µs of id generation and span bookkeeping.
  let sampler: Sampler | undefined;
  let rootRatio = 1;
  if (!env.OTEL_TRACES_SAMPLER) {
    const { ParentBasedSampler, AlwaysOnSampler } = await import('@opentelemetry/sdk-trace-base');
    const arg = Number(env.OTEL_TRACES_SAMPLER_ARG);
    rootRatio = env.OTEL_TRACES_SAMPLER_ARG && Number.isFinite(arg) && arg >= 0 && arg <= 1 ? arg : DEFAULT_ROOT_RATIO;
    sampler = new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
  const contextManager = opts.contextManager === 'sync' ? new (await import('./sync-context')).SyncContextManager() : undefined;
  const sdk = new NodeSDK({
    sampler,
    contextManager,
    serviceName: env.OTEL_SERVICE_NAME || opts.serviceName,
    resource: resourceFromAttributes({ 'service.instance.id': opts.instance }),
    spanProcessors,
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [],
  });
  sdk.start();
  // Every span on one monotonic sub-millisecond clock (./span-clock.ts), behind the root gate so an
  // unsampled frame still costs only a Math.random().
  const sdkTracer = monotonicTracer(trace.getTracer('tandem', '0.1.0'));
  const tracer = rootRatio < 1 ? new RootGateTracer(sdkTracer, rootRatio) : sdkTracer;
  return {
    tracer,
    async shutdown(timeoutMs = 2000) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        sdk.shutdown().catch(() => undefined),
        new Promise<void>((r) => {
          timer = setTimeout(r, timeoutMs);
          timer.unref();
        }),
      ]);
      clearTimeout(timer);
    },
  };
}

/** A span that records nothing (what an unsampled root gets). */
const UNSAMPLED: Span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

/**
 * Head sampling of root spans in front of the SDK: spans with a valid parent (a browser's
 * traceparent, or our own sampled spans) go to the SDK, whose parent-based sampler follows the
 * parent's flag; a root is kept with probability `ratio`, and otherwise gets a shared non-recording
 * span without the SDK doing any work.
 */
class RootGateTracer implements Tracer {
  constructor(
    private readonly inner: Tracer,
    private readonly ratio: number,
  ) {}

  startSpan(name: string, options?: SpanOptions, ctx?: Context): Span {
    const parent = trace.getSpanContext(ctx ?? context.active());
    if ((!parent || !isSpanContextValid(parent)) && Math.random() >= this.ratio) return UNSAMPLED;
    return this.inner.startSpan(name, options, ctx);
  }

  startActiveSpan<F extends (span: Span) => unknown>(name: string, ...args: unknown[]): ReturnType<F> {
    return (this.inner.startActiveSpan as (n: string, ...a: unknown[]) => ReturnType<F>)(name, ...args);
  }
}
