'use client';
/**
 * The one place a document's collaboration session is created: the Y.Doc, its IndexedDB copy
 * (offline edits survive a reload) and the CollabClient (tokens, live role, status, permanent
 * closes). Everything the editor shows about the connection comes out of this hook.
 *
 * Browser tracing hooks in here too: pass `onSocket` to CollabClient.connect below.
 */
import { useEffect, useRef, useState } from 'react';
import * as Y from 'yjs';
import { IndexeddbPersistence } from 'y-indexeddb';
import type { Role } from '@/lib/acl';
import { CloseCode } from '@/lib/close-codes';
import { CollabClient, type ClosedInfo, type CollabStatus, type CollabToken } from '@/lib/collab-client';
import type { TransferProgress } from '@/lib/chunk-transport';
import type { TokenResponse } from '@/lib/api-schemas';
import { api, ApiError } from '../api';
import { purgeDocLocal } from '../local-data';
import { onSignOut, SIGNED_OUT_REASON } from '../session-channel';
import { traceProviderIfConfigured } from '@/observability/browser';
import { pageReporter } from '@/observability/client-reports';

export interface CollabView {
  ydoc: Y.Doc | null;
  client: CollabClient | null;
  /** The live role: from the token response first, then from the server as it changes. */
  role: Role | null;
  status: CollabStatus;
  /** Set when the session ended for good (4401/4403, or the API refused a token). */
  closed: ClosedInfo | null;
  /** The IndexedDB copy has been loaded into the Y.Doc. */
  localLoaded: boolean;
  /** When reconnecting: the time of the next attempt (ms since epoch). */
  retryAt: number | null;
  /** A large message on its way (a paste being saved, a big edit arriving); kept briefly once done. */
  transfer: TransferProgress | null;
  /** The last write the server refused, with its reason (permission-denied). */
  denied: string | null;
  /**
   * This device holds the server's copy (synced now or at some earlier visit, kept in IndexedDB).
   * Until then the document is read-only: edits typed into an empty never-synced copy would be
   * merged above the real content later.
   */
  hasServerCopy: boolean;
}

/** Key in the document's own y-indexeddb meta store: it goes when its offline copy is purged. */
const SYNCED_ONCE = 'synced-once';

const unsyncedKey = (docId: string) => `tandem:unsynced:${docId}`;

/** Whether this device holds edits the server has not confirmed (survives reloads). */
function readUnsynced(docId: string): boolean {
  try {
    return localStorage.getItem(unsyncedKey(docId)) === '1';
  } catch {
    return false;
  }
}
function writeUnsynced(docId: string, v: boolean): void {
  try {
    if (v) localStorage.setItem(unsyncedKey(docId), '1');
    else localStorage.removeItem(unsyncedKey(docId));
  } catch (err) {
    console.warn('could not record unsynced state', err);
  }
}

const initialStatus: CollabStatus = { state: 'connecting', unsynced: false, online: true };

export function useCollab(docId: string, userId: string | null): CollabView {
  const [ydoc, setYdoc] = useState<Y.Doc | null>(null);
  const [client, setClient] = useState<CollabClient | null>(null);
  const [role, setRole] = useState<Role | null>(null);
  const [status, setStatus] = useState<CollabStatus>(initialStatus);
  const [closed, setClosed] = useState<ClosedInfo | null>(null);
  const [localLoaded, setLocalLoaded] = useState(false);
  const [retryAt, setRetryAt] = useState<number | null>(null);
  const [transfer, setTransfer] = useState<TransferProgress | null>(null);
  const [denied, setDenied] = useState<string | null>(null);
  const [hasServerCopy, setHasServerCopy] = useState(false);
  const clientRef = useRef<CollabClient | null>(null);

  useEffect(() => {
    if (!userId) return;
    let cancelled = false;
    let attempt = 0;
    let timer: ReturnType<typeof setTimeout> | null = null;
    const doc = new Y.Doc();
    // One IndexedDB database per (user, document): another account on this browser never sees it.
    const idb = new IndexeddbPersistence(`tandem:${userId}:${docId}`, doc);
    void idb.whenSynced.then(async () => {
      if (cancelled) return;
      setLocalLoaded(true);
      // A local copy from before this flag existed has content: it came from the server.
      const flagged = await idb.get(SYNCED_ONCE).catch(() => undefined);
      if (!cancelled && (flagged || doc.store.clients.size > 0)) setHasServerCopy(true);
    });
    setYdoc(doc);
    setClosed(null);
    setRole(null);
    setDenied(null);
    setTransfer(null);
    setLocalLoaded(false);
    setHasServerCopy(false);
    const hadUnsynced = readUnsynced(docId);
    setStatus({ ...initialStatus, unsynced: hadUnsynced, online: navigator.onLine });

    // Edits made before any connection exists (an offline start) are unsynced too.
    const onEarlyUpdate = (_u: Uint8Array, origin: unknown) => {
      const provider = clientRef.current?.provider;
      if (origin === idb || (provider && (origin === provider || provider.synced))) return;
      writeUnsynced(docId, true);
      setStatus((s) => ({ ...s, unsynced: true }));
    };
    doc.on('update', onEarlyUpdate);

    const getToken = async (): Promise<CollabToken> => {
      // Unmounted while waiting (React dev double-mount, fast navigation): do not open a socket.
      if (cancelled) throw new ApiError(0, 'cancelled', 'editor closed');
      const t = await api<TokenResponse>(`/api/docs/${encodeURIComponent(docId)}/token`, { method: 'POST' });
      if (cancelled) throw new ApiError(0, 'cancelled', 'editor closed');
      if (t.role) setRole(t.role);
      return { token: t.token, url: t.url, expiresAt: t.expiresAt };
    };

    const fail = (info: ClosedInfo) => {
      if (cancelled) return;
      // Access revoked or the document deleted: its content must not stay on this device.
      if (info.code === CloseCode.FORBIDDEN) void idb.clearData().then(() => purgeDocLocal(userId, docId));
      setClosed(info);
      setStatus((s) => ({ ...s, state: 'closed' }));
      setRetryAt(null);
    };

    const start = async () => {
      timer = null;
      if (cancelled) return;
      if (!navigator.onLine) {
        setStatus((s) => ({ ...s, state: 'reconnecting', online: false }));
        return; // the 'online' listener starts us again
      }
      let c: CollabClient;
      try {
        // Each socket tagged with a cid and its closes/reconnects reported to the app's logs (observability/client-reports.ts).
        // transport 'auto': WebSocket, or SSE + POST where WebSockets are blocked (issue 15; lib/sse-client.ts).
        c = await CollabClient.connect({ docId, doc, getToken, disableBc: false, WebSocketPolyfill: pageReporter()?.WebSocket, transport: 'auto' });
      } catch (err) {
        if (cancelled) return;
        if (err instanceof ApiError && err.status === 401) return fail({ code: CloseCode.UNAUTHORIZED, reason: 'your session has expired', permanent: true });
        if (err instanceof ApiError && (err.status === 403 || err.status === 404)) return fail({ code: CloseCode.FORBIDDEN, reason: err.message, permanent: true });
        // Network or server trouble: try again with the same back-off the provider uses.
        const delay = Math.min(2 ** attempt++ * 250, 5000);
        setRetryAt(Date.now() + delay);
        setStatus((s) => ({ ...s, state: 'reconnecting', retryInMs: delay, online: navigator.onLine }));
        timer = setTimeout(() => void start(), delay);
        return;
      }
      if (cancelled) {
        c.destroy();
        return;
      }
      attempt = 0;
      clientRef.current = c;
      // Edit → server → other browser traces; a no-op unless NEXT_PUBLIC_OTEL_EXPORTER_OTLP_ENDPOINT is set.
      traceProviderIfConfigured(c.provider);
      c.on('status', (s) => {
        if (cancelled) return;
        setStatus({ ...s, unsynced: s.unsynced || readUnsynced(docId) });
        setRetryAt(s.state === 'reconnecting' && s.retryInMs !== undefined ? Date.now() + s.retryInMs : null);
        if (s.unsynced) writeUnsynced(docId, true);
      });
      c.on('synced', (s) => {
        if (s && !cancelled) {
          setHasServerCopy(true);
          void idb.set(SYNCED_ONCE, 1).catch((err: unknown) => console.warn('could not record the first sync', err));
          writeUnsynced(docId, false);
          setStatus((st) => ({ ...st, unsynced: false }));
        }
      });
      c.on('role', (r) => !cancelled && setRole(r));
      c.on('permission-denied', (reason) => {
        pageReporter()?.report({ kind: 'sync-failure', doc: docId, cid: pageReporter()?.cidOf(docId), reason });
        if (!cancelled) setDenied(reason);
      });
      // Progress arrives per chunk and per frame the browser drains: render at most one per frame.
      let latest: TransferProgress | null = null;
      let frame = 0;
      let clearTimer: ReturnType<typeof setTimeout> | null = null;
      c.on('transfer', (p) => {
        if (cancelled) return;
        latest = p;
        if (clearTimer) clearTimeout(clearTimer);
        clearTimer = null;
        if (p.done) {
          setTransfer(p.aborted ? null : p);
          // "Saved" stays a moment, then the usual status returns.
          if (!p.aborted) clearTimer = setTimeout(() => !cancelled && setTransfer(null), 2000);
          return;
        }
        frame ||= requestAnimationFrame(() => {
          frame = 0;
          if (!cancelled && latest && !latest.done) setTransfer(latest);
        });
      });
      c.on('closed', (info) => fail(info));
      setClient(c);
    };

    // Browsers keep an open WebSocket through a network loss for a while; drop it at once so
    // the status is honest and local edits are marked unsynced, and resume when we are back.
    const onOffline = () => {
      const c = clientRef.current;
      if (c && !c.closedInfo) c.provider.disconnect();
      setStatus((s) => ({ ...s, state: 'reconnecting', online: false, retryInMs: undefined }));
      setRetryAt(null);
    };
    const onOnline = () => {
      const c = clientRef.current;
      setStatus((s) => ({ ...s, online: true }));
      if (c) {
        if (!c.closedInfo) c.provider.connect();
      } else if (!timer) {
        attempt = 0;
        void start();
      } else {
        clearTimeout(timer);
        attempt = 0;
        void start();
      }
    };
    window.addEventListener('offline', onOffline);
    window.addEventListener('online', onOnline);
    // Signed out in another tab: stop at once, and let go of the offline copy it is deleting.
    const stopOnSignOut = onSignOut(userId, () => {
      if (timer) clearTimeout(timer);
      timer = null;
      fail({ code: CloseCode.UNAUTHORIZED, reason: SIGNED_OUT_REASON, permanent: true });
      cancelled = true;
      clientRef.current?.destroy();
      void idb.destroy();
    });
    void start();

    return () => {
      cancelled = true;
      stopOnSignOut();
      if (timer) clearTimeout(timer);
      window.removeEventListener('offline', onOffline);
      window.removeEventListener('online', onOnline);
      doc.off('update', onEarlyUpdate);
      clientRef.current?.destroy();
      clientRef.current = null;
      setClient(null);
      void idb.destroy();
      doc.destroy();
    };
  }, [docId, userId]);

  return { ydoc, client, role, status, closed, localLoaded, retryAt, transfer, denied, hasServerCopy };
}
