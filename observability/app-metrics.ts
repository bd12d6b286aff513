/**
 * The app process's one metrics registry. Next.js loads instrumentation.ts and each route handler
 * as separate module instances, so the registry is kept on globalThis (under a Symbol) rather than
 * in a module variable; collab-server, by contrast, passes its registry down explicitly.
 */
import { createAppMetrics, type AppMetrics } from './metrics';

const KEY = Symbol.for('tandem.appMetrics');

/** The app's metrics, created on first use. */
export function getAppMetrics(): AppMetrics {
  const g = globalThis as unknown as Record<symbol, AppMetrics | undefined>;
  return (g[KEY] ??= createAppMetrics());
}
