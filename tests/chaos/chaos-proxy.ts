/**
 * A chaos TCP proxy for bad-network tests (issue 13): put it between clients and collab-server.
 * Every chunk in either direction is delayed by `latencyMs ± jitterMs` (order kept per direction),
 * and the proxy can stall (hold every byte until `unstall()`), reset connections (all, or at random
 * every `resetEveryMs`), and refuse new ones. netem is not available in this kernel; this works
 * anywhere without root. Usable from tests (`startChaosProxy`) or the command line:
 *
 *   npm run chaos -- --target 1234 --port 4321 --latency 200 --jitter 50 --reset-every 10000 --stall-every 15000 --stall-ms 3000
 */
import net from 'node:net';

export interface ChaosOptions {
  targetPort: number;
  targetHost?: string;
  /** Listen port (0 = any free one). */
  port?: number;
  latencyMs?: number;
  jitterMs?: number;
  /** Reset one random open connection this often (0 = never). */
  resetEveryMs?: number;
  /** Stall everything this often for `stallMs` (0 = never). */
  stallEveryMs?: number;
  stallMs?: number;
  random?: () => number;
}

export interface ChaosProxy {
  port: number;
  /** Hold every byte, both ways, on every connection (new ones too) until unstall(). */
  stall(): void;
  unstall(): void;
  /** Reset (RST) every open connection now. */
  resetAll(): void;
  /** Refuse new connections (and reset open ones) until restore(). */
  cut(): void;
  restore(): void;
  setLatency(latencyMs: number, jitterMs?: number): void;
  /** Stop the periodic resets and stalls (and release a stall in progress). */
  calm(): void;
  readonly stats: { connections: number; resets: number; stalls: number; bytes: number };
  close(): Promise<void>;
}

/** One direction of one connection: chunks leave in order, each no earlier than its due time. */
class DelayedPipe {
  private queue: { due: number; data: Buffer }[] = [];
  private timer: NodeJS.Timeout | null = null;
  private lastDue = 0;
  constructor(
    private readonly to: net.Socket,
    private readonly p: { delay(): number; stalled(): boolean; count(n: number): void },
  ) {}
  push(data: Buffer): void {
    // Never earlier than the previous chunk: TCP keeps order.
    const due = Math.max(Date.now() + this.p.delay(), this.lastDue);
    this.lastDue = due;
    this.queue.push({ due, data });
    this.pump();
  }
  pump(): void {
    if (this.timer) return;
    while (this.queue.length && !this.p.stalled() && this.queue[0]!.due <= Date.now()) {
      const { data } = this.queue.shift()!;
      this.p.count(data.byteLength);
      if (!this.to.destroyed) this.to.write(data);
    }
    if (this.queue.length && !this.p.stalled()) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.pump();
      }, Math.max(1, this.queue[0]!.due - Date.now()));
    }
  }
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.queue = [];
  }
}

/** Start a chaos proxy in front of targetHost:targetPort. */
export async function startChaosProxy(o: ChaosOptions): Promise<ChaosProxy> {
  const random = o.random ?? Math.random;
  let latency = o.latencyMs ?? 0;
  let jitter = o.jitterMs ?? 0;
  let stalled = false;
  let down = false;
  const stats = { connections: 0, resets: 0, stalls: 0, bytes: 0 };
  const conns = new Set<{ client: net.Socket; upstream: net.Socket; pipes: DelayedPipe[] }>();
  const policy = {
    delay: () => Math.max(0, latency + (random() * 2 - 1) * jitter),
    stalled: () => stalled,
    count: (n: number) => {
      stats.bytes += n;
    },
  };
  const reset = (c: { client: net.Socket; upstream: net.Socket; pipes: DelayedPipe[] }) => {
    conns.delete(c);
    for (const p of c.pipes) p.stop();
    c.client.resetAndDestroy();
    c.upstream.resetAndDestroy();
    stats.resets++;
  };
  const server = net.createServer((client) => {
    if (down) return void client.resetAndDestroy();
    stats.connections++;
    const upstream = net.connect(o.targetPort, o.targetHost ?? '127.0.0.1');
    const up = new DelayedPipe(upstream, policy);
    const downPipe = new DelayedPipe(client, policy);
    const c = { client, upstream, pipes: [up, downPipe] };
    conns.add(c);
    const end = () => {
      if (!conns.delete(c)) return;
      up.stop();
      downPipe.stop();
      client.destroy();
      upstream.destroy();
    };
    client.on('data', (d: Buffer) => up.push(d)).on('error', end).on('close', end);
    upstream.on('data', (d: Buffer) => downPipe.push(d)).on('error', end).on('close', end);
  });
  await new Promise<void>((r) => server.listen(o.port ?? 0, '127.0.0.1', r));
  const timers: NodeJS.Timeout[] = [];
  if (o.resetEveryMs) {
    timers.push(setInterval(() => {
      const all = [...conns];
      if (all.length) reset(all[Math.floor(random() * all.length)]!);
    }, o.resetEveryMs));
  }
  const api: ChaosProxy = {
    port: (server.address() as net.AddressInfo).port,
    stall() {
      if (!stalled) stats.stalls++;
      stalled = true;
    },
    unstall() {
      stalled = false;
      for (const c of conns) for (const p of c.pipes) p.pump();
    },
    resetAll() {
      for (const c of [...conns]) reset(c);
    },
    cut() {
      down = true;
      api.resetAll();
    },
    restore() {
      down = false;
    },
    setLatency(l, j = jitter) {
      latency = l;
      jitter = j;
    },
    calm() {
      for (const t of timers) clearInterval(t);
      api.unstall();
    },
    stats,
    close() {
      for (const t of timers) clearInterval(t);
      for (const c of [...conns]) reset(c);
      return new Promise((r) => server.close(() => r()));
    },
  };
  if (o.stallEveryMs) {
    timers.push(setInterval(() => {
      api.stall();
      setTimeout(() => api.unstall(), o.stallMs ?? 2000).unref();
    }, o.stallEveryMs));
  }
  for (const t of timers) t.unref();
  return api;
}

// Command line: npm run chaos -- --target 1234 [--port 4321] [--latency 200] [--jitter 50] ...
if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (name: string, def: number) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? Number(process.argv[i + 1]) : def;
  };
  const target = arg('target', 1234);
  void startChaosProxy({
    targetPort: target,
    port: arg('port', 4321),
    latencyMs: arg('latency', 200),
    jitterMs: arg('jitter', 50),
    resetEveryMs: arg('reset-every', 0),
    stallEveryMs: arg('stall-every', 0),
    stallMs: arg('stall-ms', 2000),
  }).then((p) => {
    console.log(`chaos proxy on 127.0.0.1:${p.port} → 127.0.0.1:${target} (Ctrl-C to stop)`);
    setInterval(() => console.log(JSON.stringify(p.stats)), 5000);
  });
}
