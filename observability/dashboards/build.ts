/**
 * Generates the Grafana dashboards in this folder (`node --import tsx observability/dashboards/build.ts`).
 * The JSON files are checked in (Grafana provisions them as-is); this keeps 20 panels' boilerplate
 * in one place. Datasource uids match observability/grafana/provisioning/datasources/datasources.yaml.
 */
import { writeFileSync } from 'node:fs';
import { Attr, SpanName } from '../attributes';

const PROM = { type: 'prometheus', uid: 'prometheus' };
const LOKI = { type: 'loki', uid: 'loki' };
const TEMPO = { type: 'tempo', uid: 'tempo' };
const RATE = '[$__rate_interval]';

interface PanelSpec {
  title: string;
  description?: string;
  unit?: string;
  type?: string;
  w?: number;
  h?: number;
  targets: { expr: string; legend?: string; exemplar?: boolean }[];
  stack?: boolean;
}

let nextId = 1;
let x = 0;
let y = 0;
function place(w: number, h: number) {
  if (x + w > 24) {
    x = 0;
    y += h;
  }
  const pos = { x, y, w, h };
  x += w;
  return pos;
}
function row(title: string) {
  if (x > 0) {
    x = 0;
    y += 8;
  }
  const p = { id: nextId++, type: 'row', title, collapsed: false, gridPos: { x: 0, y, w: 24, h: 1 }, panels: [] };
  y += 1;
  return p;
}
function prom(p: PanelSpec) {
  return {
    id: nextId++,
    type: p.type ?? 'timeseries',
    title: p.title,
    description: p.description ?? '',
    datasource: PROM,
    gridPos: place(p.w ?? 8, p.h ?? 8),
    fieldConfig: {
      defaults: {
        unit: p.unit ?? 'short',
        custom: { drawStyle: 'line', lineWidth: 1, fillOpacity: p.stack ? 30 : 10, showPoints: 'never', stacking: { mode: p.stack ? 'normal' : 'none', group: 'A' } },
      },
      overrides: [],
    },
    options: { legend: { displayMode: 'list', placement: 'bottom', showLegend: true }, tooltip: { mode: 'multi', sort: 'desc' } },
    targets: p.targets.map((t, i) => ({
      refId: String.fromCharCode(65 + i),
      datasource: PROM,
      expr: t.expr,
      legendFormat: t.legend ?? '__auto',
      exemplar: t.exemplar ?? false,
      range: true,
    })),
  };
}
const q = (quantile: number, metric: string, by = '') =>
  `histogram_quantile(${quantile}, sum by (le${by ? `, ${by}` : ''}) (rate(${metric}_bucket${RATE})))`;

/**
 * One panel per alert in observability/rules.yml, titled with the alert's name, plotting the signal
 * it compares with its threshold (written in the description), so an engineer paged by an alert
 * finds its graph under the same name. The runbooks are in README "Alerts and runbooks".
 */
function alertPanels() {
  const a = (alert: string, threshold: string, spec: Omit<PanelSpec, 'title' | 'description'>) =>
    prom({ w: 6, h: 7, ...spec, title: alert, description: `Alert ${alert} fires when ${threshold}. Runbook: README "Alerts and runbooks".` });
  const slow = (w: string) => `1 - sum(rate(tandem_update_handling_seconds_bucket{le="0.1"}[${w}])) / sum(rate(tandem_update_handling_seconds_count[${w}]))`;
  const closes = (code: string) => `sum by (instance) (rate(tandem_connections_closed_total{code="${code}"}${RATE}))`;
  return [
    row('Alerts (one panel per alert rule)'),
    a('TandemEditDeliveryFastBurn', 'more than 14.4% of updates take over 100 ms over 1 h and 5 min (or 6% over 6 h and 30 min)', {
      unit: 'percentunit',
      targets: [{ expr: slow('5m'), legend: 'slow share 5m' }, { expr: slow('1h'), legend: 'slow share 1h' }, { expr: slow('6h'), legend: 'slow share 6h' }],
    }),
    a('TandemEditDeliverySlowBurn', 'more than 3% of updates take over 100 ms over 1 d and 2 h (or 1% over 3 d and 6 h)', {
      unit: 'percentunit',
      targets: [{ expr: slow('2h'), legend: 'slow share 2h' }, { expr: slow('1d'), legend: 'slow share 1d' }, { expr: slow('3d'), legend: 'slow share 3d' }],
    }),
    a('TandemDurableAppendFailing', 'any update-log append failed in the last 5 min', { targets: [{ expr: 'sum by (instance) (increase(tandem_errors_total{where="store-append"}[5m]))', legend: '{{instance}}' }] }),
    a('TandemErrorRateHigh', 'errors at one place exceed 0.5/s for 5 min', { unit: 'reqps', targets: [{ expr: `sum by (instance, where) (rate(tandem_errors_total{where!="store-append"}${RATE}))`, legend: '{{instance}} {{where}}' }] }),
    a('TandemAppErrorRateHigh', 'app request errors exceed 0.2/s for 5 min', { unit: 'reqps', targets: [{ expr: `sum by (instance, route_type) (rate(tandem_app_request_errors_total${RATE}))`, legend: '{{instance}} {{route_type}}' }] }),
    a('TandemRefusedWritesSpike', 'refused writes exceed 2/s for 10 min', { unit: 'reqps', targets: [{ expr: `sum by (instance, reason) (rate(tandem_updates_refused_total${RATE}))`, legend: '{{instance}} {{reason}}' }] }),
    a('TandemTokenRejectionStorm', '4401 closes exceed 1/s for 5 min', { unit: 'reqps', targets: [{ expr: closes('UNAUTHORIZED'), legend: '4401 {{instance}}' }] }),
    a('TandemRateLimitStorm', '4429 closes exceed 0.5/s for 5 min', { unit: 'reqps', targets: [{ expr: closes('RATE_LIMITED'), legend: '4429 {{instance}}' }] }),
    a('TandemOverloadCloses', '1013 closes exceed 0.2/s for 5 min', { unit: 'reqps', targets: [{ expr: closes('TRY_AGAIN_LATER'), legend: '1013 {{instance}}' }] }),
    a('TandemStorageUnavailableCloses', 'any 4503 close happens for 2 min', { unit: 'reqps', targets: [{ expr: closes('STORAGE_UNAVAILABLE'), legend: '4503 {{instance}}' }] }),
    a('TandemReconnectStorm', 'new sockets per minute exceed twice the open sockets (at least 10) for 5 min', {
      targets: [
        { expr: `sum by (instance) (rate(tandem_connections_opened_total${RATE})) * 60`, legend: 'opened/min {{instance}}' },
        { expr: 'sum by (instance) (tandem_open_sockets)', legend: 'open {{instance}}' },
      ],
    }),
    a('TandemEventLoopLag', 'event-loop lag p99 exceeds 100 ms for 5 min', {
      unit: 's',
      targets: [
        { expr: 'max by (instance) (tandem_process_nodejs_eventloop_lag_p99_seconds)', legend: 'collab {{instance}}' },
        { expr: 'max by (instance) (tandem_app_nodejs_eventloop_lag_p99_seconds)', legend: 'app {{instance}}' },
      ],
    }),
    a('TandemMemoryHigh', 'resident memory exceeds 1.5 GB for 10 min', {
      unit: 'bytes',
      targets: [
        { expr: 'max by (instance) (tandem_process_process_resident_memory_bytes)', legend: 'collab {{instance}}' },
        { expr: 'max by (instance) (tandem_app_process_resident_memory_bytes)', legend: 'app {{instance}}' },
      ],
    }),
    a('TandemLokiShippingDrops', 'any log line was dropped in 10 min', {
      targets: [
        { expr: 'sum by (instance) (increase(tandem_log_lines_dropped_total[10m]))', legend: 'collab {{instance}}' },
        { expr: 'sum by (instance) (increase(tandem_app_log_lines_dropped_total[10m]))', legend: 'app {{instance}}' },
      ],
    }),
    a('TandemInstanceDown', 'a scrape fails for 1 min (the instance is down or unreachable)', {
      targets: [{ expr: 'count by (instance) (tandem_open_sockets) or count by (instance) (tandem_app_metrics_scrapes_total)', legend: '{{instance}} answering' }],
    }),
    a('TandemClusterRedisDown', 'an instance that used Redis reports it down for 1 min', { targets: [{ expr: 'min by (instance) (tandem_cluster_redis_up)', legend: '{{instance}}' }] }),
    a('TandemClusterPublishFailures', 'Redis publish failures exceed 0.1/s for 5 min', { unit: 'reqps', targets: [{ expr: `sum by (instance) (rate(tandem_cluster_publish_failures_total${RATE}))`, legend: '{{instance}}' }] }),
    a('TandemClusterCatchUpsHigh', 'updates applied from the log exceed 1/s for 10 min', {
      unit: 'reqps',
      targets: [
        { expr: `sum by (instance) (rate(tandem_cluster_catchup_updates_total${RATE}))`, legend: 'from the log {{instance}}' },
        { expr: `sum by (reason) (rate(tandem_cluster_catchups_total${RATE}))`, legend: 'catch-ups {{reason}}' },
      ],
    }),
  ];
}

function overview() {
  nextId = 1;
  x = 0;
  y = 0;
  const panels = [
    row('Traffic'),
    prom({ title: 'Open sockets', description: 'tandem_open_sockets per instance', targets: [{ expr: 'sum by (instance) (tandem_open_sockets)', legend: '{{instance}}' }] }),
    prom({ title: 'Messages in / s by type', unit: 'reqps', stack: true, targets: [{ expr: `sum by (type) (rate(tandem_messages_in_total${RATE}))`, legend: '{{type}}' }] }),
    prom({ title: 'Messages out / s by type', unit: 'reqps', stack: true, targets: [{ expr: `sum by (type) (rate(tandem_messages_out_total${RATE}))`, legend: '{{type}}' }] }),
    prom({
      title: 'Bytes in / out per second',
      unit: 'Bps',
      targets: [
        { expr: `sum(rate(tandem_bytes_in_total${RATE}))`, legend: 'in' },
        { expr: `sum(rate(tandem_bytes_out_total${RATE}))`, legend: 'out' },
      ],
    }),
    prom({
      title: 'Connections opened / closed per second (by close code)',
      unit: 'reqps',
      w: 16,
      targets: [
        { expr: `sum(rate(tandem_connections_opened_total${RATE}))`, legend: 'opened' },
        { expr: `sum by (code) (rate(tandem_connections_closed_total${RATE}))`, legend: 'closed {{code}}' },
        { expr: `sum by (reason) (rate(tandem_upgrades_refused_total${RATE}))`, legend: 'upgrade refused {{reason}}' },
      ],
    }),
    row('Latency (click an exemplar dot to open its trace in Tempo)'),
    prom({
      title: 'Update handling latency p50 / p95 / p99',
      description: 'Frame arrival → durable, applied and broadcast. Exemplars carry the trace id.',
      unit: 's',
      w: 12,
      targets: [
        { expr: q(0.5, 'tandem_update_handling_seconds'), legend: 'p50', exemplar: true },
        { expr: q(0.95, 'tandem_update_handling_seconds'), legend: 'p95' },
        { expr: q(0.99, 'tandem_update_handling_seconds'), legend: 'p99' },
      ],
    }),
    prom({
      title: 'Fan-out latency p50 / p99 and recipients p99',
      unit: 's',
      w: 12,
      targets: [
        { expr: q(0.5, 'tandem_fanout_seconds'), legend: 'p50', exemplar: true },
        { expr: q(0.99, 'tandem_fanout_seconds'), legend: 'p99' },
      ],
    }),
    prom({
      title: 'Store: update-log append, compaction, doc load p99',
      unit: 's',
      w: 12,
      targets: [
        { expr: q(0.99, 'tandem_store_append_seconds'), legend: 'append p99' },
        { expr: q(0.99, 'tandem_compaction_seconds'), legend: 'compaction p99' },
        { expr: q(0.99, 'tandem_doc_load_seconds'), legend: 'doc load p99' },
      ],
    }),
    prom({
      title: 'Group commit: updates per append (p50 / p99) and fan-out recipients p99',
      w: 12,
      targets: [
        { expr: q(0.5, 'tandem_store_append_batch_updates'), legend: 'batch p50' },
        { expr: q(0.99, 'tandem_store_append_batch_updates'), legend: 'batch p99' },
        { expr: q(0.99, 'tandem_fanout_recipients'), legend: 'recipients p99' },
      ],
    }),
    row('Access control and abuse'),
    prom({
      title: 'Authz refusals / s by action and reason',
      unit: 'reqps',
      targets: [{ expr: `sum by (action, reason) (rate(tandem_authz_decisions_total{result="deny"}${RATE}))`, legend: '{{action}}: {{reason}}' }],
    }),
    prom({ title: 'Updates refused / s by reason', unit: 'reqps', targets: [{ expr: `sum by (reason) (rate(tandem_updates_refused_total${RATE}))`, legend: '{{reason}}' }] }),
    prom({
      title: 'Token renewals and rate-limit hits / s',
      unit: 'reqps',
      targets: [
        { expr: `sum by (result) (rate(tandem_token_renewals_total${RATE}))`, legend: 'renewal {{result}}' },
        { expr: `sum by (limit) (rate(tandem_rate_limit_hits_total${RATE}))`, legend: 'rate limit {{limit}}' },
      ],
    }),
    prom({
      title: 'Inbound throttling / s (slowed, recovered, closed 4429, awareness dropped) and load shedding',
      description: 'Issue 13: connections over their budgets or far above their own baseline are slowed, then closed 4429; while shedding (event-loop lag or memory near budget) new sockets get 503',
      unit: 'reqps',
      targets: [
        { expr: `sum by (reason, action) (rate(tandem_inbound_throttled_total${RATE}))`, legend: '{{action}} {{reason}}' },
        { expr: `sum(rate(tandem_load_shed_refused_total${RATE}))`, legend: 'shed (503)' },
        { expr: 'max by (instance, reason) (tandem_load_shedding)', legend: 'shedding {{reason}} {{instance}}' },
      ],
    }),
    row('Process (per instance)'),
    prom({
      title: 'Resident memory and heap used',
      unit: 'bytes',
      targets: [
        { expr: 'sum by (instance) (tandem_process_process_resident_memory_bytes)', legend: 'rss {{instance}}' },
        { expr: 'sum by (instance) (tandem_process_nodejs_heap_size_used_bytes)', legend: 'heap {{instance}}' },
      ],
    }),
    prom({
      title: 'Event-loop lag p99',
      unit: 's',
      targets: [{ expr: 'max by (instance) (tandem_process_nodejs_eventloop_lag_p99_seconds)', legend: '{{instance}}' }],
    }),
    prom({
      title: 'Documents in memory, errors / s, log lines dropped / s',
      targets: [
        { expr: 'sum by (instance) (tandem_docs_in_memory)', legend: 'docs {{instance}}' },
        { expr: `sum by (where) (rate(tandem_errors_total${RATE}))`, legend: 'errors {{where}}' },
        { expr: `sum(rate(tandem_log_lines_dropped_total${RATE}))`, legend: 'log lines dropped' },
      ],
    }),
    row('App (Next.js)'),
    prom({
      title: 'App: resident memory and heap used',
      unit: 'bytes',
      w: 12,
      targets: [
        { expr: 'sum by (instance) (tandem_app_process_resident_memory_bytes)', legend: 'rss {{instance}}' },
        { expr: 'sum by (instance) (tandem_app_nodejs_heap_size_used_bytes)', legend: 'heap {{instance}}' },
      ],
    }),
    prom({
      title: 'App: request errors / s by route type',
      unit: 'reqps',
      w: 12,
      targets: [{ expr: `sum by (route_type) (rate(tandem_app_request_errors_total${RATE}))`, legend: '{{route_type}}' }],
    }),
    ...alertPanels(),
  ];
  return dashboard('tandem-overview', 'Tandem / Overview', panels, [], ['tandem']);
}

function documentDrilldown() {
  nextId = 1;
  const doc = `span."${Attr.DOC_ID}" = "$doc"`;
  const tempo = (title: string, query: string, gridPos: object) => ({
    id: nextId++,
    type: 'table',
    title,
    datasource: TEMPO,
    gridPos,
    targets: [{ refId: 'A', datasource: TEMPO, queryType: 'traceql', query, limit: 50, tableType: 'traces' }],
  });
  const panels = [
    tempo(
      'Slowest edits of this document (collab.message, one row per trace: open it for browser → server → other browser)',
      `{ name = "${SpanName.MESSAGE}" && ${doc} && span."${Attr.MESSAGE_TYPE}" = "update" && duration > $min_ms ms }`,
      { x: 0, y: 0, w: 24, h: 10 },
    ),
    tempo('Refused writes (authz deny, with reason)', `{ ${doc} && span."${Attr.AUTHZ_DECISION}" = "deny" }`, { x: 0, y: 10, w: 12, h: 9 }),
    tempo(
      'Loads, compactions and ACL changes',
      `{ ${doc} && (name = "${SpanName.DOC_LOAD}" || name = "${SpanName.DOC_COMPACT}" || name = "${SpanName.ACL_CHANGE}") }`,
      { x: 12, y: 10, w: 12, h: 9 },
    ),
    {
      id: nextId++,
      type: 'logs',
      title: 'Log lines for this document (trace_id links to Tempo)',
      datasource: LOKI,
      gridPos: { x: 0, y: 19, w: 24, h: 10 },
      options: { showTime: true, wrapLogMessage: true, sortOrder: 'Descending', enableLogDetails: true },
      targets: [{ refId: 'A', datasource: LOKI, expr: '{service="collab-server"} | json | doc = "$doc"', queryType: 'range' }],
    },
    {
      id: nextId++,
      type: 'timeseries',
      title: 'Log lines for this document by level',
      datasource: LOKI,
      gridPos: { x: 0, y: 29, w: 24, h: 7 },
      targets: [{ refId: 'A', datasource: LOKI, expr: 'sum by (level) (count_over_time({service="collab-server"} | json | doc = "$doc" [$__interval]))', queryType: 'range', legendFormat: '{{level}}' }],
    },
  ];
  const vars = [
    { name: 'doc', label: 'Document id', type: 'textbox', query: '', current: { text: '', value: '' }, options: [], hide: 0 },
    {
      name: 'min_ms',
      label: 'Slower than (ms)',
      type: 'custom',
      query: '0,1,5,10,50,100,500',
      current: { text: '0', value: '0' },
      options: ['0', '1', '5', '10', '50', '100', '500'].map((v, i) => ({ text: v, value: v, selected: i === 0 })),
      hide: 0,
    },
  ];
  return dashboard('tandem-document', 'Tandem / Document drill-down', panels, vars, ['tandem']);
}

function dashboard(uid: string, title: string, panels: object[], vars: object[], tags: string[]) {
  return {
    uid,
    title,
    tags,
    editable: true,
    timezone: 'browser',
    schemaVersion: 39,
    version: 1,
    refresh: '10s',
    time: { from: 'now-15m', to: 'now' },
    templating: { list: vars },
    annotations: { list: [] },
    links: [{ title: 'Tandem dashboards', type: 'dashboards', tags: ['tandem'], asDropdown: false }],
    panels,
  };
}

const dir = new URL('.', import.meta.url);
writeFileSync(new URL('tandem-overview.json', dir), `${JSON.stringify(overview(), null, 2)}\n`);
writeFileSync(new URL('tandem-document.json', dir), `${JSON.stringify(documentDrilldown(), null, 2)}\n`);
