/**
 * What the scale-out scenarios read besides the clients' own bookkeeping, at the edges of a
 * measurement window: every instance's /metrics (appends, Redis messages, catch-ups), PostgreSQL's
 * commit and WAL counters, Redis' PUBLISH count, and the CPU of the PostgreSQL processes serving
 * this run's instances and of the Redis server (so the busy check does not blame them on "others").
 * Loaded by the load generator only when the spec has a cluster.
 */
import pg from 'pg';
import { Redis } from 'ioredis';
import { cpuSeconds } from './procstat';
import { addScrapes, diffScrapes, histogramQuantile, parsePrometheus, sumOf, type Scrape } from './prom';

export interface ClusterProbeSpec {
  /** http://127.0.0.1:<port> of each instance. */
  httpUrls: string[];
  databaseUrl: string;
  /** application_name of each instance's pool (`tandem-<INSTANCE_ID>`). */
  applicationNames: string[];
  redisUrl: string;
}

export interface ProbeMark {
  at: number;
  metrics: Scrape;
  xactCommit: number;
  walBytes: number;
  walRecords: number;
  redisPublishes: number;
  /** CPU seconds so far of each PostgreSQL process of interest (our backends, WAL writer, …). */
  pgCpu: Map<number, number>;
  redisCpu: number;
}

/** Costs of the cluster between two marks, per update appended to the log in that span. */
export interface ClusterCosts {
  instances: number;
  /** Updates appended to the log (sum of tandem_store_append_batch_updates). */
  updates: number;
  /** Append statements (group commits), each one transaction. */
  appends: number;
  appendsPerUpdate: number;
  appendMeanMs: number;
  appendP50Ms: number;
  appendP99Ms: number;
  /** Redis messages published by the instances, kind `update` and all kinds. */
  redisUpdateMsgsPerUpdate: number;
  redisMsgsOutPerUpdate: number;
  /** Messages the instances received from Redis (each subscriber counts its own copy). */
  redisMsgsInPerUpdate: number;
  /** PUBLISH commands the Redis server counted (whole server: includes other users). */
  redisPublishesPerUpdate: number;
  publishFailures: number;
  catchUps: Record<string, number>;
  catchUpUpdates: number;
  /** Commits in the whole database per update (includes ACL/head polls and any other user). */
  pgCommitsPerUpdate: number;
  /** WAL bytes / records per update (whole server). */
  walBytesPerUpdate: number;
  walRecordsPerUpdate: number;
  pgCpuSec: number;
  redisCpuSec: number;
}

export class ClusterProbe {
  private constructor(
    private readonly spec: ClusterProbeSpec,
    private readonly pool: pg.Pool,
    private readonly redis: Redis,
    private readonly redisPid: number,
  ) {}

  static async open(spec: ClusterProbeSpec): Promise<ClusterProbe> {
    const pool = new pg.Pool({ connectionString: spec.databaseUrl, max: 1, application_name: 'tandem-bench-probe' });
    pool.on('error', () => {});
    const redis = new Redis(spec.redisUrl, { maxRetriesPerRequest: 1 });
    const info = await redis.info('server');
    const redisPid = Number(/process_id:(\d+)/.exec(info)?.[1] ?? NaN);
    return new ClusterProbe(spec, pool, redis, redisPid);
  }

  /** Read everything now. */
  async mark(): Promise<ProbeMark> {
    const [texts, db, wal, procs, stats] = await Promise.all([
      Promise.all(this.spec.httpUrls.map(async (u) => parsePrometheus(await (await fetch(`${u}/metrics`)).text()))),
      this.pool.query<{ xact_commit: string }>('SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()'),
      this.pool.query<{ wal_bytes: string; wal_records: string }>('SELECT wal_bytes, wal_records FROM pg_stat_wal'),
      // The backends of this run's instances, and the server processes every commit relies on.
      this.pool.query<{ pid: number }>(
        "SELECT pid FROM pg_stat_activity WHERE application_name = ANY($1::text[]) OR backend_type IN ('walwriter', 'checkpointer', 'background writer')",
        [this.spec.applicationNames],
      ),
      this.redis.info('commandstats'),
    ]);
    const pgCpu = new Map<number, number>();
    for (const { pid } of procs.rows) {
      const c = cpuSeconds(pid);
      if (Number.isFinite(c)) pgCpu.set(pid, c);
    }
    return {
      at: performance.now(),
      metrics: addScrapes(texts),
      xactCommit: Number(db.rows[0]?.xact_commit ?? NaN),
      walBytes: Number(wal.rows[0]?.wal_bytes ?? NaN),
      walRecords: Number(wal.rows[0]?.wal_records ?? NaN),
      redisPublishes: Number(/cmdstat_publish:calls=(\d+)/.exec(stats)?.[1] ?? 0),
      pgCpu,
      redisCpu: cpuSeconds(this.redisPid),
    };
  }

  async close(): Promise<void> {
    await this.pool.end();
    this.redis.disconnect();
  }
}

/** CPU of PostgreSQL processes between two marks (a backend first seen at `b` counts from 0). */
export function pgCpuBetween(a: ProbeMark, b: ProbeMark): number {
  let s = 0;
  for (const [pid, c] of b.pgCpu) s += c - (a.pgCpu.get(pid) ?? 0);
  return s;
}

/** The costs between two marks. */
export function clusterCosts(a: ProbeMark, b: ProbeMark, instances: number): ClusterCosts {
  const d = diffScrapes(a.metrics, b.metrics);
  const updates = sumOf(d, 'tandem_store_append_batch_updates_sum');
  const appends = sumOf(d, 'tandem_store_append_batch_updates_count');
  const per = (x: number) => (updates > 0 ? x / updates : NaN);
  const reasons: Record<string, number> = {};
  for (const r of ['gap', 'recovered', 'poll', 'subscribed']) reasons[r] = sumOf(d, 'tandem_cluster_catchups_total', { reason: r });
  return {
    instances,
    updates,
    appends,
    appendsPerUpdate: per(appends),
    appendMeanMs: appends ? (sumOf(d, 'tandem_store_append_seconds_sum') / appends) * 1000 : NaN,
    appendP50Ms: histogramQuantile(d, 'tandem_store_append_seconds', 0.5) * 1000,
    appendP99Ms: histogramQuantile(d, 'tandem_store_append_seconds', 0.99) * 1000,
    redisUpdateMsgsPerUpdate: per(sumOf(d, 'tandem_cluster_messages_total', { direction: 'out', kind: 'update' })),
    redisMsgsOutPerUpdate: per(sumOf(d, 'tandem_cluster_messages_total', { direction: 'out' })),
    redisMsgsInPerUpdate: per(sumOf(d, 'tandem_cluster_messages_total', { direction: 'in' })),
    redisPublishesPerUpdate: per(b.redisPublishes - a.redisPublishes),
    publishFailures: sumOf(d, 'tandem_cluster_publish_failures_total'),
    catchUps: reasons,
    catchUpUpdates: sumOf(d, 'tandem_cluster_catchup_updates_total'),
    pgCommitsPerUpdate: per(b.xactCommit - a.xactCommit),
    walBytesPerUpdate: per(b.walBytes - a.walBytes),
    walRecordsPerUpdate: per(b.walRecords - a.walRecords),
    pgCpuSec: pgCpuBetween(a, b),
    redisCpuSec: b.redisCpu - a.redisCpu,
  };
}
