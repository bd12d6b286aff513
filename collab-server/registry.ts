/**
 * The documents in memory. Concurrent opens of one document share one load; a document is
 * unloaded (flushed, snapshotted, freed) when its last connection leaves. A connection arriving
 * while its document unloads waits for the unload and then loads it fresh.
 */
import type { DocAcl } from '../lib/acl';
import type { CollabMetrics } from '../observability/metrics';
import type { AclStore } from './acl-store';
import { LiveDoc, type LiveDocDeps } from './live-doc';

export interface RegistryDeps extends LiveDocDeps {
  acl: AclStore;
  metrics: CollabMetrics;
}

export class DocRegistry {
  private readonly live = new Map<string, LiveDoc>();
  private readonly loading = new Map<string, Promise<LiveDoc | null>>();
  private readonly unloading = new Map<string, Promise<void>>();

  constructor(private readonly deps: RegistryDeps) {}

  get size(): number {
    return this.live.size;
  }

  docs(): IterableIterator<LiveDoc> {
    return this.live.values();
  }

  peek(docId: string): LiveDoc | undefined {
    return this.live.get(docId);
  }

  /** The live document, loading it once however many connections ask; null if it does not exist. */
  async open(docId: string): Promise<LiveDoc | null> {
    const pendingUnload = this.unloading.get(docId);
    if (pendingUnload) await pendingUnload;
    const live = this.live.get(docId);
    if (live && !live.closing) return live;
    let p = this.loading.get(docId);
    if (!p) {
      p = this.load(docId).finally(() => this.loading.delete(docId));
      this.loading.set(docId, p);
    }
    return p;
  }

  private async load(docId: string): Promise<LiveDoc | null> {
    const t0 = performance.now();
    const acl: DocAcl | null = await this.deps.acl.load(docId);
    if (!acl) return null;
    const stored = await this.deps.store.load(docId);
    const doc = new LiveDoc(docId, acl, stored, this.deps);
    this.live.set(docId, doc);
    this.deps.metrics.docsInMemory.set(this.live.size);
    this.deps.metrics.docLoad.observe((performance.now() - t0) / 1000);
    return doc;
  }

  /** Called when a connection left; unloads the document if it was the last one. */
  release(doc: LiveDoc): void {
    if (doc.conns.size > 0 || doc.closing || this.live.get(doc.id) !== doc) return;
    const p = doc
      .close()
      .finally(() => {
        if (this.live.get(doc.id) === doc) this.live.delete(doc.id);
        this.unloading.delete(doc.id);
        this.deps.metrics.docsInMemory.set(this.live.size);
      });
    this.unloading.set(doc.id, p);
  }

  /** Re-read a document's ACL after a change and re-check its connections. */
  async refreshAcl(docId: string): Promise<void> {
    const doc = this.live.get(docId);
    if (!doc) return;
    doc.setAcl(await this.deps.acl.load(docId));
  }

  /** Flush and unload everything (shutdown). */
  async closeAll(): Promise<void> {
    await Promise.all([...this.unloading.values()]);
    await Promise.all(
      [...this.live.values()].map(async (d) => {
        if (!d.closing) await d.close();
      }),
    );
    this.live.clear();
    this.deps.metrics.docsInMemory.set(0);
  }
}
