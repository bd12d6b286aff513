/**
 * Keeps the documents loaded on this instance in step with the other instances: subscribes each
 * to its Redis channel, and falls back to the update log (the record) whenever the fast path may
 * have lost something — after a resubscribe, when Redis is unhealthy (every `degradedPollMs`), and
 * otherwise every `pollMs` ("heard nothing for a while"): one query for the log heads of every
 * loaded document, then a catch-up read for the documents that are behind.
 */
import type { CollabMetrics } from '../../observability/metrics';
import type { Logger } from '../../observability/logger';
import type { DocStore } from '../persistence/doc-store';
import type { LiveDoc } from '../live-doc';
import type { ClusterBus, OutgoingMessage } from './redis-bus';

export interface DocSync {
  /** A document was loaded: subscribe it, then read anything published before the subscription. */
  track(doc: LiveDoc): void;
  /** A document was unloaded. */
  untrack(doc: LiveDoc): void;
  /** LiveDoc's publish hook (no-op without Redis: the log poll carries updates then). */
  publish(docId: string, m: OutgoingMessage): void;
  close(): void;
}

export interface DocSyncOptions {
  store: DocStore;
  /** Undefined: PostgreSQL without Redis; instances see each other through the log poll alone. */
  bus?: ClusterBus;
  metrics: CollabMetrics;
  log: Logger;
  pollMs: number;
  degradedPollMs: number;
}

export function createDocSync(o: DocSyncOptions): DocSync {
  const docs = new Map<string, LiveDoc>();
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;

  const catchUp = (doc: LiveDoc, reason: Parameters<LiveDoc['catchUp']>[0]) =>
    doc.catchUp(reason).catch((err: unknown) => {
      o.metrics.errors.inc({ where: 'cluster-catchup' });
      o.log.warn({ err, doc: doc.id, reason }, 'catching up from the log failed; retrying on the next poll');
    });

  /** The heads seen at the previous poll. */
  let previous = new Map<string, number>();
  async function poll(): Promise<void> {
    if (docs.size === 0) return;
    const heads = await o.store.heads([...docs.keys()]);
    // With Redis healthy, a head ahead of the watermark is usually a message milliseconds away:
    // read the log only for what was already in the log at the previous poll and still is not
    // here. Without Redis the log is the only way: read whatever is ahead.
    const fast = o.bus?.healthy() ?? false;
    for (const [id, head] of heads) {
      const doc = docs.get(id);
      if (!doc) continue;
      const mark = fast ? Math.min(head, previous.get(id) ?? 0) : head;
      if (mark > doc.watermark) void catchUp(doc, 'poll');
    }
    previous = heads;
  }
  const schedule = () => {
    if (stopped) return;
    const ms = o.bus?.healthy() ? o.pollMs : o.degradedPollMs;
    timer = setTimeout(() => {
      poll()
        .catch((err: unknown) => {
          o.metrics.errors.inc({ where: 'cluster-poll' });
          o.log.warn({ err }, 'reading the log heads failed');
        })
        .finally(schedule);
    }, ms);
    timer.unref();
  };
  schedule();
  o.bus?.onRecover(() => {
    for (const d of docs.values()) void catchUp(d, 'recovered');
  });

  return {
    track(doc) {
      docs.set(doc.id, doc);
      if (!o.bus) return;
      o.bus.subscribe(doc.id, (m) => doc.receive(m)).then(
        () => {
          if (docs.get(doc.id) !== doc) return;
          void catchUp(doc, 'subscribed');
          // Presence set before we subscribed would otherwise show only at its next renewal (15 s).
          o.bus!.publish(doc.id, { kind: 'awareness-query' });
        },
        (err: unknown) => o.log.warn({ err, doc: doc.id }, 'redis subscribe failed; the log poll carries this document'),
      );
    },
    untrack(doc) {
      if (docs.get(doc.id) !== doc) return;
      docs.delete(doc.id);
      o.bus?.unsubscribe(doc.id);
    },
    publish(docId, m) {
      o.bus?.publish(docId, m);
    },
    close() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}
