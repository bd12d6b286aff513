/**
 * Fan-out over the SSE + POST transport next to WebSocket (issue 15), on one Tandem server: for
 * each transport, one document with `readers` readers on that transport and one WebSocket writer
 * typing `rate` one-character updates per second; per-delivery latency (writer's send → reader's
 * receipt) and the server's CPU over the window. Readers run in this process (the bench pins it to
 * the core the server is not on). Delivery is tracked by the writer's clock (one char = one clock).
 */
import WebSocket from 'ws';
import * as Y from 'yjs';
import * as decoding from 'lib0/decoding';
import { encode, MessageType, SyncType } from '../../lib/protocol';
import { encodeBatch } from '../../lib/sse-client';
import { cpuDelta, snapCpu } from './procstat';
import { Samples } from './stats';

export interface SseFanoutSpec {
  /** ws://host:port of the server. */
  url: string;
  serverPid: number;
  readers: number;
  rate: number;
  durationMs: number;
  warmupMs: number;
  /** A token for reader `i` (and the writer, i = readers) on `docId`. */
  token(i: number, docId: string): Promise<string>;
  /** Document ids to use, one per transport. */
  docs: { websocket: string; sse: string };
}

export interface SseFanoutResult {
  transport: 'websocket' | 'sse';
  readers: number;
  rate: number;
  latencyMs: { n: number; p50: number; p95: number; p99: number; max: number };
  /** Server CPU over the window: share of one core, and CPU microseconds per delivered message. */
  serverCpuShare: number;
  cpuUsPerDelivery: number;
  delivered: number;
  expected: number;
}

/** The writer's clock an inbound update frame brings the reader up to (0 when not the writer's). */
function clockOf(frame: Uint8Array, writer: number): number {
  const d = decoding.createDecoder(frame);
  if (decoding.readVarUint(d) !== MessageType.SYNC) return 0;
  const sub = decoding.readVarUint(d);
  if (sub !== SyncType.UPDATE && sub !== SyncType.STEP2) return 0;
  return Y.parseUpdateMeta(decoding.readVarUint8Array(d)).to.get(writer) ?? 0;
}

/** One reader over SSE: the stream, step 1 posted, frames to `onFrame`. */
async function sseReader(url: string, docId: string, token: string, onFrame: (f: Uint8Array) => void, signal: AbortSignal): Promise<void> {
  const base = `${url.replace(/^ws/, 'http')}/sse/${docId}`;
  const res = await fetch(`${base}?token=${encodeURIComponent(token)}`, { signal });
  if (!res.ok || !res.body) throw new Error(`sse stream refused: ${res.status}`);
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  let sid = '';
  let ready: () => void = () => {};
  const opened = new Promise<void>((r) => (ready = r));
  void (async () => {
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
      if (done) return;
      buf += dec.decode(value, { stream: true });
      let end: number;
      while ((end = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, end);
        buf = buf.slice(end + 2);
        if (block.startsWith('event: session')) {
          sid = (JSON.parse(block.slice(block.indexOf('data: ') + 6)) as { sid: string }).sid;
          ready();
          continue;
        }
        const i = block.indexOf('\ndata: ');
        if (block.startsWith('id: ') && i > 0) onFrame(Buffer.from(block.slice(i + 7), 'base64'));
      }
    }
  })();
  await opened;
  const r = await fetch(`${base}?sid=${sid}`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: encodeBatch(0, [encode.syncStep1(new Uint8Array([0]))]) as BodyInit });
  if (!r.ok) throw new Error(`sse post refused: ${r.status}`);
}

function wsOpen(url: string, docId: string, token: string, onFrame: (f: Uint8Array) => void): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url}/${docId}?token=${encodeURIComponent(token)}`);
    ws.binaryType = 'nodebuffer';
    ws.on('open', () => {
      ws.send(encode.syncStep1(new Uint8Array([0])));
      resolve(ws);
    });
    ws.on('message', (d: Buffer) => onFrame(d));
    ws.on('error', reject);
  });
}

/** Run one transport's window. */
async function runOne(spec: SseFanoutSpec, transport: 'websocket' | 'sse'): Promise<SseFanoutResult> {
  const docId = spec.docs[transport];
  const writerDoc = new Y.Doc();
  const writer = writerDoc.clientID;
  const sentAt: number[] = [];
  const got = new Array<number>(spec.readers).fill(0);
  const latency = new Samples();
  let windowStart = Infinity;
  let windowEnd = Infinity;
  let delivered = 0;
  const onFrameOf = (i: number) => (f: Uint8Array) => {
    const to = clockOf(f, writer);
    if (to <= got[i]!) return;
    const now = performance.now();
    for (let c = got[i]!; c < to; c++) {
      const t = sentAt[c];
      if (t !== undefined && t >= windowStart && t <= windowEnd) {
        latency.add(now - t);
        delivered++;
      }
    }
    got[i] = to;
  };
  const ctl = new AbortController();
  const sockets: WebSocket[] = [];
  try {
    for (let i = 0; i < spec.readers; i++) {
      const token = await spec.token(i, docId);
      if (transport === 'sse') await sseReader(spec.url, docId, token, onFrameOf(i), ctl.signal);
      else sockets.push(await wsOpen(spec.url, docId, token, onFrameOf(i)));
    }
    const w = await wsOpen(spec.url, docId, await spec.token(spec.readers, docId), () => {});
    sockets.push(w);
    writerDoc.on('update', (u: Uint8Array) => {
      sentAt.push(performance.now());
      w.send(encode.update(u));
    });
    const text = writerDoc.getText('t');
    const tick = () => text.insert(text.length, 'x');
    const interval = 1000 / spec.rate;
    const t0 = performance.now();
    windowStart = t0 + spec.warmupMs;
    windowEnd = windowStart + spec.durationMs;
    let cpuA: ReturnType<typeof snapCpu> | null = null;
    let n = 0;
    while (performance.now() < windowEnd) {
      if (!cpuA && performance.now() >= windowStart) cpuA = snapCpu(spec.serverPid);
      tick();
      n++;
      const next = t0 + n * interval;
      await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now())));
    }
    const cpuB = snapCpu(spec.serverPid);
    // Let the last updates arrive (bounded).
    const deadline = performance.now() + 3000;
    while (got.some((g) => g < sentAt.length) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const d = cpuDelta(cpuA ?? cpuB, cpuB);
    const expected = sentAt.filter((t) => t >= windowStart && t <= windowEnd).length * spec.readers;
    return {
      transport,
      readers: spec.readers,
      rate: spec.rate,
      latencyMs: latency.summary(),
      serverCpuShare: d.serverSec / Math.max(1e-9, d.wallSec),
      cpuUsPerDelivery: (d.serverSec * 1e6) / Math.max(1, delivered),
      delivered,
      expected,
    };
  } finally {
    ctl.abort();
    for (const s of sockets) s.terminate();
  }
}

/** WebSocket readers, then SSE readers, the same load each. */
export async function runSseFanout(spec: SseFanoutSpec): Promise<SseFanoutResult[]> {
  // A discarded warm-up over both transports first: the first window of a fresh process measures
  // its JIT and first GCs (p95 ~100 ms for whichever transport went first), not the transport.
  await runOne({ ...spec, durationMs: Math.min(1000, spec.durationMs), warmupMs: 0 }, 'websocket');
  await runOne({ ...spec, durationMs: Math.min(1000, spec.durationMs), warmupMs: 0 }, 'sse');
  return [await runOne(spec, 'websocket'), await runOne(spec, 'sse')];
}

/** One line per transport for the bench's output. */
export function sseFanoutText(rs: SseFanoutResult[]): string {
  const lines = ['', `Fan-out by transport (1 writer at ${rs[0]?.rate ?? 0}/s to ${rs[0]?.readers ?? 0} readers, Tandem, one core):`];
  lines.push('  transport   p50 ms   p95 ms   p99 ms   server CPU   CPU µs/delivery   delivered');
  for (const r of rs) {
    const l = r.latencyMs;
    lines.push(`  ${r.transport.padEnd(10)} ${l.p50.toFixed(2).padStart(7)}  ${l.p95.toFixed(2).padStart(7)}  ${l.p99.toFixed(2).padStart(7)}   ${(r.serverCpuShare * 100).toFixed(1).padStart(8)}%   ${r.cpuUsPerDelivery.toFixed(1).padStart(15)}   ${r.delivered}/${r.expected}`);
  }
  return `${lines.join('\n')}\n`;
}
