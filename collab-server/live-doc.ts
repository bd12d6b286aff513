/**
 * A document in memory: the Y.Doc, its awareness, its connections, and the one path an accepted
 * update takes — admit (cheap pre-check) → append to the update log → apply → broadcast.
 *
 * Updates admitted during one event-loop turn are group-committed: one store transaction, one Yjs
 * transaction, and the broadcasts for the turn written to each socket in one corked write. Flushes,
 * compactions and catch-ups run one at a time on `chain`.
 *
 * Scaled out, several instances may serve one document: each appends to the shared log (which
 * numbers the updates), then publishes to the others (`deps.publish`), which apply with origin
 * `remote` and neither store nor re-publish. `appliedSeq` is the watermark below which every log
 * entry is in this Y.Doc; a hole above it (a message Redis lost, or one still in flight) is filled
 * from the log after a short grace period (`catchUp`).
 */
import * as Y from 'yjs';
import * as awarenessProtocol from 'y-protocols/awareness';
import * as decoding from 'lib0/decoding';
import { ROOT_CONTEXT, SpanStatusCode, type Span, type Tracer } from '@opentelemetry/api';
import { CloseCode } from '../lib/close-codes';
import { encode, EMPTY_AWARENESS_FRAME, DOC_TOO_LARGE_REASON } from '../lib/protocol';
import { effectiveRole, type DocAcl, type Role } from '../lib/acl';
import type { CollabMetrics } from '../observability/metrics';
import type { Logger } from '../observability/logger';
import { Attr, EXEMPLAR_TRACE_ID, SpanName } from '../observability/attributes';
import { endTraces, traceBatch } from './batch-tracing';
import type { DocStore, LogRange } from './persistence/doc-store';
import { CONTENT_FIELD, fragmentText } from '../lib/versions';
import type { BusMessage, OutgoingMessage } from './cluster/redis-bus';
import type { Connection } from './connection';
import { Outgoing } from './chunks';

/** Where an update came from; decides whether it is persisted and re-published. */
export type UpdateOrigin =
  | { kind: 'client'; conn: Connection }
  | { kind: 'remote'; instance: string }
  | { kind: 'server'; reason: string };

export type AdmitResult = { ok: true } | { ok: false; reason: 'clock-gap' | 'client-id-taken' | 'too-many-client-ids' | 'behind' };

/**
 * Client ids one connection may hold. A Y.Doc has one (Yjs picks a new one only on a detected
 * clash); a socket claiming many is abuse: each id's presence is broadcast and remembered.
 */
export const MAX_CLIENT_IDS_PER_CONNECTION = 16;

/**
 * How long a hole in the sequence may last before the log is read: updates from two instances can
 * reach a third out of order for a few milliseconds; a lost message stays missing.
 */
const GAP_GRACE_MS = 150;

/**
 * Scaled out, stored updates larger than this are not copied into Redis: the message carries their
 * sequence numbers only and the other instances read them from the log. One 20 MB paste published
 * whole would pass through Redis once per subscribed instance, and a subscriber's output buffer
 * over Redis' pubsub limit (32 MB hard by default) is disconnected, losing everything else queued.
 */
export const BUS_INLINE_MAX_BYTES = 1024 * 1024;

/** A client missing more than 1/this of the document's structs gets the shared full state (see syncStep2). */
const STEP2_FULL_STATE_RATIO = 8;

export interface Pending {
  update: Uint8Array;
  origin: UpdateOrigin;
  receivedAt: number;
  /** The update's collab.message span (tracing on only); ended once it is broadcast. */
  span?: Span;
}

export interface LiveDocDeps {
  store: DocStore;
  metrics: CollabMetrics;
  log: Logger;
  compactAfterUpdates: number;
  compactIdleMs: number;
  /** Queue this document's flush for the end of the turn (see createFlushScheduler). */
  scheduleFlush: (doc: LiveDoc) => void;
  /** OpenTelemetry tracer; undefined = tracing off. */
  tracer?: Tracer;
  /** Scaled out: tell the other instances (after the durable append). Undefined on one machine. */
  publish?: (docId: string, m: OutgoingMessage) => void;
  /** After a batch is durable, applied and broadcast (version history notes the change; collab-server/versions.ts). */
  onStored?: (doc: LiveDoc, batch: readonly Pending[]) => void;
  /** Largest encoded document state (DOC_MAX_BYTES); a write past it is refused. Default: no limit. */
  docMaxBytes?: number;
}

export class LiveDoc {
  private readonly ydoc = new Y.Doc({ gc: true });
  /** Connections still owed our sync step 1 (the document was not applied yet when they joined). */
  private readonly deferredStep1 = new Set<Connection>();
  /** Stored state not yet applied to the Y.Doc (see the constructor). */
  private unapplied: Uint8Array[] | null = null;
  readonly awareness: awarenessProtocol.Awareness;
  readonly conns = new Set<Connection>();
  /** Yjs client id → the live connection that holds it (document writes and awareness alike). */
  private readonly owners = new Map<number, Connection>();
  /**
   * Yjs client id → the (token-authenticated) user who held it, kept after the socket closes while
   * the document is in memory. A Y.Doc keeps its client id across reconnects, so in the reconnect
   * window another user must not take it: a presence claim would lock the owner out of her own id,
   * and a write at her next clocks would make her offline edits diverge or vanish.
   */
  private readonly idUsers = new Map<number, string>();
  /**
   * Ids claimed for presence only (never written under), and by whom, while the document is in
   * memory. Not durable, and never in the way of a write: after an unload a viewer could otherwise
   * claim an editor's id (presence states carry it) and lock her offline edits out (issue 11 #4).
   */
  private readonly presenceUsers = new Map<number, string>();
  /** Ids whose live owner holds them by presence alone: a writer under the id takes them over. */
  private readonly presenceOnly = new Set<number>();
  /** Client ids whose first writer the store has recorded, and those still to record. */
  private readonly storedIds = new Set<number>();
  private unsavedIds = new Map<number, string>();
  /** The state vector including admitted-but-not-yet-applied updates (for the gap check). */
  private readonly known = new Map<number, number>();
  private pending: Pending[] = [];
  private flushScheduled = false;
  private chain: Promise<void> = Promise.resolve();
  /** Every log entry up to here is applied to the Y.Doc. */
  private appliedSeq: number;
  /** Log entries above the watermark that are applied already (own appends, remote messages). */
  private readonly ahead = new Set<number>();
  private gapTimer: NodeJS.Timeout | null = null;
  private sinceCompact = 0;
  private idleTimer: NodeJS.Timeout | null = null;
  closing = false;
  /** Sync step 2 for a client that has nothing, memoized until the document changes. */
  private fullStateFrame: Uint8Array | null = null;
  /** The document was deleted while loaded. */
  deleted = false;
  /**
   * Encoded size, estimated: the stored snapshot plus every update since. An upper bound (updates
   * overlap, deleted text is collected); measured exactly by each compaction and near the quota.
   */
  private sizeBytes = 0;
  /** The memoized full state as an Outgoing: its chunk frames are encoded once for every reader. */
  private fullStateOut: Outgoing | null = null;

  constructor(
    readonly id: string,
    public acl: DocAcl,
    stored: { snapshot: Uint8Array | null; updates: Uint8Array[]; lastSeq: number; clientIds?: Map<number, string> },
    private readonly deps: LiveDocDeps,
  ) {
    this.appliedSeq = stored.lastSeq;
    for (const [id, user] of stored.clientIds ?? []) {
      this.idUsers.set(id, user);
      this.storedIds.add(id);
    }
    this.sinceCompact = stored.updates.length;
    this.sizeBytes = (stored.snapshot?.byteLength ?? 0) + stored.updates.reduce((n, u) => n + u.byteLength, 0);
    if (stored.snapshot && stored.updates.length === 0) {
      // Loaded from a snapshot alone: the stored bytes are the full state, so a fresh client's
      // first sync is answered with them as they are, and applying them to the Y.Doc (the bulk of
      // a cold load) waits until something needs the document.
      this.unapplied = [stored.snapshot];
      this.fullStateFrame = encode.syncStep2(stored.snapshot);
    } else {
      this.unapplied = stored.snapshot ? [stored.snapshot, ...stored.updates] : stored.updates;
      this.materialize();
    }
    this.awareness = new awarenessProtocol.Awareness(this.ydoc);
    this.awareness.setLocalState(null);
    // Presence relayed from another instance expires after 30 s without renewal (y-protocols'
    // outdated timeout), e.g. when that instance died: tell our clients it is gone.
    this.awareness.on('update', ({ removed }: { removed: number[] }, origin: unknown) => {
      if (origin === 'timeout' && removed.length) {
        this.broadcast(encode.awareness(awarenessProtocol.encodeAwarenessUpdate(this.awareness, removed)), 'awareness', null);
      }
    });
    if (this.sinceCompact > 0) this.armIdleCompaction();
  }

  /** The Y.Doc, with every stored update applied. */
  get doc(): Y.Doc {
    this.materialize();
    return this.ydoc;
  }

  /** Apply the stored state that loading deferred; one Yjs transaction, each update guarded. */
  private materialize(): void {
    const stored = this.unapplied;
    if (!stored) return;
    this.unapplied = null;
    this.ydoc.transact(() => {
      for (const u of stored) {
        try {
          Y.applyUpdate(this.ydoc, u);
        } catch (err) {
          // A stored update that no longer decodes must not make the whole document unloadable.
          this.deps.metrics.errors.inc({ where: 'load-apply' });
          this.deps.log.error({ err, doc: this.id }, 'skipping stored update that failed to apply');
        }
      }
    }, { kind: 'server', reason: 'load' } satisfies UpdateOrigin);
    for (const [client, clock] of Y.decodeStateVector(Y.encodeStateVector(this.ydoc))) this.known.set(client, clock);
  }

  // ---- connections --------------------------------------------------------------------------

  /** Join a connection and start the sync handshake (our step 1, plus current presence). */
  addConnection(conn: Connection): void {
    this.conns.add(conn);
    conn.doc = this;
    this.decideRole(conn);
    if (this.unapplied) {
      // Not applied yet: answer the client's own step 1 from the stored snapshot first, and only
      // once that frame has left for the client apply the snapshot for our step 1 (see
      // answerStep1); a client that never sends step 1 gets ours after a second anyway.
      this.deferredStep1.add(conn);
      setTimeout(() => this.sendDeferredStep1(conn), 1000).unref();
    } else conn.send(encode.syncStep1(Y.encodeStateVector(this.doc)), 'sync-step1');
    if (this.awareness.states.size > 0) {
      conn.send(encode.awareness(awarenessProtocol.encodeAwarenessUpdate(this.awareness, [...this.awareness.states.keys()])), 'awareness');
    }
  }

  /** Remove a connection; its presence is removed and the removal broadcast. Returns remaining count. */
  removeConnection(conn: Connection): number {
    this.deferredStep1.delete(conn);
    if (!this.conns.delete(conn)) return this.conns.size;
    const ids: number[] = [];
    for (const id of conn.clientIds) {
      if (this.owners.get(id) === conn) {
        this.owners.delete(id);
        this.presenceOnly.delete(id);
        if (this.awareness.states.has(id)) ids.push(id);
      }
    }
    if (ids.length) {
      awarenessProtocol.removeAwarenessStates(this.awareness, ids, 'connection closed');
      const update = awarenessProtocol.encodeAwarenessUpdate(this.awareness, ids);
      this.broadcast(encode.awareness(update), 'awareness', null);
      this.deps.publish?.(this.id, { kind: 'awareness', userId: conn.userId, update });
    }
    return this.conns.size;
  }

  /** The connection's current role under the current ACL (cached per ACL version). */
  decideRole(conn: Connection): Role | null {
    if (conn.roleVersion !== this.acl.version) {
      conn.role = conn.identity ? effectiveRole(conn.identity, this.acl) : null;
      conn.roleVersion = this.acl.version;
    }
    return conn.role;
  }

  /**
   * A new ACL arrived: re-check every open connection now. Removed users are closed with 4403;
   * others whose role changed are told (extension clients turn read-only without a reload).
   */
  setAcl(acl: DocAcl | null): void {
    if (!acl) {
      // Deleted: accept nothing more, and purge instead of snapshotting when the doc unloads
      // (the app already removed what was stored; nothing may bring it back).
      this.deleted = true;
      this.pending = [];
      for (const c of this.conns) c.close(CloseCode.FORBIDDEN, 'document deleted');
      return;
    }
    this.acl = acl;
    for (const c of this.conns) {
      const before = c.role;
      const after = this.decideRole(c);
      if (!after) c.close(CloseCode.FORBIDDEN, 'access revoked');
      else if (after !== before && c.ext) c.send(encode.role(after), 'role');
    }
  }

  /**
   * Claim a client id for `conn`, for a write or for presence. Refused when another user wrote
   * under it (recorded in the store, so this survives unloads and instances), or — for presence —
   * when another user's live connection or earlier presence in this load holds it. A presence-only
   * claim never blocks a write: the writer takes the id over and the squatter's presence under it
   * is removed. The same user may take over an id from a socket not reaped yet (reconnect).
   */
  claim(conn: Connection, clientId: number, kind: 'write' | 'presence' = 'presence'): boolean {
    const owner = this.owners.get(clientId);
    if (owner !== conn) {
      if (this.heldByOther(conn, clientId, kind) || conn.clientIds.size >= MAX_CLIENT_IDS_PER_CONNECTION) return false;
      if (owner) {
        owner.clientIds.delete(clientId);
        if (owner.userId !== conn.userId) this.dropPresence(clientId, owner);
      }
      this.owners.set(clientId, conn);
      conn.clientIds.add(clientId);
      if (kind === 'presence') this.presenceOnly.add(clientId);
    }
    if (kind === 'write') this.presenceOnly.delete(clientId);
    // Anonymous development mode (no token: jti '') is a new user per socket; binding its ids to
    // that user would refuse its own reconnects, so nothing is recorded there.
    if (conn.identity?.jti) (kind === 'write' ? this.idUsers : this.presenceUsers).set(clientId, conn.userId);
    return true;
  }

  /** A writer took over an id another user showed presence under: that presence goes. */
  private dropPresence(clientId: number, from: Connection): void {
    if (!this.awareness.states.has(clientId)) return;
    awarenessProtocol.removeAwarenessStates(this.awareness, [clientId], 'client id taken over by its writer');
    const update = awarenessProtocol.encodeAwarenessUpdate(this.awareness, [clientId]);
    this.broadcast(encode.awareness(update), 'awareness', null);
    this.deps.publish?.(this.id, { kind: 'awareness', userId: from.userId, update });
  }

  /** Another instance's user holds (presence) or wrote under (write) these ids: refuse them to everyone else here. */
  private noteRemoteOwner(userId: string, clientIds: Iterable<number>, kind: 'write' | 'presence' = 'write'): void {
    if (!userId) return;
    const m = kind === 'write' ? this.idUsers : this.presenceUsers;
    for (const id of clientIds) if (!m.has(id)) m.set(id, userId);
  }

  /** Whether `conn`'s user may not take the id for `kind` (see `claim`). */
  private heldByOther(conn: Connection, clientId: number, kind: 'write' | 'presence'): boolean {
    const writer = this.idUsers.get(clientId);
    if (writer !== undefined) return writer !== conn.userId;
    const owner = this.owners.get(clientId);
    const liveOther = !!owner && owner !== conn && !owner.closed && owner.userId !== conn.userId;
    if (kind === 'write') return liveOther && !this.presenceOnly.has(clientId);
    if (liveOther) return true;
    const shown = this.presenceUsers.get(clientId);
    return shown !== undefined && shown !== conn.userId;
  }

  /** Whether the document holds the struct `id` (a cursor referring to anything else cannot be drawn). */
  knowsId(id: { client: number; clock: number }): boolean {
    this.materialize(); // `known` comes from the applied document
    return id.clock < (this.known.get(id.client) ?? 0);
  }

  // ---- the update path ----------------------------------------------------------------------

  /**
   * Cheap pre-check before an update is accepted. Throws if the update does not decode.
   * - A clock gap (first new struct of a client beyond what we hold) would sit in Yjs' pending
   *   structs forever and be persisted as invisible data: refused, and the sender asked to resync.
   * - New structs under a client id that a live connection of another user holds: refused.
   */
  admit(conn: Connection, update: Uint8Array, mayBeBehind = false): AdmitResult {
    this.materialize(); // `known` comes from the applied document
    // Scaled out, this instance may lag the log: a client that came from another instance (or
    // relays what it got there) can send structs of other writers we have not applied yet. Judged
    // now, they would look like a gap or a squatted id — or worse, an unknown id would be bound to
    // this sender. With `mayBeBehind` any such doubt answers 'behind': catch up, then admit again.
    const doubt = (reason: 'clock-gap' | 'client-id-taken' | 'too-many-client-ids'): AdmitResult => ({ ok: false, reason: mayBeBehind ? 'behind' : reason });
    // decodeUpdate reads every struct and the delete set, so bytes Yjs cannot decode throw here,
    // before anything is stored (parseUpdateMeta alone would not read the delete set).
    const { structs, ds } = Y.decodeUpdate(update);
    const reach = new Map<number, number>(); // per client: how far we would hold after this update
    for (const s of structs) {
      if (s instanceof Y.Skip) continue;
      const client = s.id.client;
      const end = s.id.clock + s.length;
      const held = reach.get(client) ?? this.known.get(client) ?? 0;
      if (end <= held) continue; // nothing new: a duplicate is harmless
      if (s.id.clock > held) return doubt('clock-gap');
      if (this.heldByOther(conn, client, 'write')) return doubt('client-id-taken');
      if (!conn.clientIds.has(client) && conn.clientIds.size + reach.size >= MAX_CLIENT_IDS_PER_CONNECTION) return doubt('too-many-client-ids');
      if (mayBeBehind && !conn.clientIds.has(client) && !this.idUsers.has(client)) return { ok: false, reason: 'behind' };
      reach.set(client, end);
    }
    for (const [client, items] of ds.clients) {
      const held = reach.get(client) ?? this.known.get(client) ?? 0;
      for (const it of items) if (it.clock + it.len > held) return doubt('clock-gap');
    }
    for (const [client, end] of reach) {
      this.known.set(client, end);
      // First write under this id by a signed-in user: the store records who, so ownership
      // survives the socket, the unload and this instance.
      if (conn.identity?.jti && !this.storedIds.has(client)) this.unsavedIds.set(client, conn.userId);
      this.claim(conn, client, 'write');
    }
    return { ok: true };
  }

  /**
   * Why a write of `bytes` would take the document past its quota, or null. Cheap (an estimate)
   * until the estimate nears the limit; then the document's real encoded size decides.
   */
  quotaRefusal(bytes: number): string | null {
    const max = this.deps.docMaxBytes;
    if (!max || this.sizeBytes + bytes <= max) return null;
    this.sizeBytes = Y.encodeStateAsUpdate(this.doc).byteLength + this.pending.reduce((n, p) => n + p.update.byteLength, 0);
    if (this.sizeBytes + bytes <= max) return null;
    const mb = (n: number) => `${(n / (1024 * 1024)).toFixed(1)} MB`;
    return `${DOC_TOO_LARGE_REASON}: this document is ${mb(this.sizeBytes)} and may not grow past ${mb(max)}; this change (${mb(bytes)}) was not saved`;
  }

  /** Queue an admitted update; it is stored, applied and broadcast at the end of this turn. */
  enqueue(update: Uint8Array, origin: UpdateOrigin, span?: Span): void {
    this.pending.push({ update, origin, receivedAt: performance.now(), span });
    this.sizeBytes += update.byteLength;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      this.deps.scheduleFlush(this);
    }
  }

  /** Called by the flush scheduler at the end of the turn. */
  startFlush(): void {
    this.flushScheduled = false;
    void this.run(() => this.flush());
  }

  private run(task: () => Promise<void>): Promise<void> {
    this.chain = this.chain.then(task).catch((err) => {
      this.deps.metrics.errors.inc({ where: 'doc-chain' });
      this.deps.log.error({ err, doc: this.id }, 'document task failed');
    });
    return this.chain;
  }

  private async flush(): Promise<void> {
    const batch = this.pending;
    if (batch.length === 0 || this.deleted) return;
    this.pending = [];
    const { store, metrics } = this.deps;
    const t0 = performance.now();
    const ids = this.unsavedIds;
    this.unsavedIds = new Map();
    let firstSeq: number;
    try {
      firstSeq = await store.append(this.id, batch.map((p) => p.update), ids.size ? ids : undefined);
    } catch (err) {
      // Nothing was accepted: do not apply or broadcast. Senders reconnect and resync.
      metrics.errors.inc({ where: 'store-append' });
      this.deps.log.error({ err, doc: this.id, updates: batch.length }, 'update-log append failed; refusing the batch');
      for (const [id, user] of ids) if (!this.unsavedIds.has(id)) this.unsavedIds.set(id, user);
      this.resetKnown();
      for (const p of batch) {
        p.span?.setStatus({ code: SpanStatusCode.ERROR, message: 'update-log append failed' });
        p.span?.end();
      }
      for (const p of batch) if (p.origin.kind === 'client') p.origin.conn.close(CloseCode.STORAGE_UNAVAILABLE, 'storage unavailable: saving paused, your edits are kept; retrying');
      return;
    }
    const t1 = performance.now();
    metrics.storeAppend.observe((t1 - t0) / 1000);
    metrics.storeAppendBatch.observe(batch.length);
    for (const id of ids.keys()) this.storedIds.add(id);

    this.doc.transact(() => {
      for (const p of batch) Y.applyUpdate(this.doc, p.update);
    }, batch[0]!.origin);
    this.fullStateFrame = null;
    for (let i = 0; i < batch.length; i++) this.ahead.add(firstSeq + i);
    this.advanceWatermark();
    if (this.doc.store.pendingStructs || this.doc.store.pendingDs) {
      // Something referenced content we do not have (e.g. another client's items): ask the
      // senders for what we are missing; Yjs integrates the pending part when it arrives.
      const sv = encode.syncStep1(Y.encodeStateVector(this.doc));
      for (const p of batch) if (p.origin.kind === 'client') p.origin.conn.send(sv, 'sync-step1');
    }

    const t2 = performance.now();
    const traced = this.deps.tracer ? traceBatch(this.deps.tracer, this.id, batch, t0, t1, t2) : undefined;
    this.broadcastBatch(batch, traced?.frames, traced?.counts);
    const done = performance.now();
    if (traced) endTraces(batch, traced, done);
    // Durable and applied here: now the other instances. One message per writer in the batch.
    if (this.deps.publish) this.publishBatch(firstSeq, batch);
    this.deps.onStored?.(this, batch);
    let exemplar: Record<string, string> | undefined;
    for (const p of batch) {
      const seconds = (done - p.receivedAt) / 1000;
      // Sampled spans only: an exemplar must point at a trace the backend has.
      if (p.span && (p.span.spanContext().traceFlags & 1) === 1) {
        exemplar = { [EXEMPLAR_TRACE_ID]: p.span.spanContext().traceId };
        metrics.updateLatency.observe({ value: seconds, exemplarLabels: exemplar });
      } else metrics.updateLatency.observe(seconds);
    }
    if (exemplar) metrics.fanoutLatency.observe({ value: (done - t1) / 1000, exemplarLabels: exemplar });
    else metrics.fanoutLatency.observe((done - t1) / 1000);

    this.sinceCompact += batch.length;
    if (this.sinceCompact >= this.deps.compactAfterUpdates) await this.compact();
    else this.armIdleCompaction();
  }



  /** Publish a stored batch: consecutive updates of one writer travel as one message. */
  private publishBatch(firstSeq: number, batch: Pending[]): void {
    const userOf = (p: Pending) => (p.origin.kind === 'client' ? p.origin.conn.userId : '');
    let start = 0;
    for (let i = 1; i <= batch.length; i++) {
      if (i < batch.length && userOf(batch[i]!) === userOf(batch[start]!)) continue;
      const updates = batch.slice(start, i).map((p) => p.update);
      // Large: no bytes through Redis, only "read the log from firstSeq" (see BUS_INLINE_MAX_BYTES).
      const inline = updates.reduce((n, u) => n + u.byteLength, 0) <= BUS_INLINE_MAX_BYTES;
      this.deps.publish!(this.id, { kind: 'update', firstSeq: firstSeq + start, userId: userOf(batch[start]!), updates: inline ? updates : [] });
      start = i;
    }
  }

  // ---- other instances (scale-out) ----------------------------------------------------------

  /** Several instances may serve this document (PostgreSQL log shared, maybe Redis). */
  get clustered(): boolean {
    return this.deps.publish !== undefined;
  }

  /** The sequence number below which every log entry is applied here. */
  get watermark(): number {
    return this.appliedSeq;
  }

  /** Move the watermark over applied entries; a hole left above it is filled from the log. */
  private advanceWatermark(): void {
    while (this.ahead.delete(this.appliedSeq + 1)) this.appliedSeq++;
    if (this.ahead.size === 0) {
      if (this.gapTimer) clearTimeout(this.gapTimer);
      this.gapTimer = null;
    } else if (!this.gapTimer) {
      this.gapTimer = setTimeout(() => {
        this.gapTimer = null;
        if (this.ahead.size > 0) void this.catchUp('gap');
      }, GAP_GRACE_MS);
      this.gapTimer.unref();
    }
  }

  /** A message from another instance about this document. */
  receive(m: BusMessage): void {
    if (this.closing || this.deleted) return;
    if (m.kind === 'awareness') return this.receiveAwareness(m.userId, m.update);
    if (m.kind === 'awareness-query') {
      // A newcomer: our updates may have skipped Redis while we were alone; tell it our head.
      this.deps.publish?.(this.id, { kind: 'head', seq: Math.max(this.appliedSeq, ...this.ahead) });
      return this.republishAwareness();
    }
    if (m.kind === 'head') {
      if (m.seq > this.appliedSeq) void this.catchUp('gap');
      return;
    }
    // An update too large for Redis was stored: read it from the log.
    if (m.updates.length === 0) return void this.catchUp('large');
    const fresh: Uint8Array[] = [];
    m.updates.forEach((u, i) => {
      const seq = m.firstSeq + i;
      if (seq > this.appliedSeq && !this.ahead.has(seq)) {
        fresh.push(u);
        this.ahead.add(seq);
      }
    });
    if (fresh.length === 0) return;
    this.applyFromElsewhere(fresh, m.userId, { kind: 'remote', instance: m.from });
    this.advanceWatermark();
  }

  /**
   * Apply updates that are durable already (another instance's, or read back from the log): to
   * the Y.Doc in one transaction, then to every local socket. Never stored or published again.
   */
  private applyFromElsewhere(updates: Uint8Array[], userId: string, origin: UpdateOrigin): void {
    this.materialize();
    for (const u of updates) {
      const { to } = Y.parseUpdateMeta(u);
      for (const [client, clock] of to) if (clock > (this.known.get(client) ?? 0)) this.known.set(client, clock);
      this.noteRemoteOwner(userId, to.keys());
    }
    this.ydoc.transact(() => {
      for (const u of updates) Y.applyUpdate(this.ydoc, u);
    }, origin);
    this.fullStateFrame = null;
    this.sinceCompact += updates.length;
    for (const u of updates) this.sizeBytes += u.byteLength;
    this.armIdleCompaction();
    const frames = updates.map((u) => new Outgoing(encode.update(u), 'update'));
    for (const c of this.conns) {
      c.cork();
      for (const f of frames) f.sendTo(c);
      c.uncork();
    }
  }

  /** Another instance loaded this document: send it the presence of our own clients. */
  private republishAwareness(): void {
    for (const c of this.conns) {
      const ids = [...c.clientIds].filter((id) => this.owners.get(id) === c && this.awareness.states.has(id));
      if (ids.length) this.deps.publish?.(this.id, { kind: 'awareness', userId: c.userId, update: awarenessProtocol.encodeAwarenessUpdate(this.awareness, ids) });
    }
  }

  private receiveAwareness(userId: string, update: Uint8Array): void {
    // Whoever holds these ids on another instance holds them here too (squatting is refused).
    const dec = decoding.createDecoder(update);
    const ids: number[] = [];
    const n = decoding.readVarUint(dec);
    for (let i = 0; i < n; i++) {
      ids.push(decoding.readVarUint(dec));
      decoding.readVarUint(dec);
      decoding.readVarString(dec);
    }
    this.noteRemoteOwner(userId, ids, 'presence');
    awarenessProtocol.applyAwarenessUpdate(this.awareness, update, 'remote');
    this.broadcast(encode.awareness(update), 'awareness', null);
  }

  /**
   * Read what this instance lacks from the log and apply it (Redis lost a message, reconnected,
   * or went quiet). On the chain, so never beside this document's flush or compaction; the
   * clients get exactly what changed, as one update.
   */
  catchUp(reason: 'large' | 'gap' | 'recovered' | 'poll' | 'subscribed' | 'behind'): Promise<void> {
    return this.run(async () => {
      if (this.closing || this.deleted) return;
      const after = this.appliedSeq;
      const range: LogRange = await this.deps.store.readSince(this.id, after);
      const entries = range.updates.filter((u) => !this.ahead.has(u.seq));
      const updates = entries.map((e) => e.data);
      if (range.snapshot) updates.unshift(range.snapshot.data);
      this.deps.metrics.clusterCatchUps.inc({ reason });
      this.deps.metrics.clusterCatchUpUpdates.inc(entries.length);
      if (updates.length) {
        this.materialize();
        let delta = null as Uint8Array | null;
        const grab = (u: Uint8Array) => (delta = u);
        this.ydoc.once('update', grab);
        this.ydoc.transact(() => {
          for (const u of updates) Y.applyUpdate(this.ydoc, u);
        }, { kind: 'server', reason: 'catch-up' } satisfies UpdateOrigin);
        this.ydoc.off('update', grab);
        if (delta) {
          this.fullStateFrame = null;
          for (const [client, clock] of Y.decodeStateVector(Y.encodeStateVector(this.ydoc))) if (clock > (this.known.get(client) ?? 0)) this.known.set(client, clock);
          this.sizeBytes += (delta as Uint8Array).byteLength;
          this.broadcast(encode.update(delta), 'update', null);
        }
      }
      if (range.snapshot) this.appliedSeq = Math.max(this.appliedSeq, range.snapshot.uptoSeq);
      for (const e of range.updates) this.ahead.add(e.seq);
      for (const s of [...this.ahead]) if (s <= this.appliedSeq) this.ahead.delete(s);
      this.advanceWatermark();
      if (this.ahead.size > 0 && range.updates.length === 0 && !range.snapshot) {
        // Entries we applied above a hole the log does not have (yet): nothing more to read now.
        this.deps.log.debug({ doc: this.id, watermark: this.appliedSeq, ahead: this.ahead.size }, 'log has nothing past the watermark yet');
      }
    });
  }

  /** Each update's frame is encoded once; each socket gets all of its frames in one corked write. */
  private broadcastBatch(batch: Pending[], traceFrames?: (Uint8Array | undefined)[], counts?: number[]): void {
    const frames = batch.map((p) => new Outgoing(encode.update(p.update), 'update'));
    let recipients = 0;
    for (const c of this.conns) {
      c.cork();
      for (let i = 0; i < batch.length; i++) {
        const o = batch[i]!.origin;
        if (o.kind === 'client' && o.conn === c) continue;
        if (counts) {
          counts[i]!++;
          const tf = traceFrames![i];
          if (tf && c.traceExt) c.send(tf, 'trace-context');
        }
        frames[i]!.sendTo(c);
        recipients++;
      }
      c.uncork();
    }
    this.deps.metrics.fanoutRecipients.observe(recipients);
  }

  /**
   * Sync step 2 answering a client's state vector. Clients that have nothing (a fresh page, a
   * benchmark's 200 readers) all get the same memoized full-state frame — and so does a client
   * that lacks more than 1/STEP2_FULL_STATE_RATIO of the document: sending it everything costs a
   * little bandwidth, encoding a fresh near-full diff per socket costs a document's size of memory
   * per socket (issue 11 #2: 30 sockets with crafted state vectors took 450 MB). Yjs ignores
   * what a client already has.
   */
  syncStep2(stateVector: Uint8Array): Uint8Array {
    if (stateVector.length === 1 && stateVector[0] === 0) return this.fullState();
    const theirs = Y.decodeStateVector(stateVector);
    let total = 0;
    let covered = 0;
    for (const [client, clock] of Y.decodeStateVector(Y.encodeStateVector(this.doc))) {
      total += clock;
      covered += Math.min(clock, theirs.get(client) ?? 0);
    }
    if ((total - covered) * STEP2_FULL_STATE_RATIO > total) return this.fullState();
    return encode.syncStep2(Y.encodeStateAsUpdate(this.doc, stateVector));
  }

  private fullState(): Uint8Array {
    return (this.fullStateFrame ??= encode.syncStep2(Y.encodeStateAsUpdate(this.doc)));
  }

  /** Reply to a client's sync step 1; our own deferred step 1 follows once the reply is written. */
  answerStep1(conn: Connection, stateVector: Uint8Array): void {
    const frame = this.syncStep2(stateVector);
    // The memoized full state is one buffer (and one set of chunk frames) however many sockets hold it (see Connection.send).
    let out: Outgoing;
    if (frame !== this.fullStateFrame) out = new Outgoing(frame, 'sync-step2', false);
    else if (this.fullStateOut?.frame === frame) out = this.fullStateOut;
    else out = this.fullStateOut = new Outgoing(frame, 'sync-step2');
    if (this.deferredStep1.has(conn)) out.sendTo(conn, () => setImmediate(() => this.sendDeferredStep1(conn)));
    else out.sendTo(conn);
  }

  private sendDeferredStep1(conn: Connection): void {
    if (this.deferredStep1.delete(conn) && this.conns.has(conn)) conn.send(encode.syncStep1(Y.encodeStateVector(this.doc)), 'sync-step1');
  }

  /** A connection's (filtered) presence: to the other local sockets and the other instances. */
  shareAwareness(conn: Connection, update: Uint8Array): void {
    this.broadcast(encode.awareness(update), 'awareness', conn);
    this.deps.publish?.(this.id, { kind: 'awareness', userId: conn.userId, update });
  }

  /** Send one frame to every connection except `except`. */
  broadcast(frame: Uint8Array, kind: string, except: Connection | null): void {
    const out = new Outgoing(frame, kind);
    for (const c of this.conns) if (c !== except) out.sendTo(c);
  }

  /** Recompute the admitted state vector from the document plus what is still queued. */
  private resetKnown(): void {
    this.known.clear();
    for (const [client, clock] of Y.decodeStateVector(Y.encodeStateVector(this.doc))) this.known.set(client, clock);
    for (const p of this.pending) {
      for (const [client, to] of Y.parseUpdateMeta(p.update).to) {
        if (to > (this.known.get(client) ?? 0)) this.known.set(client, to);
      }
    }
  }

  // ---- compaction and unload ----------------------------------------------------------------

  private armIdleCompaction(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      this.idleTimer = null;
      void this.run(() => this.compact());
    }, this.deps.compactIdleMs);
    this.idleTimer.unref();
  }

  /** Fold the log into one snapshot. Runs on the chain, so never beside a flush of this doc. */
  private async compact(): Promise<void> {
    if (this.sinceCompact === 0 || this.deleted) return;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    const t0 = performance.now();
    const span = this.deps.tracer?.startSpan(SpanName.DOC_COMPACT, { attributes: { [Attr.DOC_ID]: this.id, [Attr.UPDATES]: this.sinceCompact } }, ROOT_CONTEXT);
    // The doc holds every update stored up to the watermark (and maybe some past it, which the
    // snapshot then also holds: harmless, Yjs updates are idempotent). Nothing unstored is in it.
    const snapshot = Y.encodeStateAsUpdate(this.doc);
    this.sizeBytes = snapshot.byteLength + this.pending.reduce((n, p) => n + p.update.byteLength, 0);
    const upto = this.appliedSeq;
    try {
      // false: another instance holds this document's compaction lease; it folds the same log.
      await this.deps.store.compact(this.id, snapshot, upto, docSearchText(this.doc));
      this.sinceCompact = 0;
      this.deps.metrics.compaction.observe((performance.now() - t0) / 1000);
      span?.setAttribute(Attr.SNAPSHOT_BYTES, snapshot.byteLength);
      span?.end();
    } catch (err) {
      span?.recordException(err as Error);
      span?.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
      span?.end();
      // The log still holds every update; compaction is only an optimisation. Retry later.
      this.deps.metrics.errors.inc({ where: 'compaction' });
      this.deps.log.error({ err, doc: this.id }, 'compaction failed');
      this.armIdleCompaction();
    }
  }

  /** Wait for queued work, store a final snapshot, and free the document. */
  async close(): Promise<void> {
    this.closing = true;
    if (this.pending.length) await this.run(() => this.flush());
    await this.run(() => (this.deleted ? this.deps.store.delete(this.id) : this.compact()));
    if (this.idleTimer) clearTimeout(this.idleTimer);
    if (this.gapTimer) clearTimeout(this.gapTimer);
    this.awareness.destroy();
    this.ydoc.destroy();
  }

  /**
   * Write an update as the server itself (a REST restore): admitted like a client's (the gap check
   * learns its clocks, or clients' later deletes of its content would look like gaps), then the
   * normal path: stored, applied, broadcast, published. True once applied; false if the store
   * refused it.
   */
  async writeAsServer(update: Uint8Array, reason: string): Promise<boolean> {
    this.materialize();
    const { to } = Y.parseUpdateMeta(update);
    for (const [client, clock] of to) if (clock > (this.known.get(client) ?? 0)) this.known.set(client, clock);
    this.enqueue(update, { kind: 'server', reason });
    await this.drain();
    const sv = Y.decodeStateVector(Y.encodeStateVector(this.doc));
    return [...to].every(([client, clock]) => (sv.get(client) ?? 0) >= clock);
  }

  /** Flush what is queued without unloading (graceful shutdown drains through this). */
  async drain(): Promise<void> {
    await this.run(() => this.flush());
  }

  /** Keepalive for the y-websocket client, which drops a socket silent for 30 s. */
  static heartbeat(conn: Connection): void {
    conn.send(EMPTY_AWARENESS_FRAME, 'heartbeat');
  }
}

/**
 * Search covers this many characters of a document's text: enough for any written document, while
 * a pasted multi-megabyte dump does not make every list search scan megabytes of it.
 */
export const SEARCH_TEXT_MAX_CHARS = 200_000;

/** The plain text the app's list searches (doc_text), one line per block, capped. */
export function docSearchText(doc: Y.Doc): string {
  return fragmentText(doc.getXmlFragment(CONTENT_FIELD)).slice(0, SEARCH_TEXT_MAX_CHARS);
}
