/**
 * Version history where the live document is. After every durable batch (LiveDoc's `onStored`)
 * a document's quiet timer is re-armed: QUIET ms after the last stored edit — or MAX_INTERVAL ms
 * after the first edit since the last version, for continuous typing — an automatic version is
 * taken. The decision is re-checked under the document's version lock against the shared log head
 * (doc_heads.last_edit_at is cluster-wide), so several instances serving one document add one
 * version per quiet period, not one each. A sweep takes what a timer could not (the document
 * unloaded, the process restarted) from the stored state, and applies retention.
 *
 * Also the REST restore: `POST /docs/:docId/restore` with a collab token of the restoring user (the
 * same token and ACL check as a socket write) writes the version's content into the live document
 * as the server, through the normal durable path.
 */
import type http from 'node:http';
import * as Y from 'yjs';
import { effectiveRole } from '../lib/acl';
import { CONTENT_FIELD, replaceFragment, type RetentionPolicy } from '../lib/versions';
import type { VersionMeta, VersionStore } from '../lib/version-store';
import { isDocId } from '../lib/ids';
import type { CollabMetrics } from '../observability/metrics';
import type { Logger } from '../observability/logger';
import { AuthError, type Authenticator } from './auth';
import type { LiveDoc, Pending } from './live-doc';
import type { DocStore } from './persistence/doc-store';
import type { DocRegistry } from './registry';

export interface VersionOptions {
  /** A changed document quiet this long gets a version (VERSION_QUIET_MS). */
  quietMs: number;
  /** ...and at least this often while it keeps changing (VERSION_MAX_INTERVAL_MS). */
  maxIntervalMs: number;
  /** A full keyframe every this many versions (VERSION_KEYFRAME_EVERY). */
  keyframeEvery: number;
  retention: RetentionPolicy;
  /** How often unfinished versions are taken from the store and retention runs (VERSION_SWEEP_MS; 0 = never). */
  sweepMs: number;
}

export interface VersionCaptureDeps extends VersionOptions {
  versions: VersionStore;
  store: DocStore;
  metrics: CollabMetrics;
  log: Logger;
  now?: () => number;
}

export interface VersionCapture {
  /** LiveDoc's hook: a batch is durable. */
  onStored(doc: LiveDoc, batch: readonly Pending[]): void;
  /** Wire in the server's registry and authenticator (done by createCollabServer). */
  attach(ctx: { registry: DocRegistry; auth: Authenticator }): void;
  /** HTTP handler for the restore endpoint; false for paths it does not own. */
  http(req: http.IncomingMessage, res: http.ServerResponse): boolean;
  /** Take a version of `docId` now if it is due (`force`: even if not quiet yet). */
  capture(docId: string, force?: boolean): Promise<VersionMeta | null>;
  /** One sweep: unfinished versions from the store, then retention for every versioned document. */
  sweep(): Promise<void>;
  close(): void;
}

interface Dirty {
  since: number;
  users: Set<string>;
  timer: NodeJS.Timeout | null;
}

/** Build the version capture for one collab-server. */
export function createVersionCapture(deps: VersionCaptureDeps): VersionCapture {
  const now = deps.now ?? Date.now;
  const dirty = new Map<string, Dirty>();
  let ctx: { registry: DocRegistry; auth: Authenticator } | null = null;
  let sweepTimer: NodeJS.Timeout | null = null;
  let closed = false;

  const fail = (err: unknown, docId: string | null, what: string) => {
    deps.metrics.errors.inc({ where: 'versions' });
    deps.log.error({ err, doc: docId }, what);
  };

  function arm(docId: string, d: Dirty, delay: number): void {
    if (d.timer) clearTimeout(d.timer);
    d.timer = setTimeout(() => {
      d.timer = null;
      void fire(docId);
    }, Math.max(0, delay));
    d.timer.unref();
  }

  async function fire(docId: string): Promise<void> {
    const d = dirty.get(docId);
    if (!d || closed) return;
    try {
      const r = await take(docId, now() - d.since >= deps.maxIntervalMs, d.users);
      if (r.retryInMs !== null) return arm(docId, d, r.retryInMs);
      if (dirty.get(docId) !== d) return;
      if (!d.timer) dirty.delete(docId);
      else if (r.version) d.since = now(); // edited again meanwhile: the next interval starts now
    } catch (err) {
      fail(err, docId, 'taking an automatic version failed; retrying');
      arm(docId, d, deps.quietMs);
    }
  }

  /** The document's content as this instance sees it: the live Y.Doc if loaded here, else the store. */
  async function source(docId: string): Promise<{ doc: Y.Doc; uptoSeq: () => number; release(): void }> {
    const live = ctx?.registry.peek(docId);
    if (live && !live.closing && !live.deleted) return { doc: live.doc, uptoSeq: () => live.watermark, release: () => {} };
    const stored = await deps.store.load(docId);
    const doc = new Y.Doc();
    doc.transact(() => {
      if (stored.snapshot) Y.applyUpdate(doc, stored.snapshot);
      for (const u of stored.updates) Y.applyUpdate(doc, u);
    });
    return { doc, uptoSeq: () => stored.lastSeq, release: () => doc.destroy() };
  }

  /** Add an automatic version if one is due; otherwise say when to look again. */
  async function take(docId: string, force: boolean, users: Iterable<string> = []): Promise<{ version: VersionMeta | null; retryInMs: number | null }> {
    const src = await source(docId);
    let retryInMs: number | null = null;
    try {
      const version = await deps.versions.add(
        docId,
        ({ latest, head }) => {
          retryInMs = null;
          const upto = src.uptoSeq();
          // Nothing this instance holds is newer than the newest version (another instance took it).
          if (!head || upto === 0 || (latest && latest.uptoSeq >= upto)) return null;
          const t = now();
          const quietFor = t - head.lastEditAt;
          const overdue = force || (latest !== null && t - latest.createdAt >= deps.maxIntervalMs);
          if (quietFor < deps.quietMs && !overdue) {
            retryInMs = deps.quietMs - quietFor; // someone (maybe on another instance) is still typing
            return null;
          }
          return { kind: 'auto', uptoSeq: upto, doc: src.doc, contributors: users, createdAt: t };
        },
        { keyframeEvery: deps.keyframeEvery },
      );
      if (version) {
        deps.log.info({ doc: docId, version: version.id, n: version.n, bytes: version.bytes, depth: version.depth }, 'version taken');
        await deps.versions.prune(docId, deps.retention, now()).catch((err: unknown) => fail(err, docId, 'version retention failed'));
      }
      return { version, retryInMs };
    } finally {
      src.release();
    }
  }

  async function sweep(): Promise<void> {
    for (const docId of await deps.versions.unversioned(now() - deps.quietMs, 100)) {
      if (closed) return;
      if (dirty.get(docId)?.timer) continue; // a live timer here will take it
      await take(docId, false).catch((err: unknown) => fail(err, docId, 'sweep: taking a version failed'));
    }
    for (const docId of await deps.versions.docsWithVersions()) {
      if (closed) return;
      await deps.versions.prune(docId, deps.retention, now()).catch((err: unknown) => fail(err, docId, 'sweep: retention failed'));
    }
  }

  function json(res: http.ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  }

  async function readBody(req: http.IncomingMessage, max = 4096): Promise<unknown> {
    let size = 0;
    const parts: Buffer[] = [];
    for await (const c of req) {
      size += (c as Buffer).length;
      if (size > max) throw new Error('body too large');
      parts.push(c as Buffer);
    }
    return JSON.parse(Buffer.concat(parts).toString('utf8') || '{}');
  }

  /** POST /docs/:docId/restore {versionId}: write a version's content into the document as the server. */
  async function restore(req: http.IncomingMessage, res: http.ServerResponse, docId: string): Promise<void> {
    if (!ctx) return json(res, 503, { error: 'unavailable', message: 'not ready' });
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? null;
    let body: { versionId?: unknown };
    try {
      body = (await readBody(req)) as { versionId?: unknown };
    } catch {
      return json(res, 400, { error: 'bad_request', message: 'body must be JSON {versionId}' });
    }
    if (typeof body?.versionId !== 'string') return json(res, 400, { error: 'bad_request', message: 'versionId missing', field: 'versionId' });
    let identity;
    try {
      identity = await ctx.auth.authenticate(bearer, docId);
    } catch (err) {
      if (err instanceof AuthError) return json(res, bearer ? 403 : 401, { error: bearer ? 'forbidden' : 'unauthorized', message: err.message });
      throw err;
    }
    const { registry } = ctx;
    let doc = await registry.open(docId);
    while (doc?.closing) doc = await registry.open(docId);
    if (!doc) return json(res, 404, { error: 'not_found', message: 'document not found' });
    try {
      // The same check as a socket write, on the live ACL (re-read: a grant may be a moment old).
      let role = effectiveRole(identity, doc.acl);
      if (role !== 'editor' && role !== 'owner') {
        await registry.refreshAcl(docId);
        role = effectiveRole(identity, doc.acl);
      }
      if (!role) return json(res, 404, { error: 'not_found', message: 'document not found' });
      if (role === 'viewer') return json(res, 403, { error: 'forbidden', message: 'viewers cannot change this document' });
      const content = await deps.versions.content(docId, body.versionId);
      if (!content) return json(res, 404, { error: 'not_found', message: 'version not found', field: 'versionId' });
      const update = restoreUpdate(doc.doc, content);
      content.destroy();
      if (!update) return json(res, 200, { changed: false, uptoSeq: doc.watermark });
      if (!(await doc.writeAsServer(update, 'restore'))) return json(res, 503, { error: 'unavailable', message: 'storage unavailable: the restore was not stored' });
      deps.log.info({ doc: docId, user: identity.userId, version: body.versionId }, 'version restored');
      return json(res, 200, { changed: true, uptoSeq: doc.watermark });
    } finally {
      registry.release(doc);
    }
  }

  return {
    onStored(doc, batch) {
      if (closed) return;
      let d = dirty.get(doc.id);
      if (!d) dirty.set(doc.id, (d = { since: now(), users: new Set(), timer: null }));
      for (const p of batch) if (p.origin.kind === 'client' && p.origin.conn.userId) d.users.add(p.origin.conn.userId);
      arm(doc.id, d, Math.min(deps.quietMs, d.since + deps.maxIntervalMs - now()));
    },
    attach(c) {
      ctx = c;
      if (deps.sweepMs > 0 && !sweepTimer) {
        sweepTimer = setInterval(() => void sweep().catch((err: unknown) => fail(err, null, 'version sweep failed')), deps.sweepMs);
        sweepTimer.unref();
      }
    },
    http(req, res) {
      const m = /^\/docs\/([^/]+)\/restore$/.exec((req.url ?? '/').split('?')[0]!);
      if (!m) return false;
      let docId: string;
      try {
        docId = decodeURIComponent(m[1]!);
      } catch {
        docId = '';
      }
      if (req.method !== 'POST' || !isDocId(docId)) {
        json(res, req.method !== 'POST' ? 405 : 400, { error: req.method !== 'POST' ? 'method_not_allowed' : 'bad_request', message: 'POST /docs/:docId/restore' });
        return true;
      }
      restore(req, res, docId).catch((err: unknown) => {
        fail(err, docId, 'restore failed');
        if (!res.headersSent) json(res, 500, { error: 'internal', message: 'restore failed' });
      });
      return true;
    },
    async capture(docId, force = false) {
      return (await take(docId, force, dirty.get(docId)?.users)).version;
    },
    sweep,
    close() {
      closed = true;
      if (sweepTimer) clearInterval(sweepTimer);
      for (const d of dirty.values()) if (d.timer) clearTimeout(d.timer);
      dirty.clear();
    },
  };
}

/**
 * The update that makes `live` hold `version`'s content: computed on a scratch copy (a client id of
 * its own, so it never collides with a writer's), as the editor would write it.
 */
export function restoreUpdate(live: Y.Doc, version: Y.Doc): Uint8Array | null {
  const scratch = new Y.Doc();
  Y.applyUpdate(scratch, Y.encodeStateAsUpdate(live));
  let update: Uint8Array | null = null;
  scratch.on('update', (u: Uint8Array) => {
    update = update ? Y.mergeUpdates([update, u]) : u;
  });
  scratch.transact(() => replaceFragment(scratch.getXmlFragment(CONTENT_FIELD), version.getXmlFragment(CONTENT_FIELD)));
  scratch.destroy();
  return update;
}
