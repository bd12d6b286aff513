/**
 * The lean simulated client: one `ws` socket speaking the y-websocket protocol (or Hocuspocus'
 * framing), the sync handshake, template-encoded writes, and delivery tracking. Updates are
 * identified by (client id, clock) from `Y.parseUpdateMeta`, so a server that merges several
 * updates into one broadcast (Hocuspocus) is counted right: every update the merged range covers
 * is delivered at that moment.
 */
import WebSocket from 'ws';
import * as Y from 'yjs';
import { Samples } from './stats';
import { encodeRun, framePrefix, hocusAuthFrame, oneCharFrame, readInbound, syncFrame, updateEnds, SYNC_STEP1, SYNC_STEP2, SYNC_UPDATE, type Framing } from './wire';

const slowEnds = (u: Uint8Array) => Y.parseUpdateMeta(u).to;

export interface ServerTarget {
  name: string;
  /** ws://host:port (no path). */
  url: string;
  framing: Framing;
  /** Keeps document state (a fresh client can sync it); false for the raw relay. */
  stateful: boolean;
  /** Answers the client's sync step 1 (false for the relay: nothing to wait for). */
  handshake: boolean;
}

/** What the whole load generator measures while a window is open. */
export class Meter {
  /** Per-delivery latency (ms) of updates sent inside the window. */
  readonly latency = new Samples();
  measuring = false;
  windowStart = 0;
  windowEnd = Infinity;
  deliveries = 0;
  completed = 0;
  sent = 0;
  errors: string[] = [];
  inWindow(t: number): boolean {
    return this.measuring && t >= this.windowStart && t <= this.windowEnd;
  }
  error(msg: string): void {
    if (this.errors.length < 50) this.errors.push(msg);
  }
}

/** Sent updates of one writer: index = clock (every write is one character = one clock). */
class WriterLog {
  sentAt: number[] = [];
  remaining: number[] = [];
}

/** One document's clients and the delivery bookkeeping between them. */
export class DocRun {
  readonly clients: SimClient[] = [];
  private readonly byId = new Map<number, SimClient>();
  readonly writers = new Map<number, WriterLog>();
  /** Outstanding (client, clock) deliveries; 0 once everything sent has arrived everywhere. */
  outstanding = 0;
  constructor(
    readonly id: string,
    readonly meter: Meter,
    /** Called when an update has reached every other client of the document. */
    readonly onComplete: (writer: SimClient) => void = () => {},
  ) {}

  add(c: SimClient): SimClient {
    this.clients.push(c);
    this.byId.set(c.clientId, c);
    return c;
  }

  recordSend(w: SimClient, clock: number, at: number): void {
    let log = this.writers.get(w.clientId);
    if (!log) this.writers.set(w.clientId, (log = new WriterLog()));
    log.sentAt[clock] = at;
    const receivers = this.clients.length - 1;
    log.remaining[clock] = receivers;
    this.outstanding += receivers;
  }

  /** `r` now holds `writer`'s clocks below `to`. */
  deliver(r: SimClient, writer: number, to: number, now: number): void {
    const log = this.writers.get(writer);
    if (!log) return;
    let p = r.recvPtr.get(writer) ?? 0;
    const end = Math.min(to, log.sentAt.length);
    if (p >= end) return;
    const m = this.meter;
    for (; p < end; p++) {
      const sentAt = log.sentAt[p]!;
      if (m.inWindow(sentAt)) m.latency.add(now - sentAt);
      if (m.inWindow(now)) m.deliveries++;
      this.outstanding--;
      if (--log.remaining[p]! === 0) {
        if (m.inWindow(now)) m.completed++;
        this.onComplete(this.byId.get(writer)!);
      }
    }
    r.recvPtr.set(writer, p);
  }

  /** Writers' updates every other client has not fully received, as "doc/client: got/sent". */
  missing(): string[] {
    const out: string[] = [];
    for (const r of this.clients) {
      for (const [w, log] of this.writers) {
        if (w === r.clientId) continue;
        const got = r.recvPtr.get(w) ?? 0;
        if (got < log.sentAt.length) out.push(`${this.id}/${r.clientId}: ${got}/${log.sentAt.length} of ${w}`);
      }
    }
    return out;
  }

  /** The state every replica must reach: every writer's run. */
  reference(): Y.Doc {
    const d = new Y.Doc();
    for (const c of this.clients) if (c.sent > 0) Y.applyUpdate(d, encodeRun(c.clientId, 0, c.sent));
    return d;
  }
}

let nextClientId = 1_000_000 + Math.floor(Math.random() * 1_000_000);

export class SimClient {
  readonly clientId = nextClientId++;
  readonly recvPtr = new Map<number, number>();
  /** Received payloads (copied), kept only for clients whose final state is rebuilt and compared. */
  readonly received: Uint8Array[] | null;
  ws!: WebSocket;
  sent = 0;
  synced = false;
  syncedAt = 0;
  /** The first sync's payload (sync step 2), for the fresh-client check. */
  firstSync: Uint8Array | null = null;
  closedUnexpectedly = false;
  private readonly prefix: Uint8Array;
  private stopping = false;
  private onSynced: (() => void) | null = null;

  constructor(
    readonly target: ServerTarget,
    readonly run: DocRun,
    readonly token: string,
    opts: { keep?: boolean } = {},
  ) {
    this.prefix = framePrefix(target.framing, run.id);
    this.received = opts.keep ? [] : null;
  }

  /** Open the socket and complete the sync handshake. */
  connect(localAddress?: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const q = this.target.framing === 'yws' && this.token ? `?token=${encodeURIComponent(this.token)}` : '';
      const ws = new WebSocket(`${this.target.url}/${encodeURIComponent(this.run.id)}${q}`, { perMessageDeflate: false, localAddress });
      this.ws = ws;
      let settled = false;
      this.onSynced = () => {
        settled = true;
        resolve();
      };
      ws.on('open', () => {
        if (this.target.framing === 'hocus') ws.send(hocusAuthFrame(this.prefix, this.token));
        if (!this.target.handshake) {
          this.markSynced(new Uint8Array([0, 0]));
          return;
        }
        ws.send(syncFrame(this.prefix, SYNC_STEP1, Y.encodeStateVector(new Y.Doc())));
      });
      ws.on('message', (data: Buffer) => this.onMessage(data));
      ws.on('error', (err) => {
        this.run.meter.error(`${this.run.id}/${this.clientId}: ${err.message}`);
        if (!settled) {
          settled = true;
          reject(err);
        }
      });
      ws.on('close', (code, reason) => {
        if (!this.stopping) {
          this.closedUnexpectedly = true;
          this.run.meter.error(`${this.run.id}/${this.clientId}: closed ${code} ${reason.toString()}`);
        }
        if (!settled) {
          settled = true;
          reject(new Error(`closed ${code} before sync`));
        }
      });
    });
  }

  private markSynced(payload: Uint8Array): void {
    if (this.synced) return;
    this.synced = true;
    this.syncedAt = performance.now();
    this.firstSync = payload.slice();
    this.onSynced?.();
  }

  private onMessage(data: Buffer): void {
    const now = performance.now();
    let m;
    try {
      m = readInbound(this.target.framing, data);
    } catch (err) {
      this.run.meter.error(`undecodable frame: ${(err as Error).message}`);
      return;
    }
    if (m.payload === null) return; // awareness, auth replies, Hocuspocus sync status: not our business
    if (m.sub === SYNC_STEP1) {
      // The server asks for what it lacks: our own run from its clock for us.
      const from = Y.decodeStateVector(m.payload).get(this.clientId) ?? 0;
      this.ws.send(syncFrame(this.prefix, SYNC_STEP2, encodeRun(this.clientId, from, this.sent)));
      return;
    }
    if (m.sub === SYNC_STEP2) this.markSynced(m.payload);
    if (m.sub !== SYNC_STEP2 && m.sub !== SYNC_UPDATE) return;
    const u = m.payload;
    if (u.length === 2 && u[0] === 0 && u[1] === 0) return;
    if (this.received) this.received.push(u.slice());
    const ends = updateEnds(u, slowEnds);
    if (Array.isArray(ends)) {
      if (ends[0] !== this.clientId) this.run.deliver(this, ends[0], ends[1], now);
    } else for (const [client, to] of ends) if (client !== this.clientId) this.run.deliver(this, client, to, now);
  }

  /** Type one character (one update, one clock). */
  write(now = performance.now()): void {
    const clock = this.sent++;
    this.run.recordSend(this, clock, now);
    this.run.meter.sent++;
    this.ws.send(oneCharFrame(this.prefix, this.clientId, clock));
  }

  /** Several writes in one TCP write. */
  writeBatch(n: number): void {
    if (n <= 0) return;
    const sock = (this.ws as unknown as { _socket?: { cork(): void; uncork(): void } })._socket;
    sock?.cork();
    const now = performance.now();
    for (let i = 0; i < n; i++) this.write(now);
    sock?.uncork();
  }

  /** This client's replica: its own run plus everything it received (only when kept). */
  replica(): Y.Doc | null {
    if (!this.received) return null;
    const d = new Y.Doc();
    if (this.sent > 0) Y.applyUpdate(d, encodeRun(this.clientId, 0, this.sent));
    d.transact(() => {
      for (const u of this.received!) Y.applyUpdate(d, u);
    });
    return d;
  }

  close(): void {
    this.stopping = true;
    if (this.ws && this.ws.readyState <= 1) this.ws.close(1000);
  }

  terminate(): void {
    this.stopping = true;
    this.ws?.terminate();
  }
}

/** Same replica state: state vectors, delete sets and text. */
export function sameState(a: Y.Doc, b: Y.Doc): boolean {
  const sa = Y.decodeStateVector(Y.encodeStateVector(a));
  const sb = Y.decodeStateVector(Y.encodeStateVector(b));
  if (sa.size !== sb.size) return false;
  for (const [k, v] of sa) if (sb.get(k) !== v) return false;
  if (!Y.equalDeleteSets(Y.createDeleteSetFromStructStore(a.store), Y.createDeleteSetFromStructStore(b.store))) return false;
  return a.getText('t').toString() === b.getText('t').toString();
}
