/**
 * Every Prometheus metric Tandem's collab-server exports, defined in one place. One registry per
 * server instance (no module-level singleton), so two servers can run in one test process.
 * Labels stay low-cardinality: never a document or user id.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type OpenMetricsContentType } from 'prom-client';

/** Latency buckets in seconds, dense below 10 ms where the update path lives. */
const fastBuckets = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/**
 * prom-client replaces `observe` with its exemplar variant when `enableExemplars` is set, and that
 * variant throws on a plain number ("Value is not a valid number: undefined"). Accept both forms,
 * so `h.observe(seconds)` keeps working and `h.observe({ value, exemplarLabels })` adds the trace id.
 */
function acceptPlainObserve<T extends string>(h: Histogram<T>): Histogram<T> {
  const withExemplar = h.observe.bind(h) as (d: { value: number; labels?: Partial<Record<T, string | number>>; exemplarLabels?: Record<string, string> }) => void;
  (h as { observe: unknown }).observe = (a: unknown, b?: number) => {
    if (typeof a === 'number') withExemplar({ value: a });
    else if (typeof b === 'number') withExemplar({ labels: a as Partial<Record<T, string | number>>, value: b });
    else withExemplar(a as { value: number });
  };
  return h;
}

/**
 * A labelled counter for the per-message path. prom-client's `inc(labels)` validates and hashes
 * the labels on every call (~1 µs); here a call is one Map update, and the sums are folded into
 * the real Counter when Prometheus scrapes (or a test reads it).
 */
export interface HotCounter<L extends string> {
  inc(labels: Record<L, string>, by?: number): void;
  get(): ReturnType<Counter<L>['get']>;
}

function hotCounter<L extends string>(registry: Registry<OpenMetricsContentType>, cfg: { name: string; help: string; labelNames: readonly L[] }): HotCounter<L> {
  const pending = new Map<string, { labels: Record<L, string>; n: number }>();
  const fold = (c: Counter<L>) => {
    for (const p of pending.values()) if (p.n) c.inc(p.labels, p.n);
    for (const p of pending.values()) p.n = 0;
  };
  const counter: Counter<L> = new Counter<L>({
    ...cfg,
    registers: [registry],
    collect() {
      fold(this as Counter<L>);
    },
  });
  const key = cfg.labelNames.length === 1 ? (l: Record<L, string>) => l[cfg.labelNames[0]!] : (l: Record<L, string>) => cfg.labelNames.map((n) => l[n]).join('\u0000');
  return {
    inc(labels, by = 1) {
      const k = key(labels);
      const p = pending.get(k);
      if (p) p.n += by;
      else pending.set(k, { labels: { ...labels }, n: by });
    },
    get() {
      fold(counter);
      return counter.get();
    },
  };
}

export function createCollabMetrics(opts: { defaultMetrics?: boolean } = {}) {
  // OpenMetrics so histograms can carry exemplars (trace ids) for Grafana to jump from a slow bucket to its trace.
  const registry = new Registry<OpenMetricsContentType>();
  registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  const m = {
    registry,
    openSockets: new Gauge({ name: 'tandem_open_sockets', help: 'Open WebSocket connections', registers: [registry] }),
    connectionsOpened: new Counter({ name: 'tandem_connections_opened_total', help: 'WebSocket connections accepted', registers: [registry] }),
    connectionsClosed: new Counter({
      name: 'tandem_connections_closed_total',
      help: 'WebSocket connections closed, by close code name',
      labelNames: ['code'] as const,
      registers: [registry],
    }),
    upgradesRefused: new Counter({
      name: 'tandem_upgrades_refused_total',
      help: 'WebSocket upgrades refused before a connection existed, by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    messagesIn: hotCounter(registry, { name: 'tandem_messages_in_total', help: 'Inbound messages by type', labelNames: ['type'] as const }),
    bytesIn: hotCounter(registry, { name: 'tandem_bytes_in_total', help: 'Inbound bytes by message type', labelNames: ['type'] as const }),
    messagesOut: hotCounter(registry, { name: 'tandem_messages_out_total', help: 'Outbound messages by type', labelNames: ['type'] as const }),
    bytesOut: hotCounter(registry, { name: 'tandem_bytes_out_total', help: 'Outbound bytes by message type', labelNames: ['type'] as const }),
    updateLatency: acceptPlainObserve(new Histogram({
      name: 'tandem_update_handling_seconds',
      help: 'From an update frame arriving to it being durable, applied and broadcast',
      buckets: fastBuckets,
      enableExemplars: true,
      registers: [registry],
    })),
    fanoutLatency: acceptPlainObserve(new Histogram({
      name: 'tandem_fanout_seconds',
      help: 'Time to hand one broadcast to every local socket of the document',
      buckets: fastBuckets,
      enableExemplars: true,
      registers: [registry],
    })),
    fanoutRecipients: new Histogram({
      name: 'tandem_fanout_recipients',
      help: 'Sockets one broadcast was sent to',
      buckets: [0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000],
      registers: [registry],
    }),
    authzDecisions: hotCounter(registry, {
      name: 'tandem_authz_decisions_total',
      help: 'Authorization decisions on connect and on writes, by result and reason',
      labelNames: ['action', 'result', 'reason'] as const,
    }),
    refusedUpdates: new Counter({
      name: 'tandem_updates_refused_total',
      help: 'Updates refused before being applied, by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    tokenRenewals: new Counter({ name: 'tandem_token_renewals_total', help: 'In-band token renewals by result', labelNames: ['result'] as const, registers: [registry] }),
    rateLimited: new Counter({ name: 'tandem_rate_limit_hits_total', help: 'Connections or messages refused by a rate limit', labelNames: ['limit'] as const, registers: [registry] }),
    // Issue 13: inbound throttling steps (slowed → recovered | closed; awareness dropped) and load shedding.
    throttled: new Counter({ name: 'tandem_inbound_throttled_total', help: 'Inbound throttling steps by reason (messages, bytes, user-*, anomaly-*, awareness) and action (slowed, recovered, closed, dropped)', labelNames: ['reason', 'action'] as const, registers: [registry] }),
    shedding: new Gauge({ name: 'tandem_load_shedding', help: '1 while new sockets are refused because the event loop lags or memory is near its budget', labelNames: ['reason'] as const, registers: [registry] }),
    shedRefused: new Counter({ name: 'tandem_load_shed_refused_total', help: 'New sockets refused while shedding load', registers: [registry] }),
    // Issue 15: the SSE + POST fallback (its connections count in tandem_open_sockets like sockets).
    sse: new Counter({ name: 'tandem_sse_events_total', help: 'SSE transport: sessions opened, resumed, resume-refused; POSTed messages applied, duplicate (a retried POST), gap (409)', labelNames: ['event'] as const, registers: [registry] }),
    storeAppend: new Histogram({ name: 'tandem_store_append_seconds', help: 'Update-log append (one group commit)', buckets: fastBuckets, registers: [registry] }),
    storeAppendBatch: new Histogram({ name: 'tandem_store_append_batch_updates', help: 'Updates per group commit', buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256], registers: [registry] }),
    compaction: new Histogram({ name: 'tandem_compaction_seconds', help: 'Folding a document log into a snapshot', buckets: fastBuckets, registers: [registry] }),
    docLoad: new Histogram({ name: 'tandem_doc_load_seconds', help: 'Loading a document from the store', buckets: fastBuckets, registers: [registry] }),
    docsInMemory: new Gauge({ name: 'tandem_docs_in_memory', help: 'Documents loaded in memory', registers: [registry] }),
    errors: new Counter({ name: 'tandem_errors_total', help: 'Errors caught and handled, by where', labelNames: ['where'] as const, registers: [registry] }),
    logLinesDropped: new Counter({ name: 'tandem_log_lines_dropped_total', help: 'Log lines that could not be shipped to Loki', registers: [registry] }),
    // Scale-out (PostgreSQL + Redis): the fast path, and how often the log had to fill in for it.
    clusterMessages: new Counter({ name: 'tandem_cluster_messages_total', help: 'Redis fan-out messages by direction (in, out, skipped: no other instance has the document) and kind', labelNames: ['direction', 'kind'] as const, registers: [registry] }),
    clusterPublishFailures: new Counter({ name: 'tandem_cluster_publish_failures_total', help: 'Redis publishes that failed or timed out (other instances catch up from the log)', registers: [registry] }),
    clusterCatchUps: new Counter({ name: 'tandem_cluster_catchups_total', help: 'Reads of the update log to fill a gap, by why', labelNames: ['reason'] as const, registers: [registry] }),
    clusterCatchUpUpdates: new Counter({ name: 'tandem_cluster_catchup_updates_total', help: 'Updates applied from the log rather than from Redis', registers: [registry] }),
    clusterRedisUp: new Gauge({ name: 'tandem_cluster_redis_up', help: '1 when the Redis fan-out is connected and answering', registers: [registry] }),
    // Large messages (CHUNK extension): what reassembly holds right now, and how chunked messages ended.
    chunkBufferedBytes: new Gauge({ name: 'tandem_chunk_buffered_bytes', help: 'Bytes held by partly received chunked messages (all connections)', registers: [registry] }),
    chunkedMessages: new Counter({ name: 'tandem_chunked_messages_total', help: 'Chunked messages by direction and outcome', labelNames: ['direction', 'result'] as const, registers: [registry] }),
  };
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'tandem_process_', eventLoopMonitoringPrecision: 20 });
  return m;
}

export type CollabMetrics = ReturnType<typeof createCollabMetrics>;

/**
 * The Next.js app's metrics (served at the app's /metrics). Process metrics are prefixed
 * `tandem_app_` so one Prometheus can scrape the app and collab-server side by side.
 */
export function createAppMetrics(opts: { defaultMetrics?: boolean } = {}) {
  const registry = new Registry<OpenMetricsContentType>();
  registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  const m = {
    registry,
    requestErrors: new Counter({
      name: 'tandem_app_request_errors_total',
      help: 'Errors thrown while serving a request, by Next.js route type (render, route, action, middleware)',
      labelNames: ['route_type'] as const,
      registers: [registry],
    }),
    metricsScrapes: new Counter({ name: 'tandem_app_metrics_scrapes_total', help: 'Requests to the app /metrics endpoint', registers: [registry] }),
    metricsRefused: new Counter({ name: 'tandem_app_metrics_refused_total', help: '/metrics requests refused (no or wrong scrape token, outside METRICS_ALLOWED_NETWORKS), by HTTP status', labelNames: ['status'] as const, registers: [registry] }),
    logLinesDropped: new Counter({ name: 'tandem_app_log_lines_dropped_total', help: 'App log lines that could not be shipped to Loki', registers: [registry] }),
    clientReports: new Counter({
      name: 'tandem_app_client_reports_total',
      help: 'Browser reports accepted (reconnect, close, sync-failure, error), by kind and close code name',
      labelNames: ['kind', 'code'] as const,
      registers: [registry],
    }),
    clientReportsDropped: new Counter({ name: 'tandem_app_client_reports_dropped_total', help: 'Browser reports refused, by reason (rate, invalid)', labelNames: ['reason'] as const, registers: [registry] }),
  };
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'tandem_app_', eventLoopMonitoringPrecision: 20 });
  return m;
}

export type AppMetrics = ReturnType<typeof createAppMetrics>;
