/**
 * Telemetry for the Next.js app's Node runtime, called from the root instrumentation.ts.
 * Tracing follows the same switches as collab-server: OTEL_ENABLED=true (and not
 * OTEL_SDK_DISABLED) starts the Node SDK with the OTLP/HTTP exporter; Next.js then emits its own
 * spans for every route handler and page render. Off: nothing from the SDK is loaded.
 */
import { startTracing, type Tracing } from './tracing';
import { getAppMetrics } from './app-metrics';

const KEY = Symbol.for('tandem.appTracing');

/** Start tracing (if enabled) and the metrics registry, once per process. */
export async function registerNodeTelemetry(env: Record<string, string | undefined> = process.env): Promise<void> {
  const g = globalThis as unknown as Record<symbol, Promise<Tracing> | undefined>;
  if (g[KEY]) return;
  getAppMetrics();
  const enabled = /^(true|1|yes)$/i.test(env.OTEL_ENABLED ?? '');
  g[KEY] = startTracing({ enabled, serviceName: 'tandem-app', instance: env.INSTANCE_ID || `app-${process.pid}`, env });
  await g[KEY];
}

/** Count an error Next.js reports from a request (instrumentation's onRequestError). */
export function recordRequestError(routeType: string | undefined): void {
  const allowed = ['render', 'route', 'action', 'middleware', 'proxy'];
  getAppMetrics().requestErrors.inc({ route_type: allowed.includes(routeType ?? '') ? routeType! : 'other' });
}
