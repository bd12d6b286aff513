import type { LiveDoc } from './live-doc';

/**
 * Group commit across documents: every document that admitted updates during this event-loop
 * turn starts its flush in the same setImmediate (which runs after all socket reads of the poll
 * phase), so their store appends land in the same microtask checkpoint and a batching store
 * (SQLite) commits them all in one transaction.
 */
export function createFlushScheduler(): (doc: LiveDoc) => void {
  const dirty = new Set<LiveDoc>();
  let scheduled = false;
  const run = () => {
    scheduled = false;
    const docs = [...dirty];
    dirty.clear();
    for (const d of docs) d.startFlush();
  };
  return (doc) => {
    dirty.add(doc);
    if (!scheduled) {
      scheduled = true;
      setImmediate(run);
    }
  };
}
