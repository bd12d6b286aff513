/**
 * The browser half of Tandem's tracing: one trace from a keystroke, through collab-server, to the
 * moment another browser rendered the edit.
 *
 * - Outgoing: every local Yjs update the provider sends is wrapped in an `editor.edit` span, and a
 *   TRACE_CONTEXT extension frame ([104][traceparent]) goes out just before the update frame, so
 *   the server's `collab.message` span is that span's child.
 * - Opt-in: on every (re)connect an empty TRACE_CONTEXT frame tells the server this client
 *   understands trace context; the server then sends [104][traceparent of its broadcast span]
 *   before each traced update it forwards.
 * - Incoming: the next sync frame after such a context gets an `editor.render` span (child of the
 *   server's `collab.broadcast`) that ends after the following paint.
 *
 * Exporting is off unless NEXT_PUBLIC_OTEL_EXPORTER_OTLP_ENDPOINT is set; `startBrowserTracing`
 * loads the OpenTelemetry web SDK only then. Works on a stock y-websocket `WebsocketProvider`.
 */
import { SpanKind, type Tracer } from '@opentelemetry/api';
import type { WebsocketProvider } from 'y-websocket';
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import { MessageType, encode } from '../lib/protocol';
import { Attr, SpanName } from './attributes';
import { contextFromTraceparent, formatTraceparent } from './trace-context';
import { monotonicTracer } from './span-clock';

type Handler = (encoder: encoding.Encoder, decoder: decoding.Decoder, provider: WebsocketProvider, emitSynced: boolean, messageType: number) => void;

/** The y-websocket internals we wrap (stable across 1.x–3.x). */
interface ProviderInternals {
  _updateHandler: (update: Uint8Array, origin: unknown) => void;
  messageHandlers: Handler[];
  ws: { send(data: Uint8Array): void; readyState: number } | null;
  wsconnected: boolean;
  roomname: string;
}

export interface BrowserTracingOptions {
  tracer: Tracer;
  /** Called when the edit is on screen; default: after the next animation frame (a paint). */
  afterRender?: (done: () => void) => void;
}

const defaultAfterRender = (done: () => void) => {
  if (typeof requestAnimationFrame === 'function') requestAnimationFrame(() => setTimeout(done, 0));
  else setTimeout(done, 0);
};

/** Trace this provider's outgoing edits and incoming renders. Returns a function that detaches. */
export function attachBrowserTracing(provider: WebsocketProvider, opts: BrowserTracingOptions): () => void {
  const p = provider as unknown as ProviderInternals;
  // Same clock as the server's spans: monotonic and sub-millisecond, never Date.now().
  const tracer = monotonicTracer(opts.tracer);
  const afterRender = opts.afterRender ?? defaultAfterRender;
  const send = (frame: Uint8Array) => {
    if (p.wsconnected && p.ws && p.ws.readyState === 1) p.ws.send(frame);
  };

  // Outgoing edits: the provider's own update handler, inside a span, preceded by our context.
  const originalUpdate = p._updateHandler;
  // Local edits made while disconnected: they reach the server as the sync step 2 this client
  // answers the server's sync step 1 with on reconnect, traced there (below) as one editor.edit.
  let offlineUpdates = 0;
  const tracedUpdate = (update: Uint8Array, origin: unknown) => {
    if (origin === provider) return originalUpdate(update, origin);
    if (!p.wsconnected) {
      offlineUpdates++;
      return originalUpdate(update, origin);
    }
    const span = tracer.startSpan(SpanName.BROWSER_EDIT, {
      kind: SpanKind.CLIENT,
      attributes: { [Attr.DOC_ID]: p.roomname, [Attr.MESSAGE_BYTES]: update.byteLength },
    });
    try {
      send(encode.traceContext(formatTraceparent(span.spanContext())));
      originalUpdate(update, origin);
    } finally {
      span.end();
    }
  };
  provider.doc.off('update', originalUpdate);
  provider.doc.on('update', tracedUpdate);
  p._updateHandler = tracedUpdate;

  // Opt in to receiving the server's broadcast context on every connection.
  const onStatus = ({ status }: { status: string }) => {
    if (status === 'connected') send(encode.traceContext(''));
  };
  provider.on('status', onStatus);
  if (p.wsconnected) send(encode.traceContext(''));

  // Incoming: remember the context, and trace the sync frame it applies to.
  let remote: string | null = null;
  const originalTraceHandler = p.messageHandlers[MessageType.TRACE_CONTEXT];
  p.messageHandlers[MessageType.TRACE_CONTEXT] = (_enc, dec) => {
    remote = decoding.readVarString(dec);
  };
  const originalSync = p.messageHandlers[MessageType.SYNC]!;
  p.messageHandlers[MessageType.SYNC] = (enc, dec, prov, emitSynced, type) => {
    const tp = remote;
    remote = null;
    // The server's sync step 1 after a reconnect: our reply (step 2, written into `enc` and sent by
    // the provider right after this handler) carries the offline edits. Its context goes first.
    if (!tp && offlineUpdates > 0 && decoding.peekVarUint(dec) === 0) {
      const span = tracer.startSpan(SpanName.BROWSER_EDIT, {
        kind: SpanKind.CLIENT,
        attributes: { [Attr.DOC_ID]: p.roomname, [Attr.EDIT_OFFLINE]: true, [Attr.EDIT_OFFLINE_UPDATES]: offlineUpdates },
      });
      offlineUpdates = 0;
      try {
        send(encode.traceContext(formatTraceparent(span.spanContext())));
        originalSync(enc, dec, prov, emitSynced, type);
        span.setAttribute(Attr.MESSAGE_BYTES, encoding.length(enc));
      } finally {
        span.end();
      }
      return;
    }
    if (!tp) return originalSync(enc, dec, prov, emitSynced, type);
    const span = tracer.startSpan(
      SpanName.BROWSER_RENDER,
      { kind: SpanKind.CONSUMER, attributes: { [Attr.DOC_ID]: p.roomname, [Attr.MESSAGE_BYTES]: dec.arr.byteLength } },
      contextFromTraceparent(tp),
    );
    try {
      // Applies the update; the editor (y-prosemirror) updates its view synchronously in here.
      originalSync(enc, dec, prov, emitSynced, type);
    } finally {
      afterRender(() => span.end());
    }
  };

  return () => {
    provider.doc.off('update', tracedUpdate);
    provider.doc.on('update', originalUpdate);
    p._updateHandler = originalUpdate;
    provider.off('status', onStatus);
    p.messageHandlers[MessageType.SYNC] = originalSync;
    if (originalTraceHandler) p.messageHandlers[MessageType.TRACE_CONTEXT] = originalTraceHandler;
    else delete p.messageHandlers[MessageType.TRACE_CONTEXT];
  };
}

/** The OTLP/HTTP endpoint browsers export to, or undefined (the default: tracing off). */
export function browserTracingEndpoint(): string | undefined {
  // A literal `process.env.NEXT_PUBLIC_…` so Next.js inlines it into the client bundle.
  return process.env.NEXT_PUBLIC_OTEL_EXPORTER_OTLP_ENDPOINT || undefined;
}

/**
 * Start the web SDK exporting to `endpoint` (the collector's OTLP/HTTP base URL, e.g.
 * http://localhost:4318; CORS must allow the app's origin). Loaded lazily: the editor bundle pulls
 * in nothing from the SDK unless this is called.
 */
export async function startBrowserTracing(opts: { endpoint: string; serviceName?: string }): Promise<{ tracer: Tracer; shutdown(): Promise<void> }> {
  const [{ WebTracerProvider, BatchSpanProcessor }, { OTLPTraceExporter }, { resourceFromAttributes }] = await Promise.all([
    import('@opentelemetry/sdk-trace-web'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
  ]);
  const url = `${opts.endpoint.replace(/\/$/, '')}/v1/traces`;
  const provider = new WebTracerProvider({
    resource: resourceFromAttributes({ 'service.name': opts.serviceName ?? 'tandem-browser' }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url }))],
  });
  return { tracer: provider.getTracer('tandem-browser', '0.1.0'), shutdown: () => provider.shutdown() };
}

let sharedTracer: Promise<Tracer> | null = null;

/**
 * The editor's one call: trace this provider when NEXT_PUBLIC_OTEL_EXPORTER_OTLP_ENDPOINT was set
 * at build time; otherwise nothing happens and nothing is loaded. One SDK per page.
 */
export function traceProviderIfConfigured(provider: WebsocketProvider): void {
  const endpoint = browserTracingEndpoint();
  if (!endpoint) return;
  sharedTracer ??= startBrowserTracing({ endpoint }).then((t) => t.tracer);
  sharedTracer.then(
    (tracer) => attachBrowserTracing(provider, { tracer }),
    (err: unknown) => console.warn('browser tracing unavailable:', err),
  );
}
