// collab-server (child process, LOKI_URL set) ships its pino lines to a Loki push-API receiver:
// batched, each line with trace ids when it was logged inside a span, stream labels
// {service, instance, level} only. When Loki hangs or is gone the server keeps serving and
// counts the lines it could not ship in tandem_log_lines_dropped_total.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import type { WebsocketProvider } from 'y-websocket';
import { createFixture, provider, sameState, spawnServer, synced, waitFor, type ChildServer, type Fixture } from '../helpers/fixture';
import { startLokiReceiver, type LokiReceiver } from '../helpers/obs-loki-receiver';

let fx: Fixture;
let srv: ChildServer;
let loki: LokiReceiver;
let otlp: http.Server;
const open: WebsocketProvider[] = [];

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${srv.port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : NaN;
}

beforeAll(async () => {
  fx = await createFixture();
  loki = await startLokiReceiver();
  otlp = http.createServer((req, res) => req.resume().on('end', () => res.writeHead(200).end('{}')));
  await new Promise<void>((r) => otlp.listen(0, '127.0.0.1', r));
  srv = await spawnServer(fx, {
    LOKI_URL: loki.url,
    LOKI_BATCH_INTERVAL_MS: '300',
    LOKI_TIMEOUT_MS: '1000',
    INSTANCE_ID: 'collab-loki-test',
    OTEL_ENABLED: 'true',
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(otlp.address() as { port: number }).port}`,
    OTEL_TRACES_SAMPLER: 'parentbased_always_on',
  });
});
afterAll(async () => {
  for (const p of open) p.destroy();
  srv?.proc.kill('SIGTERM');
  await srv?.exited;
  await loki?.stop();
  otlp?.close();
  fx?.cleanup();
});

async function session(docId: string, userId: string) {
  const p = provider(srv.url, docId, await fx.token(userId, docId));
  open.push(p);
  await synced(p);
  return p;
}

describe('logs shipped to Loki', () => {
  it('arrive batched, with trace ids, labelled {service, instance, level} only', async () => {
    const owner = fx.user();
    const viewer = fx.user();
    const docId = fx.doc(owner);
    fx.grant(docId, viewer, 'viewer');
    const a = await session(docId, owner);
    const v = await session(docId, viewer);
    v.doc.getText('t').insert(0, 'viewers cannot write'); // → "write refused" (info)
    a.doc.getText('t').insert(0, 'owner writes'); // individual updates are not logged at info

    const find = (msg: string) => loki.lines().find((l) => l.log.msg === msg && l.log.doc === docId);
    const refused = await waitFor(() => find('write refused'), { what: '"write refused" in Loki' });
    const opened = await waitFor(() => find('connection opened'), { what: '"connection opened" in Loki' });
    expect(refused.log.trace_id).toMatch(/^[0-9a-f]{32}$/);
    expect(refused.log.span_id).toMatch(/^[0-9a-f]{16}$/);
    expect(opened.log.trace_id).toMatch(/^[0-9a-f]{32}$/);
    expect(refused.labels).toEqual({ service: 'collab-server', instance: 'collab-loki-test', level: 'info' });
    // Timestamps are the log's own time, in nanoseconds.
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    expect(refused.ts > nowNs - 60_000_000_000n && refused.ts <= nowNs).toBe(true);

    const all = loki.lines();
    for (const l of all) expect(Object.keys(l.labels).sort()).toEqual(['instance', 'level', 'service']);
    expect(new Set(all.map((l) => l.labels.level))).toContain('info');
    // Batched: fewer pushes than lines, and at least one push carried several lines.
    expect(loki.pushes.length).toBeLessThan(all.length);
    expect(Math.max(...loki.pushes.map((p) => p.lines))).toBeGreaterThan(1);
    // No per-update lines at info level.
    expect(all.filter((l) => /update/i.test(String(l.log.msg)) && l.log.level === 'info' && l.log.doc === docId)).toEqual([]);
    expect(await metric('tandem_log_lines_dropped_total')).toBe(0);
  });

  it('a hanging or stopped Loki never stops the server, and undelivered lines are counted', async () => {
    const owner = fx.user();
    const viewer = fx.user();
    const docId = fx.doc(owner);
    fx.grant(docId, viewer, 'viewer');

    // Slow: Loki takes the request and never answers; pushes time out after LOKI_TIMEOUT_MS.
    loki.mode = 'hang';
    const a = await session(docId, owner);
    const b = await session(docId, owner);
    a.doc.getText('t').insert(0, 'still editing while Loki hangs ');
    await waitFor(() => sameState(a.doc, b.doc), { what: 'sync while Loki hangs' });
    const v = await session(docId, viewer);
    v.doc.getText('t').insert(0, 'refused');
    const afterHang = await waitFor(async () => ((await metric('tandem_log_lines_dropped_total')) > 0 ? metric('tandem_log_lines_dropped_total') : 0), {
      timeout: 15_000,
      what: 'dropped lines counted while Loki hangs',
    });

    // Down: connections refused.
    await loki.stop();
    for (let i = 0; i < 3; i++) {
      const c = await session(docId, owner);
      c.doc.getText('t').insert(0, `edit ${i} while Loki is down `);
      await waitFor(() => sameState(c.doc, a.doc), { what: 'sync while Loki is down' });
      c.destroy();
    }
    expect((await fetch(`http://127.0.0.1:${srv.port}/healthz`)).status).toBe(200);
    await waitFor(async () => (await metric('tandem_log_lines_dropped_total')) > afterHang, { timeout: 15_000, what: 'more dropped lines while Loki is down' });
    expect(srv.proc.exitCode).toBeNull();
  });
});
