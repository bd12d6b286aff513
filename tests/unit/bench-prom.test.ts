/** The benchmark reads collab-server's /metrics: parsing, summing over instances, diffs and histogram quantiles. */
import { describe, expect, it } from 'vitest';
import { Registry, Counter, Histogram } from 'prom-client';
import { addScrapes, diffScrapes, histogramQuantile, labelsOf, parsePrometheus, sumOf } from '../load/prom';
import { clusterCosts, type ProbeMark } from '../load/cluster-probe';

const sample = `# HELP tandem_cluster_messages_total Redis fan-out messages by direction and kind
# TYPE tandem_cluster_messages_total counter
tandem_cluster_messages_total{direction="out",kind="update"} 120
tandem_cluster_messages_total{direction="out",kind="awareness"} 3
tandem_cluster_messages_total{direction="in",kind="update"} 240
tandem_store_append_batch_updates_sum 400
tandem_store_append_batch_updates_count 100
tandem_cluster_redis_up 1
weird_metric{a="x \\"quoted\\", y"} NaN
`;

describe('bench Prometheus reader', () => {
  it('parses series with labels, skipping comments and non-numbers', () => {
    const s = parsePrometheus(sample);
    expect(s.get('tandem_store_append_batch_updates_sum')).toBe(400);
    expect(s.get('tandem_cluster_messages_total{direction="out",kind="update"}')).toBe(120);
    expect(s.has('weird_metric{a="x \\"quoted\\", y"}')).toBe(false);
    expect(labelsOf('m{a="x \\"q\\"",b="2"}')).toEqual({ a: 'x "q"', b: '2' });
  });

  it('sums a metric by label subset, over instances, and diffs two scrapes', () => {
    const a = parsePrometheus(sample);
    const both = addScrapes([a, a]);
    expect(sumOf(both, 'tandem_cluster_messages_total', { direction: 'out' })).toBe(246);
    expect(sumOf(both, 'tandem_cluster_messages_total')).toBe(726);
    const later = parsePrometheus(sample.replace(' 120', ' 150').replace('count 100', 'count 110'));
    const d = diffScrapes(a, later);
    expect(sumOf(d, 'tandem_cluster_messages_total', { kind: 'update', direction: 'out' })).toBe(30);
    expect(sumOf(d, 'tandem_store_append_batch_updates_count')).toBe(10);
  });

  it('reads what prom-client writes, and takes a histogram quantile as the bucket bound', async () => {
    const reg = new Registry();
    const h = new Histogram({ name: 'x_seconds', help: 'h', buckets: [0.001, 0.01, 0.1], registers: [reg] });
    const c = new Counter({ name: 'y_total', help: 'c', labelNames: ['k'], registers: [reg] });
    for (let i = 0; i < 90; i++) h.observe(0.0005);
    for (let i = 0; i < 9; i++) h.observe(0.005);
    h.observe(5);
    c.inc({ k: 'a' }, 2);
    const s = parsePrometheus(await reg.metrics());
    expect(sumOf(s, 'y_total', { k: 'a' })).toBe(2);
    expect(histogramQuantile(s, 'x_seconds', 0.5)).toBe(0.001);
    expect(histogramQuantile(s, 'x_seconds', 0.95)).toBe(0.01);
    expect(histogramQuantile(s, 'x_seconds', 0.999)).toBe(Infinity);
    expect(histogramQuantile(new Map(), 'x_seconds', 0.5)).toBeNaN();
  });

  it('cluster costs are per update appended between two marks', () => {
    const mark = (text: string, xact: number, wal: number, pubs: number, pgCpu: [number, number][]): ProbeMark => ({
      at: 0,
      metrics: parsePrometheus(text),
      xactCommit: xact,
      walBytes: wal,
      walRecords: wal / 100,
      redisPublishes: pubs,
      pgCpu: new Map(pgCpu),
      redisCpu: 1,
    });
    const a = mark(sample, 1000, 10_000, 50, [[1, 2]]);
    const b = mark(sample.replace('_sum 400', '_sum 600').replace('count 100', 'count 150').replace(' 120', ' 170'), 1060, 40_000, 100, [[1, 2.5], [2, 0.1]]);
    const c = clusterCosts(a, b, 3);
    expect(c.updates).toBe(200);
    expect(c.appendsPerUpdate).toBe(0.25);
    expect(c.redisUpdateMsgsPerUpdate).toBe(0.25);
    expect(c.redisPublishesPerUpdate).toBe(0.25);
    expect(c.pgCommitsPerUpdate).toBe(0.3);
    expect(c.walBytesPerUpdate).toBe(150);
    expect(c.pgCpuSec).toBeCloseTo(0.6);
  });
});
