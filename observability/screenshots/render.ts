/**
 * Renders the two Grafana dashboards from real data, without Grafana (it needs Docker, which this
 * machine type cannot run):   node --import tsx observability/screenshots/render.ts [seconds]
 *
 * 1. Starts a real collab-server (collab-server/main.ts, child process) with tracing on (OTLP/HTTP
 *    to a local receiver in this script) and Loki shipping on (to the Loki push-API receiver from
 *    tests/helpers), and Debian's prometheus scraping its /metrics every second.
 * 2. Drives traffic for N seconds (default 90): editors typing in several documents through stock
 *    y-websocket providers with observability/browser.ts attached (browser spans exported by
 *    OTLP/HTTP too), viewers whose writes are refused, strangers refused at connect, reconnects.
 * 3. Overview: runs every panel's PromQL (from tandem-overview.json, $__rate_interval = 15s)
 *    against prometheus' /api/v1/query_range and draws the series as SVG in a Grafana-like grid.
 *    Document drill-down: applies each Tempo panel's TraceQL filter to the spans the OTLP receiver
 *    got, and each Loki panel's selector + `| json | doc = …` to the lines the Loki receiver got,
 *    and draws the slowest edit's trace as a waterfall (what clicking a row opens in Grafana).
 * 4. Screenshots the pages with headless /usr/bin/chromium (playwright-core) into this folder.
 */
import http from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { WebsocketProvider } from 'y-websocket';
import { attachBrowserTracing } from '../browser';
import { Attr, SpanName } from '../attributes';
import { ROOT, createFixture, provider, spawnServer, synced, waitFor } from '../../tests/helpers/fixture';
import { startPrometheus } from '../../tests/helpers/obs-prometheus';
import { startLokiReceiver } from '../../tests/helpers/obs-loki-receiver';

const SECONDS = Number(process.argv[2] ?? 90);
const OUT = join(ROOT, 'observability/screenshots');
const log = (m: string) => console.log(`[render ${((performance.now() / 1000) | 0).toString().padStart(3)}s] ${m}`);

// ---- an OTLP/HTTP (JSON) trace receiver -------------------------------------------------------
interface RSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  service: string;
  start: number; // ms
  end: number;
  attrs: Record<string, string | number | boolean>;
}
const spans: RSpan[] = [];
const otlp = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    try {
      const body = JSON.parse(Buffer.concat(chunks).toString()) as {
        resourceSpans: { resource: { attributes: KV[] }; scopeSpans: { spans: OSpan[] }[] }[];
      };
      for (const rs of body.resourceSpans) {
        const service = String(attrs(rs.resource.attributes)['service.name'] ?? '');
        for (const ss of rs.scopeSpans)
          for (const s of ss.spans)
            spans.push({
              traceId: s.traceId,
              spanId: s.spanId,
              parentSpanId: s.parentSpanId ?? '',
              name: s.name,
              service,
              start: Number(BigInt(s.startTimeUnixNano) / 1000n) / 1000,
              end: Number(BigInt(s.endTimeUnixNano) / 1000n) / 1000,
              attrs: attrs(s.attributes ?? []),
            });
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    } catch (err) {
      res.writeHead(400).end(String(err));
    }
  });
});
type KV = { key: string; value: { stringValue?: string; intValue?: string | number; doubleValue?: number; boolValue?: boolean } };
type OSpan = { traceId: string; spanId: string; parentSpanId?: string; name: string; startTimeUnixNano: string; endTimeUnixNano: string; attributes?: KV[] };
const attrs = (kv: KV[]) =>
  Object.fromEntries(kv.map(({ key, value: v }) => [key, v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : (v.doubleValue ?? v.boolValue ?? ''))]));

// ---- run ---------------------------------------------------------------------------------------
await new Promise<void>((r) => otlp.listen(0, '127.0.0.1', r));
const otlpUrl = `http://127.0.0.1:${(otlp.address() as { port: number }).port}`;
const loki = await startLokiReceiver();
const fx = await createFixture();
const srv = await spawnServer(fx, {
  OTEL_ENABLED: 'true',
  OTEL_EXPORTER_OTLP_ENDPOINT: otlpUrl,
  OTEL_BSP_SCHEDULE_DELAY: '500',
  OTEL_SERVICE_NAME: 'collab-server',
  // Every trace, so loads and compactions show up in a short demo (production default: 1% of roots).
  OTEL_TRACES_SAMPLER: 'parentbased_always_on',
  LOKI_URL: loki.url,
  LOKI_BATCH_INTERVAL_MS: '500',
  INSTANCE_ID: 'collab-1',
});
// The app's /metrics route handler (app/metrics/route.ts), served from this process: Next.js is
// not running here, but the handler and its registry are the real ones.
const { GET: appMetricsRoute } = await import('../../app/metrics/route');
const appSrv = http.createServer(async (_req, res) => {
  // A loopback request, as Prometheus on this machine makes it (METRICS_ALLOWED_NETWORKS default).
  const r = await appMetricsRoute(new Request('http://127.0.0.1/metrics', { headers: { 'x-tandem-peer-address': '127.0.0.1' } }));
  res.writeHead(200, { 'content-type': r.headers.get('content-type')! }).end(await r.text());
});
await new Promise<void>((r) => appSrv.listen(0, '127.0.0.1', r));
const appPort = (appSrv.address() as { port: number }).port;
const prom = await startPrometheus([`127.0.0.1:${srv.port}`, `127.0.0.1:${appPort}`]);
const instanceName = (i: string | undefined) => (i === `127.0.0.1:${srv.port}` ? 'collab-1' : i === `127.0.0.1:${appPort}` ? 'app-1' : (i ?? ''));
log(`collab-server :${srv.port}, prometheus ${prom.url}, OTLP ${otlpUrl}, Loki ${loki.url}`);

const browserProvider = new BasicTracerProvider({
  resource: resourceFromAttributes({ 'service.name': 'tandem-browser' }),
  spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: `${otlpUrl}/v1/traces` }), { scheduledDelayMillis: 500 })],
});
const browserTracer = browserProvider.getTracer('tandem-browser');

const owner = fx.user({ name: 'Ada' });
const editorsUsers = [owner, fx.user({ name: 'Grace' }), fx.user({ name: 'Linus' })];
const viewer = fx.user({ name: 'Vera (viewer)' });
const stranger = fx.user({ name: 'Mallory' });
const docs = [fx.doc(owner), fx.doc(owner), fx.doc(owner), fx.doc(owner)];
for (const d of docs) {
  for (const u of editorsUsers.slice(1)) fx.grant(d, u, 'editor');
  fx.grant(d, viewer, 'viewer');
}
const focusDoc = docs[0]!;
const live: WebsocketProvider[] = [];
async function join_(docId: string, userId: string, traced = true) {
  const p = provider(srv.url, docId, await fx.token(userId, docId));
  if (traced) attachBrowserTracing(p, { tracer: browserTracer });
  live.push(p);
  await synced(p);
  return p;
}
const editors: WebsocketProvider[] = [];
for (const d of docs) for (const u of editorsUsers) editors.push(await join_(d, u, d === focusDoc));
const start = Date.now();
let phase = '';
while (Date.now() - start < SECONDS * 1000) {
  const t = (Date.now() - start) / 1000;
  const frac = t / SECONDS;
  // Typing rate ramps up, with a burst (big pastes) in the middle third.
  const burst = frac > 0.4 && frac < 0.55;
  if (burst !== (phase === 'burst')) log((phase = burst ? 'burst' : 'steady'));
  const per = Math.round(4 + 20 * frac);
  for (let i = 0; i < per; i++) {
    const e = editors[(Math.random() * editors.length) | 0]!;
    const txt = e.doc.getText('t');
    txt.insert(Math.floor(Math.random() * (txt.length + 1)), burst && Math.random() < 0.2 ? 'lorem ipsum dolor sit amet '.repeat(40) : 'x');
  }
  if (Math.random() < 0.08) {
    const v = await join_(docs[(Math.random() * docs.length) | 0]!, viewer, true);
    v.doc.getText('t').insert(0, 'viewer tries to write');
    setTimeout(() => v.destroy(), 1500);
  }
  if (Math.random() < 0.05) {
    const s = provider(srv.url, focusDoc, await fx.token(stranger, focusDoc));
    setTimeout(() => s.destroy(), 1000);
  }
  if (Math.random() < 0.05) {
    const p = await join_(docs[(Math.random() * docs.length) | 0]!, editorsUsers[1]!, false);
    setTimeout(() => p.destroy(), 2000 + Math.random() * 4000);
  }
  await new Promise((r) => setTimeout(r, 100));
}
const end = Date.now();
log(`traffic done: ${spans.length} spans, ${loki.lines().length} log lines so far`);
await browserProvider.forceFlush();
await new Promise((r) => setTimeout(r, 2500)); // a last scrape and the last span/log batches
for (const p of live) p.destroy();

// ---- overview: PromQL per panel ----------------------------------------------------------------
type Panel = { id: number; type: string; title: string; gridPos: { x: number; y: number; w: number; h: number }; fieldConfig?: { defaults?: { unit?: string } }; targets?: { expr: string; legendFormat?: string }[] };
const overview = JSON.parse(readFileSync(join(ROOT, 'observability/dashboards/tandem-overview.json'), 'utf8')) as { title: string; panels: Panel[] };
const range = { start: String(start / 1000), end: String(end / 1000 + 2), step: '2' };
const rendered: string[] = [];
for (const p of overview.panels) {
  if (p.type === 'row') {
    rendered.push(`<div class="row" style="${pos(p.gridPos)}">${esc(p.title)}</div>`);
    continue;
  }
  const series: { name: string; points: [number, number][] }[] = [];
  for (const t of p.targets ?? []) {
    const data = (await prom.api('query_range', { query: t.expr.replaceAll('$__rate_interval', '15s'), ...range })) as {
      result: { metric: Record<string, string>; values: [number, string][] }[];
    };
    for (const r of data.result) {
      const name =
        !t.legendFormat || t.legendFormat === '__auto'
          ? JSON.stringify(r.metric)
          : t.legendFormat.replace(/\{\{(\w+)\}\}/g, (_, k: string) => (k === 'instance' ? instanceName(r.metric.instance) : (r.metric[k] ?? '')));
      series.push({ name, points: r.values.map(([ts, v]) => [ts * 1000, Number(v)] as [number, number]).filter(([, v]) => Number.isFinite(v)) });
    }
  }
  rendered.push(chart(p, series, start, end));
}
const overviewHtml = page(overview.title, rendered.join('\n'), 24 * 8);

// ---- drill-down: Tempo and Loki panels over what the receivers got --------------------------------
const byId = new Map(spans.map((s) => [s.spanId, s]));
const msgs = spans.filter((s) => s.name === SpanName.MESSAGE && s.attrs[Attr.DOC_ID] === focusDoc && s.attrs[Attr.MESSAGE_TYPE] === 'update');
const slow = [...msgs].sort((a, b) => b.end - b.start - (a.end - a.start)).slice(0, 12);
const refused = spans.filter((s) => s.name === SpanName.MESSAGE && s.attrs[Attr.DOC_ID] === focusDoc && s.attrs[Attr.AUTHZ_DECISION] === 'deny');
const lifecycle = spans.filter((s) => s.attrs[Attr.DOC_ID] === focusDoc && [SpanName.DOC_LOAD, SpanName.DOC_COMPACT, SpanName.ACL_CHANGE].includes(s.name as never));
const docLines = loki.lines().filter((l) => l.labels.service === 'collab-server' && l.log.doc === focusDoc);
const ms = (s: RSpan) => `${(s.end - s.start).toFixed(2)} ms`;
const time = (t: number) => new Date(t).toISOString().slice(11, 23);
const table = (title: string, query: string, head: string[], rows: string[][], gp: Panel['gridPos']) =>
  `<div class="panel" style="${pos(gp)}"><div class="title">${esc(title)}</div><div class="query">${esc(query)}</div><table><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr>${rows
    .map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`)
    .join('')}</table></div>`;
const doc = JSON.parse(readFileSync(join(ROOT, 'observability/dashboards/tandem-document.json'), 'utf8')) as { title: string; panels: (Panel & { targets: { query?: string; expr?: string }[] })[] };
const dq = (i: number) => (doc.panels[i]!.targets[0]!.query ?? doc.panels[i]!.targets[0]!.expr ?? '').replaceAll('$doc', focusDoc).replaceAll('$min_ms', '0');
const userName = (id: unknown) => ({ [owner]: 'Ada', [editorsUsers[1]!]: 'Grace', [editorsUsers[2]!]: 'Linus', [viewer]: 'Vera (viewer)', [stranger]: 'Mallory (no access)' })[String(id)] ?? String(id);
const drill: string[] = [];
drill.push(
  table(
    doc.panels[0]!.title,
    dq(0),
    ['trace id', 'start', 'duration', 'user', 'bytes', 'spans in trace (services)'],
    slow.map((s) => {
      const inTrace = spans.filter((x) => x.traceId === s.traceId);
      return [`<code>${s.traceId}</code>`, time(s.start), ms(s), userName(s.attrs[Attr.USER_ID]), String(s.attrs[Attr.MESSAGE_BYTES]), `${inTrace.length} (${[...new Set(inTrace.map((x) => x.service))].join(', ')})`];
    }),
    { x: 0, y: 0, w: 24, h: 9 },
  ),
  table(doc.panels[1]!.title, dq(1), ['trace id', 'start', 'user', 'reason'], refused.slice(0, 8).map((s) => [`<code>${s.traceId.slice(0, 16)}…</code>`, time(s.start), userName(s.attrs[Attr.USER_ID]), String(s.attrs[Attr.AUTHZ_REASON])]), { x: 0, y: 9, w: 12, h: 8 }),
  table(
    doc.panels[2]!.title,
    dq(2),
    ['span', 'start', 'duration', 'details'],
    lifecycle.slice(-8).map((s) => [s.name, time(s.start), ms(s), esc(Object.entries(s.attrs).filter(([k]) => k !== Attr.DOC_ID).map(([k, v]) => `${k}=${v}`).join(' '))]),
    { x: 12, y: 9, w: 12, h: 8 },
  ),
);
// The waterfall Grafana shows when the slowest traced edit's row is clicked.
const top = slow.find((s) => spans.some((x) => x.traceId === s.traceId && x.service === 'tandem-browser')) ?? slow[0]!;
const traceSpans = spans.filter((s) => s.traceId === top.traceId).sort((a, b) => a.start - b.start);
const t0 = Math.min(...traceSpans.map((s) => s.start));
const t1 = Math.max(...traceSpans.map((s) => s.end));
const depth = (s: RSpan): number => (byId.get(s.parentSpanId) && byId.get(s.parentSpanId)!.traceId === s.traceId ? depth(byId.get(s.parentSpanId)!) + 1 : 0);
const wf = traceSpans
  .map((s) => {
    const left = ((s.start - t0) / (t1 - t0 || 1)) * 100;
    const width = Math.max(0.4, ((s.end - s.start) / (t1 - t0 || 1)) * 100);
    const a = [Attr.AUTHZ_DECISION, Attr.FANOUT_COUNT, Attr.FANOUT_BYTES, Attr.MESSAGE_BYTES, Attr.BATCH_SIZE].filter((k) => s.attrs[k] !== undefined).map((k) => `${k}=${s.attrs[k]}`).join(' ');
    return `<div class="wf"><div class="wfname" style="padding-left:${depth(s) * 14}px"><span class="svc ${s.service}">${s.service}</span> ${s.name}</div><div class="wfbar"><div style="left:${left}%;width:${width}%" class="bar ${s.service}"></div></div><div class="wfdur">${ms(s)}</div><div class="wfattrs">${esc(a)}</div></div>`;
  })
  .join('');
drill.push(`<div class="panel" style="${pos({ x: 0, y: 17, w: 24, h: 7 })}"><div class="title">Trace ${top.traceId} (opened from the first table: keystroke → collab-server → other browsers)</div>${wf}</div>`);
drill.push(
  table(
    doc.panels[3]!.title,
    dq(3),
    ['time', 'level', 'msg', 'user', 'trace_id (→ Tempo)'],
    docLines
      .slice(-10)
      .reverse()
      .map((l) => [time(Number(l.ts / 1_000_000n)), l.labels.level!, esc(String(l.log.msg)), userName(l.log.user), l.log.trace_id ? `<code class="link">${l.log.trace_id}</code>` : '']),
    { x: 0, y: 24, w: 24, h: 9 },
  ),
);
const drillHtml = page(`${doc.title}: doc ${focusDoc}`, drill.join('\n'), 33 * 30 + 40);

// ---- screenshots ---------------------------------------------------------------------------------
writeFileSync('/tmp/tandem-overview.html', overviewHtml);
writeFileSync('/tmp/tandem-document.html', drillHtml);
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
for (const [name, html] of [
  ['overview', overviewHtml],
  ['document', drillHtml],
] as const) {
  const pg = await (await browser.newContext({ viewport: { width: 1800, height: 900 }, deviceScaleFactor: 1 })).newPage();
  await pg.setContent(html);
  await pg.screenshot({ path: join(OUT, `${name}.png`), fullPage: true });
  log(`wrote observability/screenshots/${name}.png`);
}
await browser.close();
log(`data: ${spans.length} spans (${msgs.length} traced edits of the focus doc), ${loki.lines().length} log lines in ${loki.pushes.length} pushes, prometheus window ${((end - start) / 1000) | 0}s`);
srv.proc.kill('SIGTERM');
await srv.exited;
await prom.stop();
await loki.stop();
await browserProvider.shutdown();
otlp.close();
appSrv.close();
fx.cleanup();
process.exit(0);

// ---- drawing ------------------------------------------------------------------------------------
function esc(s: string) {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}
function pos(g: { x: number; y: number; w: number; h: number }) {
  return `left:${(g.x / 24) * 100}%;top:${g.y * 30}px;width:calc(${(g.w / 24) * 100}% - 8px);height:${g.h * 30 - 8}px`;
}
function fmt(v: number, unit: string) {
  const a = Math.abs(v);
  if (unit === 's') return a === 0 ? '0' : a < 1e-3 ? `${(v * 1e6).toFixed(0)} µs` : a < 1 ? `${(v * 1e3).toFixed(a < 0.01 ? 2 : 0)} ms` : `${v.toFixed(2)} s`;
  if (unit === 'bytes' || unit === 'Bps') {
    const suf = unit === 'Bps' ? '/s' : '';
    return a >= 1 << 20 ? `${(v / (1 << 20)).toFixed(1)} MiB${suf}` : a >= 1024 ? `${(v / 1024).toFixed(1)} KiB${suf}` : `${v.toFixed(0)} B${suf}`;
  }
  if (unit === 'reqps') return `${v < 10 ? v.toFixed(2) : v.toFixed(0)}/s`;
  return v < 10 && v % 1 ? v.toFixed(2) : v.toFixed(0);
}
function chart(p: Panel, series: { name: string; points: [number, number][] }[], from: number, to: number) {
  const unit = p.fieldConfig?.defaults?.unit ?? 'short';
  const W = 1000;
  const H = 300;
  const max = Math.max(1e-9, ...series.flatMap((s) => s.points.map(([, v]) => v))) * 1.1;
  const colors = ['#73bf69', '#f2cc0c', '#8ab8ff', '#ff780a', '#f2495c', '#5794f2', '#b877d9', '#fade2a', '#37872d', '#ff9830'];
  const x = (t: number) => ((t - from) / (to - from)) * W;
  const y = (v: number) => H - (v / max) * H;
  const lines = series
    .map((s, i) => `<polyline fill="none" stroke="${colors[i % colors.length]}" stroke-width="2" vector-effect="non-scaling-stroke" points="${s.points.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(' ')}"/>`)
    .join('');
  const grid = [0.25, 0.5, 0.75, 1].map((f) => `<div class="ylab" style="bottom:${f * 100 / 1.1}%">${fmt(max / 1.1 * f, unit)}</div>`).join('');
  const xl = [0, 0.25, 0.5, 0.75, 1].map((f) => `<div class="xlab" style="left:${f * 100}%">${new Date(from + (to - from) * f).toISOString().slice(11, 19)}</div>`).join('');
  const legend = series.length
    ? series
        .slice(0, 8)
        .map((s, i) => `<span><i style="background:${colors[i % colors.length]}"></i>${esc(s.name)} <b>${fmt(s.points.at(-1)?.[1] ?? 0, unit)}</b></span>`)
        .join('')
    : '<span class="nodata">No data (nothing of this kind happened in the window)</span>';
  return `<div class="panel" style="${pos(p.gridPos)}"><div class="title">${esc(p.title)}</div><div class="plot">${grid}<svg viewBox="0 0 ${W} ${H}" preserveAspectRatio="none">${[0.25, 0.5, 0.75, 1]
    .map((f) => `<line x1="0" x2="${W}" y1="${y((max / 1.1) * f)}" y2="${y((max / 1.1) * f)}" class="gl"/>`)
    .join('')}${lines}</svg>${xl}</div><div class="legend">${legend}</div></div>`;
}
function page(title: string, body: string, heightPx: number) {
  return `<!doctype html><html><head><meta charset="utf-8"><style>
  body{margin:0;background:#111217;color:#ccccdc;font:13px Inter,Helvetica,Arial,sans-serif}
  header{padding:10px 16px;font-size:17px;color:#fff;border-bottom:1px solid #222}
  header small{color:#8e8e9e;font-size:12px;margin-left:12px}
  .grid{position:relative;margin:8px;height:${heightPx}px}
  .panel{position:absolute;background:#181b1f;border:1px solid #2c3235;border-radius:3px;display:flex;flex-direction:column;overflow:hidden}
  .row{position:absolute;color:#fff;font-weight:600;font-size:14px;padding-top:6px}
  .title,.query{flex-shrink:0}
  .title{padding:6px 8px;color:#fff;font-weight:500;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
  .query{padding:0 8px 4px;color:#6e9fff;font:11px monospace;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
  .plot{position:relative;flex:1;margin:4px 8px 18px 62px}
  .plot svg{position:absolute;inset:0;width:100%;height:100%}
  .gl{stroke:#2c3235;stroke-width:1;vector-effect:non-scaling-stroke}
  .ylab{position:absolute;left:-60px;width:54px;text-align:right;font-size:10px;color:#8e8e9e;transform:translateY(50%)}
  .xlab{position:absolute;bottom:-16px;font-size:10px;color:#8e8e9e;transform:translateX(-50%)}
  .legend{padding:2px 8px 6px;font-size:11px;max-height:38px;overflow:hidden}
  .legend span{margin-right:12px;white-space:nowrap}.legend i{display:inline-block;width:10px;height:3px;margin-right:4px;vertical-align:middle}
  .legend b{color:#fff;font-weight:500}.nodata{color:#8e8e9e}
  table{border-collapse:collapse;margin:0 8px;font-size:12px}th{color:#6e9fff;text-align:left;font-weight:500;border-bottom:1px solid #2c3235;padding:3px 10px 3px 0}
  td{padding:3px 10px 3px 0;border-bottom:1px solid #202226;white-space:nowrap;max-width:900px;overflow:hidden;text-overflow:ellipsis}code{color:#ccccdc}.link{color:#6e9fff;text-decoration:underline}
  .wf{display:flex;align-items:center;margin:1px 8px;font-size:12px}.wfname{width:330px;white-space:nowrap}.wfbar{position:relative;flex:1;height:12px;background:#202226}
  .bar{position:absolute;top:0;height:12px;border-radius:2px}.bar.collab-server{background:#5794f2}.bar.tandem-browser{background:#73bf69}
  .wfdur{width:80px;text-align:right;color:#fff}.wfattrs{width:460px;padding-left:10px;color:#8e8e9e;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
  .svc{font-size:10px;padding:0 4px;border-radius:2px;color:#111}.svc.collab-server{background:#5794f2}.svc.tandem-browser{background:#73bf69}
  </style></head><body><header>${esc(title)}<small>rendered from real data by observability/screenshots/render.ts (not Grafana): live collab-server + Debian prometheus; spans and logs from local OTLP and Loki receivers</small></header><div class="grid">${body}</div></body></html>`;
}
