/**
 * Deleted documents lose their stored content here, not in the app: the app deletes its rows and
 * records the deletion in the access-change feed; every collab-server purges the update log and
 * snapshot of a deleted document it hears of (idempotent), loaded or not. A durable cursor makes
 * an instance that starts after a deletion — or all instances having been down — purge it too.
 */
import type { CollabMetrics } from '../observability/metrics';
import type { Logger } from '../observability/logger';
import type { AclChange, AclStore } from './acl-store';
import type { DocStore } from './persistence/doc-store';

const CURSOR = 'deletions-purged';

export interface DeletionPurger {
  /** Purge every deletion in the feed past the cursor (call at start). */
  catchUp(): Promise<void>;
  /** A live feed row. */
  onChange(change: AclChange): void;
}

export function createDeletionPurger(o: { acl: AclStore; store: DocStore; metrics: CollabMetrics; log: Logger }): DeletionPurger {
  const purge = async (c: AclChange) => {
    await o.store.delete(c.docId);
    await o.store.setCursor(CURSOR, c.seq);
    o.log.info({ doc: c.docId }, 'deleted document purged from the update log');
  };
  const failed = (docId: string) => (err: unknown) => {
    o.metrics.errors.inc({ where: 'purge' });
    o.log.error({ err, doc: docId }, 'purging a deleted document failed (retried at the next start)');
  };
  return {
    async catchUp() {
      for (const c of await o.acl.deletionsSince(await o.store.getCursor(CURSOR))) await purge(c).catch(failed(c.docId));
    },
    onChange(c) {
      if (c.deleted) void purge(c).catch(failed(c.docId));
    },
  };
}
