// The app's /metrics (the real route handler behind a Node HTTP server that stamps the peer address,
// as `next start` does): refused without the scrape token from outside METRICS_ALLOWED_NETWORKS
// (401/403), and Debian's Prometheus, given the token, scrapes it (up = 1) while a job without the
// token is refused (up = 0). Behind nginx the client is the X-Forwarded-For address, not the proxy.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import { installPeerAddressHeader } from '../../app/_server/client-address';
import { startPrometheus, type PrometheusProc } from '../helpers/obs-prometheus';

const TOKEN = 'scrape-token-for-tests-0123456789';
let srv: http.Server;
let url: string;
let prom: PrometheusProc;

beforeAll(async () => {
  // Only a network the test never comes from is trusted without the token; loopback is the trusted proxy.
  Object.assign(process.env, { METRICS_TOKEN: TOKEN, METRICS_ALLOWED_NETWORKS: '10.99.0.0/16', TRUSTED_PROXIES: 'loopback' });
  installPeerAddressHeader();
  const { GET } = await import('../../app/metrics/route');
  srv = http.createServer(async (req, res) => {
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers.set(k, v);
    const r = await GET(new Request(`http://127.0.0.1${req.url}`, { headers }));
    res.writeHead(r.status, Object.fromEntries(r.headers)).end(await r.text());
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  url = `http://127.0.0.1:${port}/metrics`;
  prom = await startPrometheus([], {
    jobs: [
      { name: 'app', targets: [`127.0.0.1:${port}`], bearerToken: TOKEN },
      { name: 'app-no-token', targets: [`localhost:${port}`] },
    ],
  });
});
afterAll(async () => {
  await prom?.stop();
  srv?.close();
});

describe("the app's /metrics", () => {
  it('without the scrape token gets 401, with a wrong one 401, from an allowed network 200', async () => {
    const none = await fetch(url);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect((await fetch(url, { headers: { authorization: 'Bearer nope-nope-nope-nope' } })).status).toBe(401);
    const ok = await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('tandem_app_metrics_scrapes_total');
    // Through the loopback proxy, a client in the allowed network needs no token...
    expect((await fetch(url, { headers: { 'x-forwarded-for': '10.99.3.4' } })).status).toBe(200);
    // ...and a visitor from elsewhere is not made "local" by the proxy.
    expect((await fetch(url, { headers: { 'x-forwarded-for': '203.0.113.9' } })).status).toBe(401);
  });

  it('Prometheus with the token scrapes it; without the token the scrape is refused', async () => {
    await prom.waitValue('up{job="app"}', (v) => v === 1, 'app scraped with the token');
    await prom.waitValue('up{job="app-no-token"}', (v) => v === 0, 'app scrape without token refused');
    await prom.waitValue('tandem_app_metrics_refused_total{status="401"}', (v) => v >= 1, 'refusals counted');
  });
});

describe('scrape access without a token configured', () => {
  it('outside the allowed networks is 403', async () => {
    const { createScrapeAccess } = await import('../../observability/scrape-access');
    const check = createScrapeAccess({ allowedNetworks: 'loopback, 192.168.0.0/16' });
    expect(check({ address: '::ffff:127.0.0.1', authorization: null })).toEqual({ ok: true, via: 'network' });
    expect(check({ address: '192.168.4.5', authorization: null }).ok).toBe(true);
    expect(check({ address: '203.0.113.9', authorization: null })).toMatchObject({ ok: false, status: 403 });
    expect(check({ address: '203.0.113.9', authorization: 'Bearer guess-guess-guess' })).toMatchObject({ ok: false, status: 401 });
    expect(() => createScrapeAccess({ allowedNetworks: 'not-an-ip' })).toThrow(/METRICS_ALLOWED_NETWORKS/);
  });
});
