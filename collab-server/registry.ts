/**
 * The documents in memory. Concurrent opens of one document share one load; a document is
 * unloaded (flushed, snapshotted, freed) when its last connection leaves. A connection arriving
 * while its document unloads waits for the unload and then loads it fresh.
 */
import { ROOT_CONTEXT, SpanStatusCode, type Span } from '@opentelemetry/api';
import type { DocAcl } from '../lib/acl';
import { Attr, SpanName } from '../observability/attributes';
import type { CollabMetrics } from '../observability/metrics';
import type { AclStore } from './acl-store';
import { createFlushScheduler } from './flush-scheduler';
import { LiveDoc, type LiveDocDeps } from './live-doc';
import type { DocSync } from './cluster/doc-sync';

export interface RegistryDeps extends Omit<LiveDocDeps, 'scheduleFlush' | 'publish'> {
  acl: AclStore;
  metrics: CollabMetrics;
  /** Scaled out: keeps loaded documents in step with the other instances. */
  sync?: DocSync;
}

export class DocRegistry {
  private readonly live = new Map<string, LiveDoc>();
  private readonly loading = new Map<string, Promise<LiveDoc | null>>();
  private readonly unloading = new Map<string, Promise<void>>();

  private readonly docDeps: LiveDocDeps;

  constructor(private readonly deps: RegistryDeps) {
    const sync = deps.sync;
    this.docDeps = { ...deps, scheduleFlush: createFlushScheduler(), publish: sync && ((docId, m) => sync.publish(docId, m)) };
  }

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
    // Child of the ws.upgrade span that asked first (tracing on only).
    const span = this.deps.tracer?.startSpan(SpanName.DOC_LOAD, { attributes: { [Attr.DOC_ID]: docId } });
    return span ? this.loadTraced(docId, span) : this.loadDoc(docId);
  }

  private async loadTraced(docId: string, span: Span): Promise<LiveDoc | null> {
    try {
      const doc = await this.loadDoc(docId, span);
      span.setAttribute(Attr.DOC_FOUND, doc !== null);
      return doc;
    } catch (err) {
      span.recordException(err as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
      throw err;
    } finally {
      span.end();
    }
  }

  private async loadDoc(docId: string, span?: Span): Promise<LiveDoc | null> {
    const t0 = performance.now();
    const acl: DocAcl | null = await this.deps.acl.load(docId);
    if (!acl) return null;
    const stored = await this.deps.store.load(docId);
    span?.setAttributes({ [Attr.UPDATES]: stored.updates.length, [Attr.SNAPSHOT_BYTES]: stored.snapshot?.byteLength ?? 0, [Attr.ACL_VERSION]: acl.version });
    const doc = new LiveDoc(docId, acl, stored, this.docDeps);
    this.live.set(docId, doc);
    this.deps.sync?.track(doc);
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
        this.deps.sync?.untrack(doc);
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
    const span = this.deps.tracer?.startSpan(SpanName.ACL_CHANGE, { attributes: { [Attr.DOC_ID]: docId, [Attr.CONNECTIONS]: doc.conns.size } }, ROOT_CONTEXT);
    try {
      const acl = await this.deps.acl.load(docId);
      doc.setAcl(acl);
      if (span) {
        let closed = 0;
        for (const c of doc.conns) if (c.closed) closed++;
        span.setAttributes({ [Attr.ACL_VERSION]: acl?.version ?? -1, [Attr.CONNECTIONS_CLOSED]: closed });
      }
    } catch (err) {
      span?.recordException(err as Error);
      span?.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
      throw err;
    } finally {
      span?.end();
    }
  }

  /** Flush and unload everything (shutdown). */
  async closeAll(): Promise<void> {
    this.deps.sync?.close();
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
