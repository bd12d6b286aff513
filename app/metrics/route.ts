/** The app's Prometheus endpoint (OpenMetrics, so exemplars work the same as on collab-server). */
import { getAppMetrics } from '../../observability/app-metrics';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

export async function GET(): Promise<Response> {
  const m = getAppMetrics();
  m.metricsScrapes.inc();
  return new Response(await m.registry.metrics(), { headers: { 'content-type': m.registry.contentType, 'cache-control': 'no-store' } });
}
