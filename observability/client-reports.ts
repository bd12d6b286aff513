/**
 * Browser signals for the server's logs: every collab socket's close (code, reason, how long it
 * lived), every reconnect (which close it recovers from, how long the editor was offline), sync
 * failures the editor reports, and uncaught client errors. Batched (one POST per few seconds),
 * rate-limited here and again by the app, sent with the session cookie to POST /api/client-logs,
 * which logs them (with the signed-in user) through the app's logger to stdout and Loki.
 *
 * Correlation: each socket this module opens carries a fresh `cid` in its URL (collab-server logs it
 * on "connection opened/refused/closed"), and every report names the cid, so one Loki query
 * `{service=~"app|collab-server"} | json | cid = "<cid>"` shows the browser's and the server's
 * lines for the same connection.
 */

export type ClientReport =
  | { kind: 'close'; doc: string; cid: string; code: number; reason: string; wasOpen: boolean; openMs: number }
  | { kind: 'reconnect'; doc: string; cid: string; previousCid: string; previousCode: number; offlineMs: number }
  | { kind: 'sync-failure'; doc: string; cid?: string; reason: string }
  | { kind: 'error'; message: string; where?: string; doc?: string };

export interface ClientReporterOptions {
  /** Where batches go (default /api/client-logs, same origin: the session cookie authenticates). */
  endpoint?: string;
  /** Reports sent per minute at most; more are counted and the count sent with the next batch. */
  perMinute?: number;
  flushMs?: number;
  /** Replace fetch (tests). */
  send?: (body: string) => Promise<unknown>;
}

const newCid = () => {
  const b = new Uint8Array(12);
  crypto.getRandomValues(b);
  return btoa(String.fromCharCode(...b)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
};

/** The last path segment of a collab URL is the document id. */
const docOf = (url: string) => decodeURIComponent(new URL(url).pathname.split('/').pop() ?? '');

export interface ClientReporter {
  /** A WebSocket class for CollabClient's `WebSocketPolyfill`: tags each socket with a cid and reports its fate. */
  readonly WebSocket: typeof WebSocket;
  report(r: ClientReport): void;
  /** The cid of the document's current socket. */
  cidOf(doc: string): string | undefined;
  flush(): Promise<void>;
  stop(): void;
}

/** One reporter per page. */
export function createClientReporter(o: ClientReporterOptions = {}): ClientReporter {
  const endpoint = o.endpoint ?? '/api/client-logs';
  const perMinute = o.perMinute ?? 30;
  // A beacon: fire-and-forget, survives the page closing, and a refusal (signed out: 401) is not a console error.
  const send =
    o.send ??
    (async (body: string) => {
      if (!navigator.sendBeacon?.(endpoint, new Blob([body], { type: 'application/json' }))) {
        await fetch(endpoint, { method: 'POST', headers: { 'content-type': 'application/json' }, body, keepalive: true, credentials: 'same-origin' });
      }
    });
  let queue: ClientReport[] = [];
  let dropped = 0;
  let windowStart = Date.now();
  let inWindow = 0;
  const docs = new Map<string, { cid: string; outage: { cid: string; closedAt: number; code: number } | null }>();

  const report = (r: ClientReport) => {
    const now = Date.now();
    if (now - windowStart > 60_000) {
      windowStart = now;
      inWindow = 0;
    }
    // A reconnect loop must not become a request loop: count what is over the budget, send the count.
    if (inWindow >= perMinute || queue.length >= 100) {
      dropped++;
      return;
    }
    inWindow++;
    queue.push(r);
  };
  const flush = async () => {
    if (!queue.length && !dropped) return;
    const body = JSON.stringify({ reports: queue, dropped });
    queue = [];
    dropped = 0;
    try {
      await send(body);
    } catch {
      // Offline or the app is down: these reports are lost (the server saw its side anyway).
    }
  };
  const timer = setInterval(() => void flush(), o.flushMs ?? 3000);
  const onPageHide = () => {
    if (!queue.length && !dropped) return;
    const body = JSON.stringify({ reports: queue, dropped });
    queue = [];
    dropped = 0;
    void send(body).catch(() => undefined);
  };
  const onError = (e: ErrorEvent) => report({ kind: 'error', message: String(e.message).slice(0, 500), where: `${e.filename}:${e.lineno}` });
  const onRejection = (e: PromiseRejectionEvent) => report({ kind: 'error', message: String((e.reason as Error)?.message ?? e.reason).slice(0, 500), where: 'unhandledrejection' });
  if (typeof window !== 'undefined') {
    window.addEventListener('pagehide', onPageHide);
    window.addEventListener('error', onError);
    window.addEventListener('unhandledrejection', onRejection);
  }

  const Base = globalThis.WebSocket;
  class ReportingWebSocket extends Base {
    constructor(url: string | URL, protocols?: string | string[]) {
      const cid = newCid();
      const u = new URL(String(url));
      u.searchParams.set('cid', cid);
      super(u.toString(), protocols);
      const doc = docOf(u.toString());
      const state = docs.get(doc) ?? { cid, outage: null };
      state.cid = cid;
      docs.set(doc, state);
      let openedAt = 0;
      this.addEventListener('open', () => {
        openedAt = Date.now();
        const o = state.outage;
        state.outage = null;
        if (o) report({ kind: 'reconnect', doc, cid, previousCid: o.cid, previousCode: o.code, offlineMs: openedAt - o.closedAt });
      });
      this.addEventListener('close', (e: CloseEvent) => {
        const now = Date.now();
        // An outage starts with the close of a socket that was open; failed retries do not restart it.
        if (openedAt || !state.outage) state.outage = { cid, closedAt: now, code: e.code };
        report({ kind: 'close', doc, cid, code: e.code, reason: e.reason.slice(0, 200), wasOpen: openedAt > 0, openMs: openedAt ? now - openedAt : 0 });
      });
    }
  }

  return {
    WebSocket: ReportingWebSocket,
    report,
    cidOf: (doc) => docs.get(doc)?.cid,
    flush,
    stop() {
      clearInterval(timer);
      if (typeof window !== 'undefined') {
        window.removeEventListener('pagehide', onPageHide);
        window.removeEventListener('error', onError);
        window.removeEventListener('unhandledrejection', onRejection);
      }
    },
  };
}

let shared: ClientReporter | null = null;

/** The page's reporter (created on first use, in the browser only). */
export function pageReporter(): ClientReporter | null {
  if (typeof window === 'undefined' || typeof globalThis.WebSocket !== 'function') return null;
  return (shared ??= createClientReporter());
}
