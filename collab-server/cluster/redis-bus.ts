/**
 * Redis pub/sub between collab-server instances: the FAST path for updates and presence, never the
 * record. Every update published here is already durable in the log with its sequence number, so
 * whatever Redis drops (a killed subscriber, a paused server, a full publish queue) another
 * instance reads back from PostgreSQL (see doc-sync.ts). One channel per loaded document.
 */
import { Redis } from 'ioredis';
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import type { CollabMetrics } from '../../observability/metrics';
import type { Logger } from '../../observability/logger';

/** What instances tell each other about a document. */
export type BusMessage =
  /** Updates `firstSeq`, `firstSeq + 1`, … of the log, written by `userId`. */
  | { kind: 'update'; from: string; firstSeq: number; userId: string; updates: Uint8Array[] }
  /** A filtered awareness update from a connection of `userId` (client-id ownership travels with it). */
  | { kind: 'awareness'; from: string; userId: string; update: Uint8Array }
  /** An instance just loaded the document: the others re-send their clients' presence. */
  | { kind: 'awareness-query'; from: string }
  /** The sender's log head for the document (answers a newcomer: "read up to here"). */
  | { kind: 'head'; from: string; seq: number };

export type OutgoingMessage = BusMessage extends infer M ? (M extends BusMessage ? Omit<M, 'from'> : never) : never;

export interface ClusterBus {
  readonly instanceId: string;
  /** Deliver this document's messages from other instances to `handler` (resolves once subscribed). */
  subscribe(docId: string, handler: (m: BusMessage) => void): Promise<void>;
  unsubscribe(docId: string): void;
  /** Fire and forget: a failure is counted and left to the log catch-up. */
  publish(docId: string, m: OutgoingMessage): void;
  /** Connected, and the last ping was answered in time. */
  healthy(): boolean;
  /** Called when the fast path may have lost messages (resubscribed, or healthy again). */
  onRecover(cb: () => void): void;
  close(): Promise<void>;
}

const KIND_UPDATE = 0;
const KIND_AWARENESS = 1;
const KIND_AWARENESS_QUERY = 2;
const KIND_HEAD = 3;

/** The wire format (lib0 encoding): [kind][from][…]. */
export function encodeBusMessage(from: string, m: OutgoingMessage): Uint8Array {
  const e = encoding.createEncoder();
  if (m.kind === 'update') {
    encoding.writeUint8(e, KIND_UPDATE);
    encoding.writeVarString(e, from);
    encoding.writeVarUint(e, m.firstSeq);
    encoding.writeVarString(e, m.userId);
    encoding.writeVarUint(e, m.updates.length);
    for (const u of m.updates) encoding.writeVarUint8Array(e, u);
  } else if (m.kind === 'awareness') {
    encoding.writeUint8(e, KIND_AWARENESS);
    encoding.writeVarString(e, from);
    encoding.writeVarString(e, m.userId);
    encoding.writeVarUint8Array(e, m.update);
  } else if (m.kind === 'head') {
    encoding.writeUint8(e, KIND_HEAD);
    encoding.writeVarString(e, from);
    encoding.writeVarUint(e, m.seq);
  } else {
    encoding.writeUint8(e, KIND_AWARENESS_QUERY);
    encoding.writeVarString(e, from);
  }
  return encoding.toUint8Array(e);
}

/** Decode a bus message; throws on bytes that are not one. `skipFrom`: null for our own echo (not decoded further). */
export function decodeBusMessage(bytes: Uint8Array, skipFrom?: string): BusMessage | null {
  const d = decoding.createDecoder(bytes);
  const kind = decoding.readUint8(d);
  const from = decoding.readVarString(d);
  if (from === skipFrom) return null;
  if (kind === KIND_HEAD) return { kind: 'head', from, seq: decoding.readVarUint(d) };
  if (kind === KIND_UPDATE) {
    const firstSeq = decoding.readVarUint(d);
    const userId = decoding.readVarString(d);
    const n = decoding.readVarUint(d);
    const updates: Uint8Array[] = [];
    for (let i = 0; i < n; i++) updates.push(decoding.readVarUint8Array(d));
    return { kind: 'update', from, firstSeq, userId, updates };
  }
  if (kind === KIND_AWARENESS) return { kind: 'awareness', from, userId: decoding.readVarString(d), update: decoding.readVarUint8Array(d) };
  if (kind === KIND_AWARENESS_QUERY) return { kind: 'awareness-query', from };
  throw new Error(`unknown bus message kind ${kind}`);
}

export interface RedisBusOptions {
  url: string;
  /** Key and channel prefix: one per deployment (and per test run). */
  prefix: string;
  instanceId: string;
  metrics: CollabMetrics;
  log: Logger;
  /** A publish or ping not answered within this long counts as failed (default 1000 ms). */
  timeoutMs?: number;
}

/** Connect a publisher and a subscriber; resolves without waiting for Redis (it may be down). */
export function createRedisBus(o: RedisBusOptions): ClusterBus {
  const timeoutMs = o.timeoutMs ?? 1000;
  const common = { lazyConnect: false, maxRetriesPerRequest: 1, retryStrategy: (n: number) => Math.min(100 * 2 ** n, 2000) };
  // Publisher: no offline queue and a command timeout, so a dead or paused Redis costs a counted
  // failure rather than memory that grows with every keystroke.
  const pub = new Redis(o.url, { ...common, enableOfflineQueue: false, commandTimeout: timeoutMs, connectionName: `${o.instanceId}:pub` });
  // Subscriber: we re-subscribe ourselves after a reconnect; ioredis' autoResubscribe issues the
  // command without a rejection handler, and a connection lost during it would be an unhandled
  // rejection (which ends a Node process).
  const sub = new Redis(o.url, { ...common, autoResubscribe: false, connectionName: `${o.instanceId}:sub` });
  const handlers = new Map<string, (m: BusMessage) => void>();
  /**
   * Whether another instance has the document loaded, from PUBLISH's receiver count (we are one
   * of them) and from hearing them. With routing by document most documents live on one instance:
   * their updates then cost Redis nothing. A newcomer loses nothing: it reads the log when it
   * subscribes and asks for presence, and that question re-opens the channel (see LiveDoc's head).
   */
  const peers = new Map<string, boolean>();
  const channel = (docId: string) => `${o.prefix}doc:${docId}`;
  const recoverCbs: (() => void)[] = [];
  let lastPong = 0;
  let wasHealthy = false;
  /** Only a return from unhealthy counts as recovery, not the first connection. */
  let everHealthy = false;
  let subReadyOnce = false;
  let closed = false;

  const recover = (why: string) => {
    o.log.info({ why }, 'redis fan-out recovered: catching up from the log');
    for (const cb of recoverCbs) cb();
  };
  for (const c of [pub, sub]) c.on('error', (err: Error) => o.log.debug({ err: err.message }, 'redis connection error'));
  sub.on('ready', () => {
    // The first ready is the start; any later one follows a lost connection, during which
    // messages were dropped.
    if (subReadyOnce) {
      const channels = [...handlers.keys()].map(channel);
      if (channels.length) sub.subscribe(...channels).catch((err: Error) => o.log.warn({ err: err.message }, 'redis re-subscribe failed; retried on the next reconnect'));
      recover('subscriber reconnected');
    }
    subReadyOnce = true;
  });
  sub.on('messageBuffer', (ch: Buffer, message: Buffer) => {
    const key = ch.toString();
    const docId = key.slice(o.prefix.length + 4);
    const h = handlers.get(docId);
    if (!h) return;
    let m: BusMessage | null;
    try {
      m = decodeBusMessage(new Uint8Array(message.buffer, message.byteOffset, message.byteLength), o.instanceId);
    } catch (err) {
      o.metrics.errors.inc({ where: 'cluster-decode' });
      o.log.warn({ err: (err as Error).message, doc: docId }, 'undecodable cluster message dropped');
      return;
    }
    if (!m) return; // our own message, echoed back by Redis
    peers.set(docId, true);
    o.metrics.clusterMessages.inc({ direction: 'in', kind: m.kind });
    h(m);
  });

  // Health: a ping every timeoutMs; unhealthy when the last answer is older than two periods (a
  // paused or partitioned Redis accepts the TCP connection but answers nothing).
  const healthTimer = setInterval(() => {
    pub.ping().then(
      () => (lastPong = Date.now()),
      () => {},
    );
    const h = healthy();
    o.metrics.clusterRedisUp.set(h ? 1 : 0);
    if (h && !wasHealthy && everHealthy) recover('redis answering again');
    wasHealthy = h;
    everHealthy ||= h;
  }, timeoutMs);
  healthTimer.unref();
  const healthy = () => !closed && pub.status === 'ready' && sub.status === 'ready' && Date.now() - lastPong < 2 * timeoutMs + 100;

  return {
    instanceId: o.instanceId,
    async subscribe(docId, handler) {
      handlers.set(docId, handler);
      await sub.subscribe(channel(docId));
    },
    unsubscribe(docId) {
      handlers.delete(docId);
      peers.delete(docId);
      sub.unsubscribe(channel(docId)).catch(() => {});
    },
    publish(docId, m) {
      if (m.kind !== 'awareness-query' && peers.get(docId) === false) {
        o.metrics.clusterMessages.inc({ direction: 'skipped', kind: m.kind });
        return;
      }
      const bytes = encodeBusMessage(o.instanceId, m);
      o.metrics.clusterMessages.inc({ direction: 'out', kind: m.kind });
      pub.publish(channel(docId), Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)).then((receivers) => {
        // Our own subscriber is one receiver; more means another instance has the document.
        if (handlers.has(docId)) peers.set(docId, receivers > 1);
      }, (err: Error) => {
        o.metrics.clusterPublishFailures.inc();
        o.log.debug({ err: err.message, doc: docId }, 'redis publish failed; other instances catch up from the log');
      });
    },
    healthy,
    onRecover(cb) {
      recoverCbs.push(cb);
    },
    async close() {
      closed = true;
      clearInterval(healthTimer);
      handlers.clear();
      await Promise.allSettled([pub.quit(), sub.quit()]);
      pub.disconnect();
      sub.disconnect();
    },
  };
}
