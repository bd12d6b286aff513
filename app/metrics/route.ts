/**
 * The app's Prometheus endpoint (OpenMetrics, so exemplars work the same as on collab-server).
 * Served only to METRICS_ALLOWED_NETWORKS (default loopback) or with `Authorization: Bearer
 * METRICS_TOKEN`; the client is the address TRUSTED_PROXIES resolves, so nginx in front does not
 * make every visitor "local".
 */
import { getAppMetrics } from '../../observability/app-metrics';
import { createScrapeAccess } from '../../observability/scrape-access';
import { clientAddress, parseTrustedProxies } from '../_server/client-address';
import { parseAppConfig } from '../_server/config';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

// Built on first request from the environment alone: a scrape must not open the database.
let access: { check: ReturnType<typeof createScrapeAccess>; trusted: (ip: string) => boolean } | null = null;

export async function GET(req: Request): Promise<Response> {
  if (!access) {
    const cfg = parseAppConfig(process.env);
    access = { check: createScrapeAccess({ token: cfg.METRICS_TOKEN, allowedNetworks: cfg.METRICS_ALLOWED_NETWORKS }), trusted: parseTrustedProxies(cfg.TRUSTED_PROXIES) };
  }
  const m = getAppMetrics();
  const decision = access.check({ address: clientAddress(req, access.trusted), authorization: req.headers.get('authorization') });
  if (!decision.ok) {
    m.metricsRefused.inc({ status: String(decision.status) });
    const headers: Record<string, string> = { 'content-type': 'text/plain', 'cache-control': 'no-store' };
    if (decision.status === 401) headers['www-authenticate'] = 'Bearer realm="metrics"';
    return new Response(`${decision.reason}\n`, { status: decision.status, headers });
  }
  m.metricsScrapes.inc();
  return new Response(await m.registry.metrics(), { headers: { 'content-type': m.registry.contentType, 'cache-control': 'no-store' } });
}
