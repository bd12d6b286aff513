// Debian's prometheus scrapes a real collab-server (child process, main.ts) under traffic; its
// HTTP API shows the socket gauge, the update-latency histogram (with trace-id exemplars) and the
// closes-by-code counter moving with what this test did.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import type { WebsocketProvider } from 'y-websocket';
import { createFixture, provider, spawnServer, synced, waitFor, type ChildServer, type Fixture } from '../helpers/fixture';
import { startPrometheus, type PrometheusProc } from '../helpers/obs-prometheus';

let fx: Fixture;
let srv: ChildServer;
let prom: PrometheusProc;
let otlp: http.Server;
const otlpRequests: number[] = [];
const open: WebsocketProvider[] = [];

beforeAll(async () => {
  fx = await createFixture();
  // A stand-in OTLP/HTTP collector, so tracing (and with it exemplars) is on in the child.
  otlp = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      otlpRequests.push(Date.now());
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => otlp.listen(0, '127.0.0.1', r));
  const otlpPort = (otlp.address() as { port: number }).port;
  srv = await spawnServer(fx, {
    OTEL_ENABLED: 'true',
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${otlpPort}`,
    OTEL_BSP_SCHEDULE_DELAY: '200',
    OTEL_TRACES_SAMPLER: 'parentbased_always_on',
    INSTANCE_ID: 'collab-prom-test',
  });
  prom = await startPrometheus([`127.0.0.1:${srv.port}`]);
});
afterAll(async () => {
  for (const p of open) p.destroy();
  srv?.proc.kill('SIGTERM');
  await srv?.exited;
  await prom?.stop();
  otlp?.close();
  fx?.cleanup();
});

describe('prometheus scraping collab-server', () => {
  it('sees open sockets, update latency with exemplars, and closes by code', async () => {
    const owner = fx.user();
    const stranger = fx.user();
    const docId = fx.doc(owner);
    const editors: WebsocketProvider[] = [];
    for (let i = 0; i < 3; i++) {
      const p = provider(srv.url, docId, await fx.token(owner, docId));
      open.push(p);
      editors.push(p);
    }
    await Promise.all(editors.map((p) => synced(p)));
    // A stranger is refused with 4403 (FORBIDDEN) after the upgrade.
    const refused = provider(srv.url, docId, await fx.token(stranger, docId));
    open.push(refused);
    await waitFor(() => (refused as unknown as { shouldConnect: boolean }).shouldConnect === false, { what: 'stranger refused' });
    const edits = 40;
    for (let k = 0; k < edits; k++) editors[k % 3]!.doc.getText('t').insert(0, `edit ${k};`);

    const sockets = await prom.waitValue('tandem_open_sockets{job="collab-server"}', (v) => v === 3, 'three open sockets');
    expect(sockets).toBe(3);
    const updates = await prom.waitValue('sum(tandem_update_handling_seconds_count)', (v) => v >= edits, 'update latency count');
    expect(updates).toBeGreaterThanOrEqual(edits);
    const p99 = await prom.waitValue('histogram_quantile(0.99, sum by (le) (tandem_update_handling_seconds_bucket))', (v) => Number.isFinite(v) && v > 0, 'p99');
    expect(p99).toBeLessThan(2.5);
    const forbidden = await prom.waitValue('sum(tandem_connections_closed_total{code="FORBIDDEN"})', (v) => v >= 1, 'FORBIDDEN closes');
    expect(forbidden).toBe(1);

    // Exemplars on the latency histogram carry trace ids (Grafana jumps from a bucket to Tempo).
    const exemplars = await waitFor(
      async () => {
        const now = Date.now() / 1000;
        const r = await prom.api('query_exemplars', { query: 'tandem_update_handling_seconds_bucket', start: String(now - 300), end: String(now + 5) });
        const all = (r as { seriesLabels: unknown; exemplars: { labels: Record<string, string> }[] }[]).flatMap((s) => s.exemplars);
        return all.length > 0 ? all : null;
      },
      { timeout: 20_000, interval: 250, what: 'exemplars in prometheus' },
    );
    expect(exemplars[0]!.labels.trace_id).toMatch(/^[0-9a-f]{32}$/);
    expect(otlpRequests.length).toBeGreaterThan(0);

    // One editor leaves normally: the gauge follows and the close is counted by its code.
    editors[0]!.destroy();
    await prom.waitValue('tandem_open_sockets{job="collab-server"}', (v) => v === 2, 'two open sockets');
    const closesByCode = await prom.vector('sum by (code) (tandem_connections_closed_total)');
    // ws.close() without a code reaches the server as 1005, named NO_STATUS.
    expect(closesByCode).toEqual({ FORBIDDEN: 1, NO_STATUS: 1 });
  });
});
