/**
 * The benchmark scenarios as the load generator runs them. Each returns one ScenarioResult; CPU is
 * read from /proc at the edges of the measurement window (server, load generator, everything else).
 */
import * as Y from 'yjs';
import { cpuDelta, memoryKb, snapCpu } from './procstat';
import { DocRun, Meter, SimClient, sameState, type ServerTarget } from './sim-client';

export interface DocSpec {
  id: string;
  /** One token per client (empty strings for servers without auth). */
  tokens: string[];
  /** Token for the fresh client that checks the server's state at the end. */
  freshToken: string;
  /** Cold load only: characters the stored document holds. */
  expectChars?: number;
}

export type ScenarioSpec =
  | { kind: 'idle'; label: string; docs: DocSpec[]; holdMs: number }
  | { kind: 'fanout'; label: string; docs: DocSpec[]; rate: number; warmupMs: number; durationMs: number }
  | { kind: 'manydocs'; label: string; docs: DocSpec[]; charsPerSec: number; warmupMs: number; durationMs: number }
  | { kind: 'throughput'; label: string; docs: DocSpec[]; inflight: number; warmupMs: number; durationMs: number }
  | { kind: 'coldsync'; label: string; docs: DocSpec[] };

export interface LoadSpec {
  target: ServerTarget & { pid: number };
  /** Loopback source addresses to spread sockets over (ephemeral port headroom). */
  localAddresses: string[];
  connectConcurrency: number;
  scenarios: ScenarioSpec[];
}

export interface ScenarioResult {
  kind: ScenarioSpec['kind'];
  label: string;
  server: string;
  sockets: number;
  connectSec: number;
  windowSec: number;
  latencyMs: { n: number; p50: number; p99: number; max: number };
  sentPerSec: number;
  updatesPerSec: number;
  deliveriesPerSec: number;
  cpu: { wallSec: number; serverSec: number; loadgenSec: number; otherSec: number; irqSec: number };
  serverCpuPer1kDeliveries: number;
  serverRssKb: number;
  serverHwmKb: number;
  rssBaseKb?: number;
  rssPerSocketKb?: number;
  cold?: { doc: string; firstSyncMs: number; chars: number; ok: boolean }[];
  converged: { replicasChecked: number; replicasOk: boolean; missingDeliveries: number; freshSync: string };
  errors: string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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

/** Full GC in the server (SIGUSR2 → gc-preload.cjs), then wait for RSS to settle; returns KiB. */
async function settledRss(pid: number): Promise<number> {
  try {
    process.kill(pid, 'SIGUSR2');
  } catch {
    return NaN;
  }
  let last = memoryKb(pid).rss;
  for (let i = 0; i < 30; i++) {
    await sleep(100);
    const now = memoryKb(pid).rss;
    if (Math.abs(now - last) <= Math.max(64, last * 0.002)) return now;
    last = now;
  }
  return last;
}

/** Wait until the server's CPU use drops below 10% of a core (after the previous scenario). */
async function quiet(pid: number): Promise<void> {
  for (let i = 0; i < 30; i++) {
    const a = snapCpu(pid);
    await sleep(100);
    const d = cpuDelta(a, snapCpu(pid));
    if (!(d.serverSec / d.wallSec > 0.1)) return;
  }
}

function buildRuns(target: ServerTarget, docs: DocSpec[], meter: Meter, keep: (docIndex: number, clientIndex: number) => boolean, onComplete?: (w: SimClient) => void) {
  const runs = docs.map((d) => new DocRun(d.id, meter, onComplete));
  const clients: SimClient[] = [];
  docs.forEach((d, i) => {
    d.tokens.forEach((tok, j) => clients.push(runs[i]!.add(new SimClient(target, runs[i]!, tok, { keep: keep(i, j) }))));
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
      const probe = new SimClient(spec.target, probeRun, d.freshToken);
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
    latencyMs: { n: 0, p50: NaN, p99: NaN, max: NaN },
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
  const pid = spec.target.pid;
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
  const { runs, clients } = buildRuns(spec.target, s.docs, meter, keep, onComplete);
  await quiet(pid);
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
  await sleep(s.durationMs);
  meter.windowEnd = performance.now();
  const b = snapCpu(pid);
  const mem = memoryKb(pid);
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
  res.latencyMs = meter.latency.summary();
  res.errors = meter.errors;
  await closeAll(clients);
  return res;
}

/** Idle sockets: RSS per synced socket, then one update per document to prove every socket is live. */
async function runIdle(s: Extract<ScenarioSpec, { kind: 'idle' }>, spec: LoadSpec): Promise<ScenarioResult> {
  const pid = spec.target.pid;
  const meter = new Meter();
  const res = baseResult(s, spec);
  const { runs, clients } = buildRuns(spec.target, s.docs, meter, () => false);
  await quiet(pid);
  const base = await settledRss(pid);
  res.rssBaseKb = base;
  res.sockets = clients.length;
  res.connectSec = await connectAll(clients, spec, meter);
  const a = snapCpu(pid);
  await sleep(s.holdMs);
  const after = await settledRss(pid);
  const synced = clients.filter((c) => c.synced && !c.closedUnexpectedly).length;
  res.serverRssKb = after;
  res.serverHwmKb = memoryKb(pid).hwm;
  res.rssPerSocketKb = synced ? (after - base) / synced : NaN;
  if (synced < clients.length) meter.error(`${clients.length - synced} of ${clients.length} sockets not synced or closed`);
  // Liveness: the first client of every document types one character; everyone else must get it.
  meter.windowStart = performance.now();
  meter.measuring = true;
  for (const r of runs) if (r.clients[0]?.synced) r.clients[0].write();
  const conv = await verify(spec, s.docs, runs, clients, meter, 20_000);
  meter.windowEnd = performance.now();
  const b = snapCpu(pid);
  res.cpu = cpuDelta(a, b);
  res.windowSec = (meter.windowEnd - meter.windowStart) / 1000;
  res.converged = conv;
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
    default:
      return runTraffic(s, spec);
  }
}
