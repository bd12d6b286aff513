/** Turn the benchmark's raw records into medians, ratios, target checks and a printable table. */
import type { ScenarioResult } from './scenarios';
import { median } from './stats';

type Rec = ScenarioResult & { rep: number; reruns: number; fatal?: string };

interface Metric {
  scenario: string;
  name: string;
  unit: string;
  pick: (r: Rec) => number;
  /** Lower is better (latency, CPU, memory). */
  lower: boolean;
}

const util = (r: Rec) => r.cpu.serverSec / r.cpu.wallSec;
export const METRICS: Metric[] = [
  { scenario: 'fanout', name: 'fan-out p50', unit: 'ms', pick: (r) => r.latencyMs.p50, lower: true },
  { scenario: 'fanout', name: 'fan-out p95', unit: 'ms', pick: (r) => r.latencyMs.p95 ?? NaN, lower: true },
  { scenario: 'fanout', name: 'fan-out p99', unit: 'ms', pick: (r) => r.latencyMs.p99, lower: true },
  { scenario: 'fanout', name: 'fan-out max', unit: 'ms', pick: (r) => r.latencyMs.max, lower: true },
  { scenario: 'fanout', name: 'fan-out deliveries/s', unit: '/s', pick: (r) => r.deliveriesPerSec, lower: false },
  { scenario: 'fanout', name: 'fan-out server CPU per 1k deliveries', unit: 'ms', pick: (r) => r.serverCpuPer1kDeliveries * 1000, lower: true },
  { scenario: 'fanout', name: 'fan-out server RSS', unit: 'MB', pick: (r) => r.serverRssKb / 1024, lower: true },
  { scenario: 'throughput', name: 'throughput updates/s', unit: '/s', pick: (r) => r.updatesPerSec, lower: false },
  { scenario: 'throughput', name: 'throughput deliveries/s', unit: '/s', pick: (r) => r.deliveriesPerSec, lower: false },
  { scenario: 'throughput', name: 'throughput p50', unit: 'ms', pick: (r) => r.latencyMs.p50, lower: true },
  { scenario: 'throughput', name: 'throughput p99', unit: 'ms', pick: (r) => r.latencyMs.p99, lower: true },
  { scenario: 'throughput', name: 'throughput max', unit: 'ms', pick: (r) => r.latencyMs.max, lower: true },
  { scenario: 'throughput', name: 'throughput server CPU per 1k deliveries', unit: 'ms', pick: (r) => r.serverCpuPer1kDeliveries * 1000, lower: true },
  { scenario: 'throughput', name: 'throughput server core use', unit: '%', pick: (r) => util(r) * 100, lower: true },
  { scenario: 'throughput', name: 'throughput loadgen core use', unit: '%', pick: (r) => (r.cpu.loadgenSec / r.cpu.wallSec) * 100, lower: true },
  { scenario: 'throughput', name: 'throughput server RSS', unit: 'MB', pick: (r) => r.serverRssKb / 1024, lower: true },
  { scenario: 'manydocs', name: 'many docs p50', unit: 'ms', pick: (r) => r.latencyMs.p50, lower: true },
  { scenario: 'manydocs', name: 'many docs p99', unit: 'ms', pick: (r) => r.latencyMs.p99, lower: true },
  { scenario: 'manydocs', name: 'many docs max', unit: 'ms', pick: (r) => r.latencyMs.max, lower: true },
  { scenario: 'manydocs', name: 'many docs updates/s', unit: '/s', pick: (r) => r.updatesPerSec, lower: false },
  { scenario: 'manydocs', name: 'many docs deliveries/s', unit: '/s', pick: (r) => r.deliveriesPerSec, lower: false },
  { scenario: 'manydocs', name: 'many docs server CPU', unit: 's', pick: (r) => r.cpu.serverSec, lower: true },
  { scenario: 'manydocs', name: 'many docs server CPU per 1k deliveries', unit: 'ms', pick: (r) => r.serverCpuPer1kDeliveries * 1000, lower: true },
  { scenario: 'manydocs', name: 'many docs server RSS', unit: 'MB', pick: (r) => r.serverRssKb / 1024, lower: true },
  { scenario: 'idle', name: 'idle RSS per synced socket', unit: 'KB', pick: (r) => r.rssPerSocketKb ?? NaN, lower: true },
  { scenario: 'idle', name: 'idle connect+sync time', unit: 's', pick: (r) => r.connectSec, lower: true },
  { scenario: 'idle', name: 'idle server RSS', unit: 'MB', pick: (r) => r.serverRssKb / 1024, lower: true },
];

export function summary(records: Rec[], servers: string[]): Record<string, Record<string, { median: number; runs: number[] }>> {
  const out: Record<string, Record<string, { median: number; runs: number[] }>> = {};
  for (const m of METRICS) {
    const row: Record<string, { median: number; runs: number[] }> = {};
    for (const s of servers) {
      const runs = records.filter((r) => r.label === m.scenario && r.server === s && !r.fatal).map(m.pick);
      row[s] = { median: median(runs), runs };
    }
    out[m.name] = row;
  }
  return out;
}

const fmt = (x: number) => (!Number.isFinite(x) ? '-' : Math.abs(x) >= 1000 ? x.toFixed(0) : Math.abs(x) >= 100 ? x.toFixed(1) : x.toFixed(2));

export interface Target {
  name: string;
  value: string;
  holds: boolean | null;
}

export function report(records: Rec[], ctx: { servers: string[]; sizes: Record<string, number>; quick: boolean; telemetryNotes: string[]; extra: Record<string, unknown> }) {
  const sum = summary(records, ctx.servers);
  const peers = ctx.servers.filter((s) => s !== 'tandem' && s !== 'tandem-notel' && s !== CLUSTER);
  const lines: string[] = [];
  const head = ['metric', ...ctx.servers, ...peers.map((p) => `tandem ÷ ${p}`)];
  const rows: string[][] = [];
  for (const m of METRICS) {
    const row = sum[m.name]!;
    if (ctx.servers.every((s) => !Number.isFinite(row[s]?.median ?? NaN))) continue;
    const t = row.tandem?.median ?? NaN;
    rows.push([`${m.name} (${m.unit})`, ...ctx.servers.map((s) => fmt(row[s]!.median)), ...peers.map((p) => (Number.isFinite(t) ? `${fmt(t / row[p]!.median)}×` : '-'))]);
  }
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  lines.push(line(head));
  lines.push(`|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`);
  for (const r of rows) lines.push(line(r));

  const med = (name: string, s: string) => sum[name]?.[s]?.median ?? NaN;
  const targets: Target[] = [];
  const ratioT = (name: string, a: number, b: number, op: '>=' | '<=', limit: number) => {
    const x = a / b;
    targets.push({ name, value: `${fmt(a)} / ${fmt(b)} = ${fmt(x)}×`, holds: Number.isFinite(x) ? (op === '>=' ? x >= limit : x <= limit) : null });
  };
  ratioT('throughput, everything on ≥ 1.0 × Hocuspocus', med('throughput updates/s', 'tandem'), med('throughput updates/s', 'hocuspocus'), '>=', 1.0);
  ratioT('fan-out p99 ≤ 1.3 × raw relay', med('fan-out p99', 'tandem'), med('fan-out p99', 'relay'), '<=', 1.3);
  ratioT('many-docs server CPU ≤ y-websocket server', med('many docs server CPU', 'tandem'), med('many docs server CPU', 'y-websocket'), '<=', 1.0);
  ratioT('RSS per synced idle socket ≤ y-websocket server', med('idle RSS per synced socket', 'tandem'), med('idle RSS per synced socket', 'y-websocket'), '<=', 1.0);
  const big = records.find((r) => r.label === 'big');
  if (big) {
    const ok = !big.fatal && big.errors.length === 0 && big.converged.missingDeliveries === 0;
    targets.push({ name: `${big.sockets} synced sockets on one core without errors`, value: big.fatal ? 'failed' : `${big.errors.length} errors, ${big.converged.missingDeliveries} missing deliveries, ${fmt(big.rssPerSocketKb ?? NaN)} KB/socket, connect+sync ${fmt(big.connectSec)} s`, holds: ok });
  }
  // Cold loads: the median over the copies of each stored shape (cold-raw-1, cold-raw-2, ...).
  const coldRaw = records.filter((r) => r.label === 'cold' || r.label === 'cold-recompacted').flatMap((r) => (r.cold ?? []).map((c) => ({ ...c, shape: r.label === 'cold-recompacted' ? 'compacted by Tandem on unload' : c.doc.replace(/-\d+$/, '') })));
  const cold = [...new Set(coldRaw.map((c) => c.shape))].map((shape) => {
    const xs = coldRaw.filter((c) => c.shape === shape);
    return { shape, ms: median(xs.map((c) => c.firstSyncMs)), runs: xs.map((c) => c.firstSyncMs), chars: xs[0]!.chars, ok: xs.every((c) => c.ok) };
  });
  const after = cold.filter((c) => c.shape === 'cold-snap' || c.shape.startsWith('compacted'));
  if (after.length) {
    const worst = Math.max(...after.map((c) => c.ms));
    targets.push({ name: 'cold load: first sync ≤ 100 ms after compaction', value: after.map((c) => `${c.shape} ${fmt(c.ms)} ms`).join(', '), holds: worst <= 100 && after.every((c) => c.ok) });
  }
  const on = med('throughput updates/s', 'tandem');
  const off = med('throughput updates/s', 'tandem-notel');
  targets.push({ name: 'telemetry on vs off ≤ 10% throughput cost', value: `${fmt(on)} vs ${fmt(off)} updates/s: ${fmt((1 - on / off) * 100)}% cost`, holds: Number.isFinite(on / off) ? 1 - on / off <= 0.1 : null });

  lines.push('');
  const scale = scaleOut(records, sum);
  if (scale.lines.length) lines.push(...scale.lines, '');
  if (cold.length) {
    lines.push('Cold load (Tandem, first sync of one document, from socket open to sync step 2):');
    for (const c of cold) lines.push(`  ${c.shape}: ${fmt(c.ms)} ms (runs ${c.runs.map(fmt).join(', ')}; ${c.chars} chars${c.ok ? '' : ', WRONG'})`);
    lines.push('');
  }
  const large = records.filter((r) => r.label === 'large' && r.large);
  if (large.length) {
    // Tandem only (large.ts): the peers have no chunk extension, so they are n/a here.
    lines.push('Large messages (Tandem single instance, CHUNK extension; peers n/a: no chunked path):');
    for (const r of large) {
      const l = r.large!;
      const mb = (kb: number) => fmt(kb / 1024);
      lines.push(`  ${fmt(l.pasteBytes / 2 ** 20)} MB paste (${fmt(l.updateBytes / 2 ** 20)} MB update) to ${l.readers} readers: reached p50 ${fmt(l.reachMs.p50)} ms, last ${fmt(l.reachMs.max)} ms (upload ${fmt(l.uploadMs)} ms); ${l.intact}/${l.readers} intact; fresh client synced ${l.freshParagraphs} paragraphs`);
      lines.push(`  server RSS during it: ${mb(l.serverRssBaseKb)} MB before, peak ${mb(l.serverRssPeakKb)} MB (+${mb(l.serverRssPeakKb - l.serverRssBaseKb)} MB); server CPU ${fmt(l.serverCpuSec * 1000)} ms${(r as { busy?: boolean }).busy ? ' (BUSY machine)' : ''}`);
      if (l.cold) lines.push(`  cold load of a ${fmt(l.cold.bytes / 2 ** 20)} MB document (socket open → whole sync step 2): ${fmt(l.cold.firstSyncMs)} ms (${l.cold.paragraphs} paragraphs${l.cold.ok ? '' : ', WRONG'})`);
    }
    lines.push('');
  }
  lines.push('Targets (ratios from this run):');
  for (const t of targets) lines.push(`  [${t.holds === null ? ' ? ' : t.holds ? 'met' : 'MISSED'}] ${t.name}: ${t.value}`);
  const problems = records.filter((r) => r.fatal || r.errors.length || !r.converged.replicasOk || r.converged.missingDeliveries);
  lines.push('');
  lines.push(`Convergence: ${problems.length === 0 ? 'every client of every run converged; fresh clients synced the same state' : `${problems.length} run(s) with problems:`}`);
  for (const p of problems.slice(0, 10)) lines.push(`  ${p.server} ${p.label} rep ${p.rep + 1}: ${p.fatal ? p.fatal.split('\n')[0] : p.errors.slice(0, 2).join('; ')}`);
  const rerun = records.filter((r) => r.reruns > 0);
  if (rerun.length) lines.push(`Reruns because the machine was busy: ${rerun.map((r) => `${r.server}/${r.label}`).join(', ')}`);
  const busy = records.filter((r) => (r as { busy?: boolean }).busy);
  if (busy.length) lines.push(`BUSY MACHINE: other processes used >15% of a core during ${busy.length} kept run(s): ${busy.map((r) => `${r.server}/${r.label}#${r.rep + 1}`).join(', ')}`);
  const lgBound = records.filter((r) => r.label === 'throughput' && !r.fatal && r.cpu.loadgenSec / r.cpu.wallSec > 0.95 && r.cpu.serverSec / r.cpu.wallSec < 0.9);
  if (lgBound.length) lines.push(`Load generator was the bottleneck (its core full, the server's not) in: ${[...new Set(lgBound.map((r) => r.server))].join(', ')}; those throughput figures are lower bounds.`);
  for (const n of ctx.telemetryNotes) lines.push(`Note: ${n}`);
  return { text: `${lines.join('\n')}\n`, targets, scaleOut: scale.figures };
}

const CLUSTER = 'tandem-cluster';

/** Median over the kept cluster runs of `label` of a figure. */
function clusterMedian(records: Rec[], label: string, pick: (r: Rec) => number): number {
  return median(records.filter((r) => r.server === CLUSTER && r.label === label && !r.fatal && r.cluster).map(pick));
}

/**
 * The scale-out section: the cluster's figures beside single-instance Tandem's, its PostgreSQL and
 * Redis costs per update, and the per-instance capacity figures the README's capacity model uses.
 */
export function scaleOut(records: Rec[], sum: ReturnType<typeof summary>): { lines: string[]; figures: Record<string, number> } {
  const runs = records.filter((r) => r.server === CLUSTER && r.cluster && !r.fatal);
  if (runs.length === 0) return { lines: [], figures: {} };
  const n = runs[0]!.cluster!.window.instances;
  const single = (name: string) => sum[name]?.tandem?.median ?? NaN;
  const clus = (name: string) => sum[name]?.[CLUSTER]?.median ?? NaN;
  const lines: string[] = [`Scale-out (${CLUSTER}: ${n} collab-server instances on PostgreSQL + Redis, all pinned to core 0; beside single-instance tandem):`];
  const head = ['metric', 'tandem (1 instance)', `${CLUSTER} (${n})`, 'cluster ÷ single'];
  const rows: string[][] = [];
  for (const name of ['fan-out p50', 'fan-out p95', 'fan-out p99', 'fan-out max', 'fan-out server CPU per 1k deliveries', 'throughput updates/s', 'throughput deliveries/s', 'throughput p50', 'throughput p99', 'throughput server CPU per 1k deliveries', 'throughput server core use', 'many docs p50', 'many docs p99', 'many docs server CPU per 1k deliveries', 'idle RSS per synced socket', 'idle server RSS']) {
    const m = METRICS.find((x) => x.name === name)!;
    const a = single(name);
    const b = clus(name);
    if (!Number.isFinite(b)) continue;
    rows.push([`${name} (${m.unit})`, fmt(a), fmt(b), Number.isFinite(a) ? `${fmt(b / a)}×` : '-']);
  }
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  lines.push(line(head), `|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`, ...rows.map(line));

  // Costs per update, in each traffic scenario's window (median over repetitions).
  const costRows: [string, (c: NonNullable<Rec['cluster']>['window'], r: Rec) => number, number][] = [
    ['PostgreSQL appends (transactions) per update', (c) => c.appendsPerUpdate, 3],
    ['updates per append (group commit)', (c) => 1 / c.appendsPerUpdate, 1],
    ['append latency mean (ms)', (c) => c.appendMeanMs, 2],
    ['append latency p50 / p99 (ms, bucket bound)', (c) => c.appendP50Ms, 2],
    ['', (c) => c.appendP99Ms, 2],
    ['PostgreSQL commits per update (whole database)', (c) => c.pgCommitsPerUpdate, 3],
    ['WAL bytes per update (whole server)', (c) => c.walBytesPerUpdate, 0],
    ['Redis update messages published per update', (c) => c.redisUpdateMsgsPerUpdate, 3],
    ['Redis messages published per update, all kinds', (c) => c.redisMsgsOutPerUpdate, 3],
    ['Redis messages received per update (all instances)', (c) => c.redisMsgsInPerUpdate, 3],
    ['PostgreSQL CPU per 1k updates (ms)', (c) => (c.pgCpuSec / c.updates) * 1e6, 1],
    ['Redis CPU per 1k updates (ms)', (c) => (c.redisCpuSec / c.updates) * 1e6, 1],
    ['collab-server CPU per 1k updates, all instances (ms)', (c, r) => (r.cpu.serverSec / c.updates) * 1e6, 1],
  ];
  const labels = ['fanout', 'throughput', 'manydocs'].filter((l) => runs.some((r) => r.label === l));
  lines.push('', `Costs per update appended to the log, in the measurement window (median over repetitions): ${labels.join(' / ')}`);
  for (let i = 0; i < costRows.length; i++) {
    const [name, pick, digits] = costRows[i]!;
    if (!name) continue;
    const vals = (p: typeof pick) => labels.map((l) => clusterMedian(records, l, (r) => p(r.cluster!.window, r)).toFixed(digits)).join(' / ');
    const next = costRows[i + 1];
    lines.push(`  ${name}: ${vals(pick)}${next && !next[0] ? ` | p99 ${vals(next[1])}` : ''}`);
  }
  const catchUp = runs.reduce((s, r) => s + r.cluster!.whole.catchUpUpdates, 0);
  const appended = runs.reduce((s, r) => s + r.cluster!.whole.updates, 0);
  const failures = runs.reduce((s, r) => s + r.cluster!.whole.publishFailures, 0);
  const byReason: Record<string, number> = {};
  for (const r of runs) for (const [k, v] of Object.entries(r.cluster!.whole.catchUps)) byReason[k] = (byReason[k] ?? 0) + v;
  lines.push(`  updates applied from the log instead of Redis (whole runs, all scenarios): ${catchUp} of ${appended} appended (${fmt((catchUp / appended) * 100)}%); catch-up reads by reason ${Object.entries(byReason).map(([k, v]) => `${k} ${v}`).join(', ')}; Redis publish failures ${failures}`);
  for (const l of labels) {
    const rs = runs.filter((r) => r.label === l);
    const c = rs.reduce((s, r) => s + r.cluster!.whole.catchUpUpdates, 0);
    lines.push(`    ${l}: ${c} of ${rs.reduce((s, r) => s + r.cluster!.whole.updates, 0)} from the log`);
  }

  // Per-instance capacity: what one core of collab-server does (CPU of all instances ÷ wall = cores used).
  const coresUsed = (r: Rec) => r.cpu.serverSec / r.cpu.wallSec;
  const figures: Record<string, number> = {
    instances: n,
    spreadUpdatesPerSec: clus('throughput updates/s'),
    spreadUpdatesPerCore: clusterMedian(records, 'throughput', (r) => r.updatesPerSec / coresUsed(r)),
    spreadDeliveriesPerCore: clusterMedian(records, 'throughput', (r) => r.deliveriesPerSec / coresUsed(r)),
    routedUpdatesPerCore: clusterMedian(records, 'manydocs', (r) => r.updatesPerSec / coresUsed(r)),
    routedCoreUse: clusterMedian(records, 'manydocs', coresUsed),
    routedUpdatesPerSec: clusterMedian(records, 'manydocs', (r) => r.updatesPerSec),
    routedSockets: clusterMedian(records, 'manydocs', (r) => r.sockets),
    singleUpdatesPerCore: median(records.filter((r) => r.server === 'tandem' && r.label === 'throughput' && !r.fatal).map((r) => r.updatesPerSec / coresUsed(r))),
    singleManyDocsUpdatesPerCore: median(records.filter((r) => r.server === 'tandem' && r.label === 'manydocs' && !r.fatal).map((r) => r.updatesPerSec / coresUsed(r))),
    idleRssPerSocketKb: clus('idle RSS per synced socket'),
    idleSockets: clusterMedian(records, 'idle', (r) => r.sockets),
    idleConnectSec: clusterMedian(records, 'idle', (r) => r.connectSec),
    idleInstanceRssMb: clusterMedian(records, 'idle', (r) => Math.max(...r.cluster!.perInstanceRssKb) / 1024),
    fanoutP99Ms: clus('fan-out p99'),
    pgCpuMsPer1kRouted: clusterMedian(records, 'manydocs', (r) => (r.cluster!.window.pgCpuSec / r.cluster!.window.updates) * 1e6),
    pgCpuMsPer1kSpread: clusterMedian(records, 'throughput', (r) => (r.cluster!.window.pgCpuSec / r.cluster!.window.updates) * 1e6),
    appendsPerUpdateRouted: clusterMedian(records, 'manydocs', (r) => r.cluster!.window.appendsPerUpdate),
    appendsPerUpdateSpread: clusterMedian(records, 'throughput', (r) => r.cluster!.window.appendsPerUpdate),
    walBytesPerUpdateRouted: clusterMedian(records, 'manydocs', (r) => r.cluster!.window.walBytesPerUpdate),
    catchUpShare: catchUp / appended,
  };
  lines.push(
    '',
    'Per-instance capacity (collab-server CPU only; PostgreSQL and Redis above):',
    `  updates/s per core, clients of each document spread over instances (throughput): ${fmt(figures.spreadUpdatesPerCore!)} (${fmt(figures.spreadDeliveriesPerCore!)} deliveries/s); single instance: ${fmt(figures.singleUpdatesPerCore!)}`,
    `  updates/s per core, each document on one instance (many docs, ${fmt(figures.routedSockets!)} sockets typing ${fmt(figures.routedUpdatesPerSec!)} updates/s used ${fmt(figures.routedCoreUse! * 100)}% of a core): ${fmt(figures.routedUpdatesPerCore!)}; single instance: ${fmt(figures.singleManyDocsUpdatesPerCore!)}`,
    `  idle synced sockets: ${fmt(figures.idleRssPerSocketKb!)} KB RSS each (${fmt(figures.idleSockets!)} sockets over ${n} instances, connect+sync ${fmt(figures.idleConnectSec!)} s); largest instance RSS ${fmt(figures.idleInstanceRssMb!)} MB`,
  );
  return { lines, figures };
}
