/**
 * The client side of the SSE + POST transport (issue 15), as a WebSocket look-alike: the stock
 * y-websocket provider takes it as its `WebSocketPolyfill`, so status, sync events, awareness,
 * token renewal and chunking (CollabClient) work over it unchanged.
 *
 * `SseWebSocket(url)` maps `ws(s)://host/<prefix>/<docId>?…` to `http(s)://host/<prefix>/sse/<docId>?…`:
 * GET streams the server's frames (base64 events with ids; a dropped stream is resumed with
 * Last-Event-ID), POSTs carry ours in batches with consecutive message ids, one POST in flight and
 * retried until answered, so the server applies each message once.
 *
 * `createAutoWebSocket(opts)` picks a transport per connection attempt: WebSocket first; after
 * sockets that cannot open, or keep dying within seconds, SSE; and while on SSE it probes a
 * WebSocket every `retryWebSocketMs` and, when one opens and hears from the server, closes the
 * SSE connection so the provider reconnects over WebSocket (the sync handshake carries any edits).
 */
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import { CloseCode } from './close-codes';

export type TransportKind = 'websocket' | 'sse';

type Listener = (ev: any) => void; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The SSE URL for a WebSocket URL: same host, scheme http(s), `sse/` before the document id. */
export function sseUrlFor(wsUrl: string): URL {
  const u = new URL(wsUrl);
  u.protocol = u.protocol === 'wss:' ? 'https:' : 'http:';
  const parts = u.pathname.split('/');
  parts.splice(parts.length - 1, 0, 'sse');
  u.pathname = parts.join('/');
  return u;
}

/** Most bytes one POST carries (a single larger message goes alone; the server bounds it). */
const POST_BATCH_BYTES = 256 * 1024;
/** Resume attempts of a dropped stream before the connection counts as closed (1006). */
const RESUME_ATTEMPTS = 4;

export class SseWebSocket {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSING = 2;
  static readonly CLOSED = 3;
  readonly CONNECTING = 0;
  readonly OPEN = 1;
  readonly CLOSING = 2;
  readonly CLOSED = 3;
  readonly transport: TransportKind = 'sse';
  readyState = 0;
  binaryType = 'arraybuffer';
  /** Bytes handed to send() that the server has not acknowledged (back-pressure, as on a socket). */
  bufferedAmount = 0;
  protocol = '';
  onopen: Listener | null = null;
  onmessage: Listener | null = null;
  onclose: Listener | null = null;
  onerror: Listener | null = null;
  /** Called after the close event, whatever its cause (createAutoWebSocket's bookkeeping). */
  onTerminated: (() => void) | null = null;
  readonly url: string;
  private readonly base: URL;
  private readonly token: string | null;
  private sid: string | null = null;
  private lastEventId = 0;
  private stream: AbortController | null = null;
  private outbox: { id: number; bytes: Uint8Array }[] = [];
  private nextOutId = 0;
  private posting = false;
  private closedFired = false;

  constructor(url: string, _protocols?: string | string[]) {
    this.url = url;
    this.base = sseUrlFor(url);
    this.token = this.base.searchParams.get('token');
    this.base.searchParams.delete('token');
    void this.connectStream(0);
  }

  private streamUrl(): string {
    const u = new URL(this.base);
    if (this.sid) u.searchParams.set('sid', this.sid);
    return u.toString();
  }

  private headers(): Record<string, string> {
    return this.token ? { authorization: `Bearer ${this.token}` } : {};
  }

  /** Open (attempt 0) or resume the event stream; resolves when it ends. */
  private async connectStream(attempt: number): Promise<void> {
    if (this.readyState >= 2) return;
    const ctl = new AbortController();
    this.stream = ctl;
    let endedCleanly = false;
    try {
      const res = await fetch(this.streamUrl(), {
        headers: { ...this.headers(), accept: 'text/event-stream', ...(this.sid ? { 'last-event-id': String(this.lastEventId) } : {}) },
        signal: ctl.signal,
        cache: 'no-store',
      });
      if (!res.ok || !res.body) {
        // A refused stream (503 while the server stops, 403 origin, 400): as a refused upgrade.
        this.fireError();
        return this.fireClose(res.status === 403 ? CloseCode.POLICY_VIOLATION : 1006, `stream refused: HTTP ${res.status}`);
      }
      attempt = 0;
      endedCleanly = await this.read(res.body);
    } catch {
      if (ctl.signal.aborted) return;
    }
    if (this.readyState >= 2 || endedCleanly) return;
    // The stream dropped (proxy timeout, network blip): resume the session where it left off.
    if (this.sid && attempt < RESUME_ATTEMPTS) {
      await new Promise((r) => setTimeout(r, 250 * 2 ** attempt));
      return this.connectStream(attempt + 1);
    }
    if (this.readyState === 0) this.fireError();
    this.fireClose(1006, 'stream lost');
  }

  /** Parse the event stream (text/event-stream framing); true when the server closed it with a close event. */
  private async read(body: ReadableStream<Uint8Array>): Promise<boolean> {
    const reader = body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    let event = '';
    let data = '';
    let id: string | null = null;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return false;
      buf += dec.decode(value, { stream: true });
      let nl: number;
      while ((nl = buf.search(/\r\n|\n|\r/)) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + (buf[nl] === '\r' && buf[nl + 1] === '\n' ? 2 : 1));
        if (line === '') {
          if (data || event) {
            if (this.dispatch(event || 'message', data.endsWith('\n') ? data.slice(0, -1) : data, id)) {
              void reader.cancel().catch(() => {});
              return true;
            }
          }
          event = data = '';
          id = null;
          continue;
        }
        if (line.startsWith(':')) continue; // heartbeat comment
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const v = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'data') data += `${v}\n`;
        else if (field === 'event') event = v;
        else if (field === 'id') id = v;
      }
    }
  }

  /** One event; true when it ends the connection. */
  private dispatch(event: string, data: string, id: string | null): boolean {
    if (event === 'session') {
      const s = JSON.parse(data) as { sid: string; resumed: boolean };
      this.sid = s.sid;
      if (!s.resumed && this.readyState === 0) {
        this.readyState = 1;
        this.onopen?.({ type: 'open' });
      }
      return false;
    }
    if (event === 'close') {
      const c = JSON.parse(data) as { code: number; reason: string };
      this.fireClose(c.code, c.reason);
      return true;
    }
    if (id !== null) this.lastEventId = Number(id);
    if (this.readyState !== 1) return false;
    const bytes = Uint8Array.from(atob(data), (ch) => ch.charCodeAt(0));
    this.onmessage?.({ type: 'message', data: bytes.buffer });
    return false;
  }

  send(data: Uint8Array | ArrayBuffer): void {
    if (this.readyState !== 1) return;
    const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
    this.outbox.push({ id: this.nextOutId++, bytes });
    this.bufferedAmount += bytes.byteLength;
    if (!this.posting) queueMicrotask(() => void this.flush());
  }

  /** POST what is queued, one batch at a time; a failed POST is retried as is (ids make it idempotent). */
  private async flush(): Promise<void> {
    if (this.posting) return;
    this.posting = true;
    let delay = 100;
    try {
      while (this.outbox.length && this.readyState === 1) {
        const batch: Uint8Array[] = [];
        let bytes = 0;
        for (const m of this.outbox) {
          if (batch.length && bytes + m.bytes.byteLength > POST_BATCH_BYTES) break;
          batch.push(m.bytes);
          bytes += m.bytes.byteLength;
        }
        const next = await this.post(encodeBatch(this.outbox[0]!.id, batch));
        if (next === null) {
          // Lost (network, 5xx): send the same batch again, backing off.
          await new Promise((r) => setTimeout(r, delay));
          delay = Math.min(delay * 2, 3000);
          continue;
        }
        delay = 100;
        while (this.outbox.length && this.outbox[0]!.id < next) this.bufferedAmount -= this.outbox.shift()!.bytes.byteLength;
      }
    } finally {
      this.posting = false;
    }
  }

  /** One POST; the server's next expected id, or null to retry. Session errors close the connection. */
  private async post(body: Uint8Array, close = false): Promise<number | null> {
    const u = new URL(this.base);
    u.searchParams.set('sid', this.sid ?? '');
    if (close) u.searchParams.set('close', '1');
    let res: Response;
    try {
      res = await fetch(u, { method: 'POST', headers: { ...this.headers(), 'content-type': 'application/octet-stream' }, body: body as BodyInit, keepalive: close && body.byteLength < 60_000 });
    } catch {
      return null;
    }
    if (res.status === 200 || res.status === 409) {
      const j = (await res.json().catch(() => ({}))) as { next?: number };
      return typeof j.next === 'number' ? j.next : null;
    }
    if (res.status >= 500 || res.status === 429) return null;
    // 404 session gone (another instance, expired), 401 token, 410 closed, 413: the stream carries or lacks the why.
    if (!close) this.fireClose(res.status === 401 ? CloseCode.UNAUTHORIZED : 1006, `post refused: HTTP ${res.status}`);
    return null;
  }

  /** Close from our side: tell the server (so our presence leaves now), stop the stream. */
  close(code = 1000, reason = ''): void {
    if (this.readyState >= 2) return;
    this.readyState = 2;
    // Messages not yet acknowledged go with it (a retry of them is skipped by id).
    if (this.sid) void this.post(encodeBatch(this.outbox[0]?.id ?? this.nextOutId, this.outbox.map((m) => m.bytes)), true);
    // Asynchronously, as a browser's WebSocket fires close after close().
    setTimeout(() => this.fireClose(code, reason), 0);
  }

  private fireError(): void {
    this.onerror?.({ type: 'error' });
  }

  /** The stream opened (a session event arrived) at some point. */
  get opened(): boolean {
    return this.sid !== null;
  }

  private fireClose(code: number, reason: string): void {
    if (this.closedFired) return;
    this.closedFired = true;
    this.readyState = 3;
    this.stream?.abort();
    this.onclose?.({ type: 'close', code, reason, wasClean: code !== 1006 });
    this.onTerminated?.();
  }
}

export interface AutoWebSocketOptions {
  /** The real WebSocket class (Node: `ws`); default globalThis.WebSocket. */
  WebSocket?: unknown;
  /** A socket that closes (or fails to open) within this long of opening counts as dying (default 5 s). */
  shortLivedMs?: number;
  /** Consecutive dying sockets before the next attempt uses SSE (default 2). */
  failuresBeforeSse?: number;
  /** While on SSE, probe a WebSocket after this long (default 10 s), doubling after each failed probe... */
  retryWebSocketMs?: number;
  /** ...up to this (default 5 min): a network that blocks WebSockets costs one refused probe per 5 min. */
  maxRetryWebSocketMs?: number;
  /** The provider's current URL (fresh token) for probes. */
  currentUrl?: () => string;
  /** 'sse' = never try WebSockets (tests, or a network known to break them). */
  force?: TransportKind;
  onTransport?: (t: TransportKind) => void;
}

/** Close codes the server chose: the socket worked, so they do not count against WebSocket. */
const serverChosen = (code: number) => code >= 4000 || code === 1012 || code === 1013 || code === 1008 || code === 1009;

/**
 * A WebSocket class for y-websocket's `WebSocketPolyfill` that picks WebSocket or SSE per attempt.
 * `selector.transport` is what the current (or last) connection uses.
 */
export function createAutoWebSocket(opts: AutoWebSocketOptions = {}) {
  const WS = (opts.WebSocket ?? (globalThis as { WebSocket?: unknown }).WebSocket) as (new (url: string, protocols?: string | string[]) => WebSocket) | undefined;
  const shortLivedMs = opts.shortLivedMs ?? 5000;
  const failuresBeforeSse = opts.failuresBeforeSse ?? 2;
  const firstRetryMs = opts.retryWebSocketMs ?? 10_000;
  const maxRetryMs = Math.max(firstRetryMs, opts.maxRetryWebSocketMs ?? 300_000);
  let retryMs = firstRetryMs;
  const state = { transport: (opts.force ?? (WS ? 'websocket' : 'sse')) as TransportKind, failures: 0 };
  let current: { close(code?: number, reason?: string): void; onclose: Listener | null; readyState: number } | null = null;
  let probeTimer: ReturnType<typeof setTimeout> | null = null;

  const use = (t: TransportKind) => {
    if (state.transport !== t) opts.onTransport?.(t);
    state.transport = t;
  };

  function scheduleProbe(url: string): void {
    if (probeTimer || !WS || opts.force) return;
    probeTimer = setTimeout(() => {
      probeTimer = null;
      if (state.transport !== 'sse' || !current || current.readyState !== 1) return;
      const probe = new WS(opts.currentUrl?.() ?? url);
      probe.binaryType = 'arraybuffer';
      let done = false;
      const finish = (ok: boolean) => {
        if (done) return;
        done = true;
        clearTimeout(t);
        try {
          probe.close(1000, 'probe');
        } catch {
          /* already closed */
        }
        if (!ok) {
          retryMs = Math.min(retryMs * 2, maxRetryMs);
          return scheduleProbe(url);
        }
        // WebSockets work again: end the SSE connection; the provider reconnects over WebSocket.
        state.failures = 0;
        retryMs = firstRetryMs;
        use('websocket');
        (current as unknown as SseWebSocket).close(CloseCode.NORMAL, 'switching to WebSocket');
      };
      const t = setTimeout(() => finish(false), 5000);
      // Open and a first frame from the server (its sync step 1 after authorization): it really works.
      probe.onmessage = () => finish(true);
      probe.onerror = () => finish(false);
      probe.onclose = () => finish(false);
    }, retryMs);
    (probeTimer as { unref?: () => void }).unref?.();
  }

  return class AutoWebSocket {
    static readonly CONNECTING = 0;
    static readonly OPEN = 1;
    static readonly CLOSING = 2;
    static readonly CLOSED = 3;
    static get transport(): TransportKind {
      return state.transport;
    }
    constructor(url: string, protocols?: string | string[]) {
      if (state.transport === 'sse' || !WS) {
        const s = new SseWebSocket(url, protocols);
        current = s;
        s.onTerminated = () => {
          // Neither works (the server is down?): alternate, so whichever comes back first is used.
          if (!s.opened && WS && !opts.force) {
            state.failures = failuresBeforeSse - 1;
            use('websocket');
          }
        };
        scheduleProbe(url);
        return s as unknown as AutoWebSocket;
      }
      const ws = new WS(url, protocols);
      current = ws as unknown as typeof current;
      let openedAt = 0;
      ws.addEventListener('open', () => {
        openedAt = Date.now();
      });
      ws.addEventListener('message', () => {
        // Heard from the server: this socket works.
        if (Date.now() - openedAt > shortLivedMs) state.failures = 0;
      });
      ws.addEventListener('close', (ev: CloseEvent) => {
        if (serverChosen(ev.code) && openedAt) return;
        const dying = !openedAt || Date.now() - openedAt < shortLivedMs;
        if (!dying) {
          state.failures = 0;
          return;
        }
        if (++state.failures >= failuresBeforeSse) use('sse');
      });
      return ws as unknown as AutoWebSocket;
    }
  };
}

/** Decode a POST batch (tests and tools): first id and messages. */
export function decodeBatch(body: Uint8Array): { first: number; messages: Uint8Array[] } {
  const dec = decoding.createDecoder(body);
  const first = decoding.readVarUint(dec);
  const n = decoding.readVarUint(dec);
  const messages: Uint8Array[] = [];
  for (let i = 0; i < n; i++) messages.push(decoding.readVarUint8Array(dec));
  return { first, messages };
}

/** Encode a POST batch: consecutive ids from `first`. */
export function encodeBatch(first: number, messages: Uint8Array[]): Uint8Array {
  const enc = encoding.createEncoder();
  encoding.writeVarUint(enc, first);
  encoding.writeVarUint(enc, messages.length);
  for (const m of messages) encoding.writeVarUint8Array(enc, m);
  return encoding.toUint8Array(enc);
}
