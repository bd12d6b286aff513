/**
 * The benchmark scenarios as the load generator runs them. Each returns one ScenarioResult; CPU is
 * read from /proc at the edges of the measurement window (server, load generator, everything else).
 */
import * as Y from 'yjs';
import type { ClusterCosts, ClusterProbe, ClusterProbeSpec, ProbeMark } from './cluster-probe';
import { cpuDelta, memoryKb, memoryKbSum, snapCpu } from './procstat';
import { DocRun, Meter, SimClient, sameState, type ServerTarget } from './sim-client';
import { runLarge, type LargeFigures, type LargeSpec } from './large';

export interface DocSpec {
  id: string;
  /** One token per client (empty strings for servers without auth). */
  tokens: string[];
  /** Token for the fresh client that checks the server's state at the end. */
  freshToken: string;
  /** Cold load only: characters the stored document holds. */
  expectChars?: number;
  /** Scale-out: the instance (index into LoadSpec.targets) each client connects to. */
  instances?: number[];
  /** Scale-out: the instance the fresh client checks. */
  freshInstance?: number;
}

export type ScenarioSpec =
  | { kind: 'idle'; label: string; docs: DocSpec[]; holdMs: number }
  | { kind: 'fanout'; label: string; docs: DocSpec[]; rate: number; warmupMs: number; durationMs: number }
  | { kind: 'manydocs'; label: string; docs: DocSpec[]; charsPerSec: number; warmupMs: number; durationMs: number }
  | { kind: 'throughput'; label: string; docs: DocSpec[]; inflight: number; warmupMs: number; durationMs: number }
  | { kind: 'coldsync'; label: string; docs: DocSpec[] }
  | LargeSpec;

export interface LoadSpec {
  target: ServerTarget & { pid: number };
  /** Loopback source addresses to spread sockets over (ephemeral port headroom). */
  localAddresses: string[];
  connectConcurrency: number;
  scenarios: ScenarioSpec[];
  /** Scale-out: every instance (target is the first); server CPU and RSS are summed over them. */
  targets?: (ServerTarget & { pid: number })[];
  /** Scale-out: what to read besides the clients (metrics, PostgreSQL, Redis). */
  probe?: ClusterProbeSpec;
}

/** Scale-out figures of one scenario (see cluster-probe.ts). */
export interface ClusterResult {
  /** Costs inside the measurement window. */
  window: ClusterCosts;
  /** From before the first socket opened to after the last delivery was verified (catch-ups). */
  whole: ClusterCosts;
  perInstanceCpuSec: number[];
  perInstanceRssKb: number[];
}

export interface ScenarioResult {
  kind: ScenarioSpec['kind'];
  label: string;
  server: string;
  sockets: number;
  connectSec: number;
  windowSec: number;
  latencyMs: { n: number; p50: number; p95: number; p99: number; max: number };
  sentPerSec: number;
  updatesPerSec: number;
  deliveriesPerSec: number;
  /** infraSec: PostgreSQL and Redis (scale-out only), not counted in otherSec. */
  cpu: { wallSec: number; serverSec: number; loadgenSec: number; otherSec: number; irqSec: number; infraSec?: number };
  serverCpuPer1kDeliveries: number;
  serverRssKb: number;
  serverHwmKb: number;
  rssBaseKb?: number;
  rssPerSocketKb?: number;
  cold?: { doc: string; firstSyncMs: number; chars: number; ok: boolean }[];
  converged: { replicasChecked: number; replicasOk: boolean; missingDeliveries: number; freshSync: string };
  errors: string[];
  cluster?: ClusterResult;
  /** The large-paste scenario's figures (large.ts). */
  large?: LargeFigures;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The server processes of a spec: one, or every instance of a cluster. */
const pidsOf = (spec: LoadSpec): number[] => spec.targets?.map((t) => t.pid) ?? [spec.target.pid];
const targetOf = (spec: LoadSpec, i: number | undefined): ServerTarget => (spec.targets && i !== undefined ? spec.targets[i % spec.targets.length]! : spec.target);

let probeOpen: Promise<ClusterProbe> | null = null;
/** The spec's cluster probe (opened once per load generator), or null for a single server. */
async function probeOf(spec: LoadSpec): Promise<ClusterProbe | null> {
  if (!spec.probe) return null;
  probeOpen ??= import('./cluster-probe').then((m) => m.ClusterProbe.open(spec.probe!));
  return probeOpen;
}

/** Close the probe's connections (the load generator exits after its scenarios anyway). */
export async function closeProbe(): Promise<void> {
  if (probeOpen) await (await probeOpen).close();
}

/** Attach the cluster figures: costs in the window and over the whole scenario, and take PostgreSQL and Redis out of "other". */
async function finishCluster(res: ScenarioResult, spec: LoadSpec, marks: { start: ProbeMark; a: ProbeMark; b: ProbeMark; end: ProbeMark }, perCpu: number[]): Promise<void> {
  const { clusterCosts } = await import('./cluster-probe');
  const pids = pidsOf(spec);
  const window = clusterCosts(marks.a, marks.b, pids.length);
  res.cluster = { window, whole: clusterCosts(marks.start, marks.end, pids.length), perInstanceCpuSec: perCpu, perInstanceRssKb: pids.map((p) => memoryKb(p).rss) };
  const infra = window.pgCpuSec + window.redisCpuSec;
  res.cpu.infraSec = infra;
  res.cpu.otherSec = Math.max(0, res.cpu.otherSec - infra);
}

const cpuEach = (pids: number[]) => pids.map((p) => snapCpu(p).server);

/** Poll `cond` every `interval` ms until true or `timeoutMs` passes; returns whether it held. */
export async function until(cond: () => boolean, timeoutMs: number, interval = 10): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) return false;
    await sleep(interval);
  }
  return true;
}

async function connectAll(clients: SimClient[], spec: LoadSpec, meter: Meter): Promise<number> {
  const t0 = performance.now();
  let next = 0;
  let failed = 0;
  const worker = async () => {
    while (next < clients.length) {
      const i = next++;
      try {
        await clients[i]!.connect(spec.localAddresses[i % spec.localAddresses.length]);
      } catch (err) {
        failed++;
        meter.error(`connect ${i}: ${(err as Error).message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(spec.connectConcurrency, clients.length) }, worker));
  if (failed) meter.error(`${failed} of ${clients.length} sockets failed to connect and sync`);
  return (performance.now() - t0) / 1000;
}

/** Full GC in the server(s) (SIGUSR2 → gc-preload.cjs), then wait for RSS to settle; returns KiB (summed). */
async function settledRss(pids: number[]): Promise<number> {
  try {
    for (const pid of pids) process.kill(pid, 'SIGUSR2');
  } catch {
    return NaN;
  }
  let last = memoryKbSum(pids).rss;
  for (let i = 0; i < 30; i++) {
    await sleep(100);
    const now = memoryKbSum(pids).rss;
    if (Math.abs(now - last) <= Math.max(64, last * 0.002)) return now;
    last = now;
  }
  return last;
}

/** Wait until the server's CPU use drops below 10% of a core (after the previous scenario). */
async function quiet(pid: number | number[]): Promise<void> {
  for (let i = 0; i < 30; i++) {
    const a = snapCpu(pid);
    await sleep(100);
    const d = cpuDelta(a, snapCpu(pid));
    if (!(d.serverSec / d.wallSec > 0.1)) return;
  }
}

function buildRuns(spec: LoadSpec, target: ServerTarget, docs: DocSpec[], meter: Meter, keep: (docIndex: number, clientIndex: number) => boolean, onComplete?: (w: SimClient) => void) {
  const runs = docs.map((d) => new DocRun(d.id, meter, onComplete));
  const clients: SimClient[] = [];
  docs.forEach((d, i) => {
    d.tokens.forEach((tok, j) => clients.push(runs[i]!.add(new SimClient(d.instances ? targetOf(spec, d.instances[j]) : target, runs[i]!, tok, { keep: keep(i, j) }))));
  });
  return { runs, clients };
}

async function verify(spec: LoadSpec, docs: DocSpec[], runs: DocRun[], clients: SimClient[], meter: Meter, drainMs: number): Promise<ScenarioResult['converged']> {
  const drained = await until(() => runs.every((r) => r.outstanding <= 0), drainMs);
  let missing = 0;
  if (!drained) {
    const all = runs.flatMap((r) => r.missing());
    missing = runs.reduce((s, r) => s + Math.max(0, r.outstanding), 0);
    meter.error(`${missing} deliveries never arrived; e.g. ${all.slice(0, 3).join(', ')}`);
  }
  const refs = new Map<DocRun, Y.Doc>();
  const ref = (r: DocRun) => {
    let d = refs.get(r);
    if (!d) refs.set(r, (d = r.reference()));
    return d;
  };
  let checked = 0;
  let ok = true;
  for (const c of clients) {
    const rep = c.replica();
    if (!rep) continue;
    checked++;
    if (!sameState(rep, ref(c.run))) {
      ok = false;
      meter.error(`replica ${c.run.id}/${c.clientId} differs from the reference state`);
    }
  }
  let fresh = 'n/a (no server state)';
  if (spec.target.stateful) {
    fresh = 'ok';
    const sample = runs.map((r, i) => [r, docs[i]!] as const).slice(0, 5);
    for (const [r, d] of sample) {
      const probeRun = new DocRun(r.id, new Meter());
      const probe = new SimClient(targetOf(spec, d.freshInstance), probeRun, d.freshToken);
      try {
        await probe.connect();
        const doc = new Y.Doc();
        Y.applyUpdate(doc, probe.firstSync!);
        if (!sameState(doc, ref(r))) {
          fresh = `mismatch on ${r.id}`;
          meter.error(`fresh client on ${r.id}: state differs (server ${doc.getText('t').length} chars, reference ${ref(r).getText('t').length})`);
        }
      } catch (err) {
        fresh = `failed on ${r.id}`;
        meter.error(`fresh client on ${r.id}: ${(err as Error).message}`);
      } finally {
        probe.close();
      }
    }
  }
  return { replicasChecked: checked, replicasOk: ok, missingDeliveries: missing, freshSync: fresh };
}

async function closeAll(clients: SimClient[]): Promise<void> {
  for (const c of clients) c.close();
  if (!(await until(() => clients.every((c) => !c.ws || c.ws.readyState === 3), 5000))) {
    for (const c of clients) c.terminate();
  }
}

function baseResult(s: ScenarioSpec, spec: LoadSpec): ScenarioResult {
  return {
    kind: s.kind,
    label: s.label,
    server: spec.target.name,
    sockets: 0,
    connectSec: NaN,
    windowSec: NaN,
    latencyMs: { n: 0, p50: NaN, p95: NaN, p99: NaN, max: NaN },
    sentPerSec: NaN,
    updatesPerSec: NaN,
    deliveriesPerSec: NaN,
    cpu: { wallSec: NaN, serverSec: NaN, loadgenSec: NaN, otherSec: NaN, irqSec: NaN },
    serverCpuPer1kDeliveries: NaN,
    serverRssKb: NaN,
    serverHwmKb: NaN,
    converged: { replicasChecked: 0, replicasOk: true, missingDeliveries: 0, freshSync: 'n/a' },
    errors: [],
  };
}

/** Traffic scenarios: connect, warm up, measure a window, drain, verify. */
async function runTraffic(s: Extract<ScenarioSpec, { kind: 'fanout' | 'manydocs' | 'throughput' }>, spec: LoadSpec): Promise<ScenarioResult> {
  const pid = pidsOf(spec);
  const probe = await probeOf(spec);
  const meter = new Meter();
  const res = baseResult(s, spec);
  let running = true;
  // Closed loop (throughput): every completed update is replaced by a new one from the same writer.
  const refill = new Map<SimClient, number>();
  let refillScheduled = false;
  const onComplete =
    s.kind === 'throughput'
      ? (w: SimClient) => {
          if (!running) return;
          refill.set(w, (refill.get(w) ?? 0) + 1);
          if (!refillScheduled) {
            refillScheduled = true;
            setImmediate(() => {
              refillScheduled = false;
              if (!running) return;
              for (const [c, n] of refill) c.writeBatch(n);
              refill.clear();
            });
          }
        }
      : undefined;
  // Fan-out: every reader's replica is rebuilt; elsewhere one replica per document.
  const keep = (_d: number, j: number) => (s.kind === 'throughput' ? j === 1 : true);
  const { runs, clients } = buildRuns(spec, spec.target, s.docs, meter, keep, onComplete);
  await quiet(pid);
  const mStart = await probe?.mark();
  res.sockets = clients.length;
  res.connectSec = await connectAll(clients, spec, meter);

  const timers: NodeJS.Timeout[] = [];
  if (s.kind === 'fanout') {
    const writer = runs[0]!.clients[0]!;
    const interval = 1000 / s.rate;
    let due = performance.now();
    const tick = () => {
      if (!running) return;
      const now = performance.now();
      while (due <= now) {
        writer.write(now);
        due += interval;
      }
      timers.push(setTimeout(tick, Math.max(0, due - performance.now())));
    };
    tick();
  } else if (s.kind === 'manydocs') {
    const interval = 1000 / s.charsPerSec;
    for (const c of clients) {
      timers.push(
        setTimeout(() => {
          if (!running) return;
          c.write();
          timers.push(setInterval(() => running && c.write(), interval));
        }, Math.random() * interval),
      );
    }
  } else {
    for (const c of clients) c.writeBatch(s.inflight);
  }

  await sleep(s.warmupMs);
  meter.windowStart = performance.now();
  meter.measuring = true;
  const sentBefore = meter.sent;
  const a = snapCpu(pid);
  const eachA = cpuEach(pid);
  const mA = await probe?.mark();
  await sleep(s.durationMs);
  meter.windowEnd = performance.now();
  const b = snapCpu(pid);
  const eachB = cpuEach(pid);
  const mB = await probe?.mark();
  const mem = memoryKbSum(pid);
  const sentInWindow = meter.sent - sentBefore;
  running = false;
  for (const t of timers) clearTimeout(t);

  res.cpu = cpuDelta(a, b);
  res.windowSec = res.cpu.wallSec;
  res.sentPerSec = sentInWindow / res.windowSec;
  res.updatesPerSec = meter.completed / res.windowSec;
  res.deliveriesPerSec = meter.deliveries / res.windowSec;
  res.serverCpuPer1kDeliveries = meter.deliveries ? res.cpu.serverSec / (meter.deliveries / 1000) : NaN;
  res.serverRssKb = mem.rss;
  res.serverHwmKb = mem.hwm;
  res.converged = await verify(spec, s.docs, runs, clients, meter, 15_000);
  if (probe) await finishCluster(res, spec, { start: mStart!, a: mA!, b: mB!, end: await probe.mark() }, eachB.map((x, i) => x - eachA[i]!));
  res.latencyMs = meter.latency.summary();
  res.errors = meter.errors;
  await closeAll(clients);
  return res;
}

/** Idle sockets: RSS per synced socket, then one update per document to prove every socket is live. */
async function runIdle(s: Extract<ScenarioSpec, { kind: 'idle' }>, spec: LoadSpec): Promise<ScenarioResult> {
  const pid = pidsOf(spec);
  const probe = await probeOf(spec);
  const meter = new Meter();
  const res = baseResult(s, spec);
  const { runs, clients } = buildRuns(spec, spec.target, s.docs, meter, () => false);
  await quiet(pid);
  const base = await settledRss(pid);
  res.rssBaseKb = base;
  const mStart = await probe?.mark();
  res.sockets = clients.length;
  res.connectSec = await connectAll(clients, spec, meter);
  const a = snapCpu(pid);
  const eachA = cpuEach(pid);
  const mA = await probe?.mark();
  await sleep(s.holdMs);
  const after = await settledRss(pid);
  const synced = clients.filter((c) => c.synced && !c.closedUnexpectedly).length;
  res.serverRssKb = after;
  res.serverHwmKb = memoryKbSum(pid).hwm;
  res.rssPerSocketKb = synced ? (after - base) / synced : NaN;
  if (synced < clients.length) meter.error(`${clients.length - synced} of ${clients.length} sockets not synced or closed`);
  // Liveness: the first client of every document types one character; everyone else must get it.
  meter.windowStart = performance.now();
  meter.measuring = true;
  for (const r of runs) if (r.clients[0]?.synced) r.clients[0].write();
  const conv = await verify(spec, s.docs, runs, clients, meter, 20_000);
  meter.windowEnd = performance.now();
  const b = snapCpu(pid);
  const eachB = cpuEach(pid);
  res.cpu = cpuDelta(a, b);
  res.windowSec = (meter.windowEnd - meter.windowStart) / 1000;
  res.converged = conv;
  if (probe) {
    const mB = await probe.mark();
    await finishCluster(res, spec, { start: mStart!, a: mA!, b: mB, end: mB }, eachB.map((x, i) => x - eachA[i]!));
  }
  res.latencyMs = meter.latency.summary();
  res.deliveriesPerSec = meter.deliveries / res.windowSec;
  res.errors = meter.errors;
  await closeAll(clients);
  return res;
}

/** Cold load: time from opening a socket to the first sync step 2, one document at a time. */
async function runCold(s: Extract<ScenarioSpec, { kind: 'coldsync' }>, spec: LoadSpec): Promise<ScenarioResult> {
  const meter = new Meter();
  const res = baseResult(s, spec);
  res.cold = [];
  for (const d of s.docs) {
    await quiet(spec.target.pid);
    const run = new DocRun(d.id, meter);
    const c = run.add(new SimClient(spec.target, run, d.freshToken));
    const t0 = performance.now();
    try {
      await c.connect();
      const doc = new Y.Doc();
      Y.applyUpdate(doc, c.firstSync!);
      const chars = doc.getText('t').length;
      res.cold.push({ doc: d.id, firstSyncMs: c.syncedAt - t0, chars, ok: d.expectChars === undefined || chars === d.expectChars });
    } catch (err) {
      meter.error(`${d.id}: ${(err as Error).message}`);
      res.cold.push({ doc: d.id, firstSyncMs: NaN, chars: 0, ok: false });
    }
    await closeAll([c]);
  }
  res.serverRssKb = memoryKb(spec.target.pid).rss;
  res.errors = meter.errors;
  return res;
}

export async function runScenario(s: ScenarioSpec, spec: LoadSpec): Promise<ScenarioResult> {
  switch (s.kind) {
    case 'idle':
      return runIdle(s, spec);
    case 'coldsync':
      return runCold(s, spec);
    case 'large':
      return runLarge(s, spec, baseResult(s, spec));
    default:
      return runTraffic(s, spec);
  }
}
