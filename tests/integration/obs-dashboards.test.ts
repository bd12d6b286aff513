// Every Grafana dashboard JSON loads; every Prometheus panel query parses (Prometheus' own parser,
// through its HTTP API) and names only metrics that a running collab-server (or the app's /metrics
// route) exports; Tempo and Loki panels use only span names and attributes from
// observability/attributes.ts and the Loki labels the shipper sets.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { WebsocketProvider } from 'y-websocket';
import { Attr, SpanName } from '../../observability/attributes';
import { GET as appMetrics } from '../../app/metrics/route';
import { ROOT, createFixture, provider, spawnServer, synced, waitFor, type ChildServer, type Fixture } from '../helpers/fixture';
import { startPrometheus, type PrometheusProc } from '../helpers/obs-prometheus';

const DASHBOARDS = join(ROOT, 'observability/dashboards');
const files = readdirSync(DASHBOARDS).filter((f) => f.endsWith('.json'));

interface Target {
  refId: string;
  expr?: string;
  query?: string;
  datasource?: { type: string; uid: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  targets?: Target[];
  panels?: Panel[];
}
const load = (f: string) => JSON.parse(readFileSync(join(DASHBOARDS, f), 'utf8')) as { uid: string; title: string; panels: Panel[] };
const allPanels = (ps: Panel[]): Panel[] => ps.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);

/** Every series name an exposition (Prometheus or OpenMetrics text) makes queryable. */
function exportedNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const t = /^# TYPE (\S+) (\S+)/.exec(line);
    if (t) {
      const [, n, type] = t as unknown as [string, string, string];
      names.add(n);
      if (type === 'counter') names.add(n.endsWith('_total') ? n : `${n}_total`);
      if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(n + s);
      if (type === 'summary') for (const s of ['_sum', '_count']) names.add(n + s);
      continue;
    }
    const s = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line);
    if (s) names.add(s[1]!);
  }
  return names;
}

/** Metric names in a PromQL expression (ours all start with tandem_). */
const metricsIn = (expr: string) => [...new Set([...expr.replace(/\{[^}]*\}/g, '').matchAll(/\btandem_[a-zA-Z0-9_:]+/g)].map((m) => m[0]))];

let fx: Fixture;
let srv: ChildServer;
let prom: PrometheusProc;
let collabNames: Set<string>;
let appNames: Set<string>;
const open: WebsocketProvider[] = [];

beforeAll(async () => {
  fx = await createFixture();
  srv = await spawnServer(fx);
  // A little traffic, so log lines with a document exist.
  const owner = fx.user();
  const docId = fx.doc(owner);
  const p = provider(srv.url, docId, await fx.token(owner, docId));
  open.push(p);
  await synced(p);
  collabNames = exportedNames(await (await fetch(`http://127.0.0.1:${srv.port}/metrics`)).text());
  appNames = exportedNames(await (await appMetrics(new Request('http://127.0.0.1/metrics', { headers: { 'x-tandem-peer-address': '127.0.0.1' } }))).text());
  prom = await startPrometheus([`127.0.0.1:${srv.port}`]);
});
afterAll(async () => {
  for (const p of open) p.destroy();
  srv?.proc.kill('SIGTERM');
  await srv?.exited;
  await prom?.stop();
  fx?.cleanup();
});

describe('Grafana dashboards', () => {
  it('the folder holds the overview and the per-document drill-down, and every file loads', () => {
    expect(files.sort()).toEqual(['tandem-document.json', 'tandem-overview.json']);
    const uids = files.map((f) => load(f).uid);
    expect(new Set(uids).size).toBe(uids.length);
    for (const f of files) {
      const d = load(f);
      expect(d.title).toBeTruthy();
      const ids = allPanels(d.panels).map((p) => p.id);
      expect(new Set(ids).size).toBe(ids.length);
      expect(allPanels(d.panels).filter((p) => p.type !== 'row').length).toBeGreaterThan(3);
    }
  });

  it('every panel uses a provisioned datasource, and the provisioning loads this folder', () => {
    const provisioning = readFileSync(join(ROOT, 'observability/grafana/provisioning/datasources/datasources.yaml'), 'utf8');
    const uids = new Set([...provisioning.matchAll(/^\s+uid: (\S+)$/gm)].map((m) => m[1]));
    expect(uids).toEqual(new Set(['prometheus', 'loki', 'tempo']));
    expect(provisioning).toMatch(/exemplarTraceIdDestinations:\s+- name: trace_id\s+datasourceUid: tempo/);
    expect(provisioning).toMatch(/derivedFields:[\s\S]*trace_id[\s\S]*datasourceUid: tempo/);
    expect(provisioning).toMatch(/tracesToLogsV2:\s+datasourceUid: loki/);
    for (const f of files) {
      for (const p of allPanels(load(f).panels).filter((p) => p.type !== 'row')) {
        expect(uids, `${f}: ${p.title}`).toContain(p.datasource?.uid);
        for (const t of p.targets ?? []) expect(t.datasource?.uid ?? p.datasource?.uid).toBe(p.datasource?.uid);
      }
    }
    const compose = readFileSync(join(ROOT, 'observability/compose.yaml'), 'utf8');
    expect(compose).toContain('./dashboards:/var/lib/grafana/dashboards');
    expect(readFileSync(join(ROOT, 'observability/grafana/provisioning/dashboards/dashboards.yaml'), 'utf8')).toContain('path: /var/lib/grafana/dashboards');
  });

  it("every Prometheus query parses and names only metrics the running collab-server or app exports", async () => {
    let checked = 0;
    for (const f of files) {
      for (const p of allPanels(load(f).panels).filter((p) => p.datasource?.type === 'prometheus')) {
        for (const t of p.targets ?? []) {
          const names = metricsIn(t.expr!);
          expect(names.length, `${p.title}: ${t.expr}`).toBeGreaterThan(0);
          for (const n of names) {
            const from = n.startsWith('tandem_app_') ? appNames : collabNames;
            expect(from.has(n), `${f} / ${p.title}: ${n} is not exported`).toBe(true);
          }
          const expr = t.expr!.replaceAll('$__rate_interval', '1m').replaceAll('$__interval', '15s');
          await prom.api('query', { query: expr }); // throws on a parse error
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(20);
  });

  it('every metric the alerting and recording rules read is exported by collab-server or the app', () => {
    const rules = readFileSync(join(ROOT, 'observability/rules.yml'), 'utf8');
    const exprs = [...rules.matchAll(/expr: (\|\n(?:\s{10}.*\n)+|.*)/g)].map((m) => m[1]!);
    let checked = 0;
    for (const e of exprs) {
      for (const n of metricsIn(e)) {
        expect((n.startsWith('tandem_app_') ? appNames : collabNames).has(n), `rules.yml: ${n} is not exported`).toBe(true);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(25);
  });

  it('the core overview panels return data once prometheus has scraped the server', async () => {
    const d = load('tandem-overview.json');
    const core = ['Open sockets', 'Resident memory and heap used', 'Event-loop lag p99'];
    for (const title of core) {
      const p = d.panels.find((x) => x.title === title)!;
      expect(p, title).toBeDefined();
      await waitFor(async () => Object.keys(await prom.vector(p.targets![0]!.expr!)).length > 0, { timeout: 20_000, interval: 250, what: `data for "${title}"` });
    }
  });

  it('Tempo and Loki panels use only our span names, attributes and Loki labels', async () => {
    const attrs = new Set<string>(Object.values(Attr));
    const spans = new Set<string>(Object.values(SpanName));
    let tempo = 0;
    let loki = 0;
    for (const f of files) {
      for (const p of allPanels(load(f).panels)) {
        for (const t of p.targets ?? []) {
          if (p.datasource?.type === 'tempo') {
            tempo++;
            for (const m of t.query!.matchAll(/span\."([^"]+)"/g)) expect(attrs, `${p.title}: ${m[1]}`).toContain(m[1]);
            for (const m of t.query!.matchAll(/\bname = "([^"]+)"/g)) expect(spans, `${p.title}: ${m[1]}`).toContain(m[1]);
          }
          if (p.datasource?.type === 'loki') {
            loki++;
            const selector = /\{([^}]*)\}/.exec(t.expr!)![1]!;
            for (const m of selector.matchAll(/(\w+)\s*=~?\s*"([^"]*)"/g)) {
              expect(['service', 'instance', 'level'], `${p.title}: label ${m[1]}`).toContain(m[1]);
              if (m[1] === 'service') expect(m[2]).toBe('collab-server');
            }
            // `| json | doc = …` filters on a field the server's log lines carry.
            for (const m of t.expr!.matchAll(/\| json \| (\w+) =/g)) {
              const field = m[1]!;
              const line = await waitFor(() => srv.output.map((l) => (l.startsWith('{') ? JSON.parse(l) : {})).find((o: Record<string, unknown>) => field in o), {
                what: `a log line with "${field}"`,
              });
              expect(line[field]).toBeTruthy();
            }
          }
        }
      }
    }
    expect(tempo).toBeGreaterThanOrEqual(3);
    expect(loki).toBeGreaterThanOrEqual(1);
  });
});
