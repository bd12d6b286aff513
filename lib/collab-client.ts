/**
 * The client side of Tandem's collab protocol: a thin wrapper around the stock y-websocket
 * `WebsocketProvider` that adds what the stock provider cannot do on its own —
 * - gets short-lived tokens from the app (`getToken`) and renews them in band before they expire,
 *   so a long session never reconnects just because a token aged;
 * - learns its live role from the server (viewer/editor/owner) so the editor can turn read-only
 *   without a reload;
 * - stops reconnecting, and says why, on 4403 (no access / revoked) and on 4401 when a new token
 *   cannot be had; on 4401 with a fresh token it reconnects without losing local edits;
 * - reports a connection status a UI can show (connected / reconnecting in N ms / offline with
 *   unsynced changes).
 * Works in the browser and in Node (pass `WebSocketPolyfill` from `ws`).
 */
import * as Y from 'yjs';
import { WebsocketProvider } from 'y-websocket';
import * as decoding from 'lib0/decoding';
import { ObservableV2 } from 'lib0/observable';
import { CloseCode } from './close-codes';
import { MessageType, encode } from './protocol';
import { ChunkTransport, type TransferProgress } from './chunk-transport';
import { ConnectionKeeper } from './connection-keeper';
import type { BackoffOptions } from './backoff';
import type { Role } from './acl';
import { createAutoWebSocket, type TransportKind } from './sse-client';

export interface CollabToken {
  token: string;
  /** collab-server base URL, e.g. ws://localhost:1234 */
  url: string;
  /** ms since epoch */
  expiresAt: number;
}

export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'closed';

export interface CollabStatus {
  state: ConnectionState;
  /** When reconnecting: ms until the next attempt. */
  retryInMs?: number;
  /** Local edits the server has not confirmed yet (made while disconnected or not yet synced). */
  unsynced: boolean;
  /**
   * The server said it cannot reach its store (close 4503): nothing is being saved for anyone;
   * local edits are kept and sent once it can. Cleared by the next successful sync.
   */
  savingPaused?: boolean;
  online: boolean;
  /** What the connection runs over: a WebSocket, or the SSE + POST fallback (lib/sse-client.ts). */
  transport?: TransportKind;
}

export interface ClosedInfo {
  code: number;
  reason: string;
  /** The client will not reconnect by itself. */
  permanent: boolean;
}

type Events = {
  role: (role: Role | null) => void;
  status: (s: CollabStatus) => void;
  closed: (c: ClosedInfo) => void;
  'permission-denied': (reason: string) => void;
  synced: (synced: boolean) => void;
  'token-renewed': (expiresAt: number) => void;
  /** A large message on its way up (a paste being saved) or down; see ChunkTransport. */
  transfer: (p: TransferProgress) => void;
};

export interface CollabClientOptions {
  docId: string;
  doc: Y.Doc;
  /** Fetch a fresh collab token (the app's POST /api/docs/:id/token); throw to refuse. */
  getToken: () => Promise<CollabToken>;
  WebSocketPolyfill?: unknown;
  /** Renew this long before expiry (default: a third of the token's remaining life, at most 60 s). */
  renewBeforeMs?: number;
  /** Sync tabs of one browser over BroadcastChannel (default true in browsers). */
  disableBc?: boolean;
  /**
   * 'auto' (what the app uses): WebSocket first, SSE + POST when sockets cannot open or keep dying
   * within seconds, WebSocket again once a probe (every `retryWebSocketMs`) gets through.
   * 'sse' only SSE; default 'websocket' only (the stock provider's behaviour).
   */
  transport?: 'auto' | TransportKind;
  /** 'auto': first WebSocket probe while on SSE after this long (default 10 s; doubles per failed probe, up to 5 min). */
  retryWebSocketMs?: number;
  /** The server's KEEPALIVE_MS: a silent foreground connection is given up within this long (default 30 s). */
  keepaliveMs?: number;
  /** Reconnect back-off (full jitter), and how long a 1012 restart's return is spread (lib/backoff.ts). */
  backoff?: Partial<BackoffOptions>;
  /** Let the caller hook outgoing frames (tracing wraps the socket). */
  onSocket?: (ws: WebSocket) => void;
}

export class CollabClient extends ObservableV2<Events> {
  readonly provider: WebsocketProvider;
  role: Role | null = null;
  closedInfo: ClosedInfo | null = null;
  private token: CollabToken;
  private renewTimer: ReturnType<typeof setTimeout> | null = null;
  private unsynced = false;
  private destroyed = false;
  /** 4401s since the last successful sync; bounds the renew-and-reconnect loop. */
  private authRetries = 0;
  private lastStatus: CollabStatus;
  /** The CHUNK extension on the current socket (large messages go as small frames, with progress). */
  private transport: ChunkTransport | null = null;
  /** Reconnects (jitter, hints), liveness, background tabs (connection-keeper.ts). */
  readonly keeper: ConnectionKeeper;

  /** Fetch the first token and connect. */
  static async connect(opts: CollabClientOptions): Promise<CollabClient> {
    return new CollabClient(opts, await opts.getToken());
  }

  constructor(
    private readonly opts: CollabClientOptions,
    first: CollabToken,
  ) {
    super();
    this.token = first;
    this.lastStatus = { state: 'connecting', unsynced: false, online: true };
    const mode = opts.transport ?? 'websocket';
    const Socket =
      mode === 'websocket'
        ? opts.WebSocketPolyfill
        : createAutoWebSocket({
            WebSocket: opts.WebSocketPolyfill,
            force: mode === 'sse' ? 'sse' : undefined,
            retryWebSocketMs: opts.retryWebSocketMs,
            currentUrl: () => this.provider.url,
          });
    const provider = new WebsocketProvider(first.url, opts.docId, opts.doc, {
      params: { token: first.token },
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      WebSocketPolyfill: Socket as any,
      disableBc: opts.disableBc ?? false,
    });
    this.provider = provider;

    // Extension messages: the server only sends them after our EXT_HELLO.
    provider.messageHandlers[MessageType.ROLE] = (_enc, dec) => {
      const r = decoding.readVarString(dec);
      this.role = r === 'owner' || r === 'editor' || r === 'viewer' ? r : null;
      // The server answered EXT_HELLO: extension messages (BACKGROUND) may be sent to it.
      if (!this.keeper.extOk) {
        this.keeper.extOk = true;
        if (this.keeper.hidden) provider.ws?.send(encode.background(true));
      }
      this.emit('role', [this.role]);
    };
    provider.messageHandlers[MessageType.TOKEN_RESULT] = (_enc, dec) => {
      const ok = decoding.readVarUint(dec) === 1;
      const expiresAtSec = decoding.readVarUint(dec);
      const reason = decoding.readVarString(dec);
      if (ok) {
        this.emit('token-renewed', [expiresAtSec * 1000]);
      } else {
        // The server refused the renewal: the socket will close 4401 at expiry; we then retry once.
        this.emit('permission-denied', [`token renewal refused: ${reason}`]);
      }
    };
    provider.messageHandlers[MessageType.CHUNK_HELLO] = (_enc, dec) => {
      this.transport?.accepted(decoding.readVarUint(dec));
    };
    // A chunked message from the server: once complete, handled exactly as if it came whole (a
    // reply it asks for, e.g. to a sync step 1, goes back through the chunking send).
    provider.messageHandlers[MessageType.CHUNK] = (encoder, dec, p, emitSynced) => {
      const index = decoding.readVarUint(dec);
      const total = decoding.readVarUint(dec);
      const message = this.transport?.receive(index, total, decoding.readVarUint8Array(dec));
      if (!message) return;
      const inner = decoding.createDecoder(message);
      const type = decoding.readVarUint(inner);
      const handler = type === MessageType.CHUNK ? undefined : p.messageHandlers[type];
      if (handler) handler(encoder, inner, p, emitSynced, type);
    };
    // Replace the stock handler, which only logs to the console.
    provider.messageHandlers[MessageType.AUTH] = (_enc, dec) => {
      decoding.readVarUint(dec);
      this.emit('permission-denied', [decoding.readVarString(dec)]);
    };

    provider.on('status', ({ status }) => {
      if (status === 'connected') {
        // Before the provider's own sync step 1, so the server knows at once that we chunk.
        this.transport?.close();
        this.transport = provider.ws ? ChunkTransport.install(provider.ws, (p) => this.emit('transfer', [p])) : null;
        provider.ws?.send(encode.extHello('tandem-collab-client/1'));
        if (provider.ws && opts.onSocket) opts.onSocket(provider.ws as WebSocket);
        const transport = (provider.ws as { transport?: TransportKind } | null)?.transport ?? 'websocket';
        this.setStatus({ state: 'connected', transport });
      } else if (status === 'connecting') {
        this.setStatus({ state: this.lastStatus.state === 'connected' ? 'reconnecting' : 'connecting' });
      }
    });
    provider.on('connection-close', (ev) => {
      this.transport?.close();
      this.transport = null;
      if (this.closedInfo) return;
      // Same back-off the provider uses (y-websocket: min(2^n · 100, maxBackoffTime)).
      const retryInMs = Math.min(2 ** provider.wsUnsuccessfulReconnects * 100, provider.maxBackoffTime);
      const paused = ev?.code === CloseCode.STORAGE_UNAVAILABLE;
      // The server stored nothing of ours since it lost its database: what we sent is unsynced.
      if (paused) this.unsynced = true;
      this.setStatus({ state: 'reconnecting', retryInMs, ...(paused ? { savingPaused: true } : {}) });
    });
    provider.on('closed', ({ code, reason }) => void this.onPermanentClose(code, reason));
    provider.on('sync', (s: boolean) => {
      if (s) {
        this.unsynced = false;
        this.authRetries = 0;
      }
      this.emit('synced', [s]);
      this.setStatus(s ? { savingPaused: false } : {});
    });
    opts.doc.on('update', this.onLocalUpdate);
    this.scheduleRenewal();
    // Last, so its "reconnecting in N ms" (the real, jittered delay) follows the status set above.
    this.keeper = new ConnectionKeeper(provider, {
      keepaliveMs: opts.keepaliveMs,
      backoff: opts.backoff,
      onRetry: (ms) => this.setStatus({ state: 'reconnecting', retryInMs: ms, ...(this.lastStatus.savingPaused ? { savingPaused: true } : {}) }),
    });
  }

  private onLocalUpdate = (_u: Uint8Array, origin: unknown) => {
    if (origin === this.provider) return;
    if (!this.provider.wsconnected || !this.provider.synced) {
      this.unsynced = true;
      this.setStatus({});
    }
  };

  private setStatus(patch: Partial<CollabStatus>): void {
    const online = typeof navigator === 'undefined' ? true : navigator.onLine !== false;
    this.lastStatus = { ...this.lastStatus, retryInMs: undefined, ...patch, unsynced: this.unsynced, online };
    this.emit('status', [this.lastStatus]);
  }

  get status(): CollabStatus {
    return this.lastStatus;
  }

  private scheduleRenewal(): void {
    if (this.renewTimer) clearTimeout(this.renewTimer);
    if (this.destroyed) return;
    const remaining = this.token.expiresAt - Date.now();
    const before = this.opts.renewBeforeMs ?? Math.min(60_000, remaining / 3);
    this.renewTimer = setTimeout(() => void this.renew(), Math.max(0, remaining - before));
  }

  /** Get a new token and hand it to the server in band (and to the provider for reconnects). */
  async renew(): Promise<boolean> {
    try {
      const t = await this.opts.getToken();
      if (this.destroyed) return false;
      this.token = t;
      this.provider.params = { ...this.provider.params, token: t.token };
      if (this.provider.wsconnected) this.provider.ws?.send(encode.tokenRefresh(t.token));
      this.scheduleRenewal();
      return true;
    } catch (err) {
      this.emit('permission-denied', [`could not renew the token: ${(err as Error).message}`]);
      return false;
    }
  }

  private async onPermanentClose(code: number, reason: string): Promise<void> {
    if (this.destroyed) return;
    if (code === CloseCode.UNAUTHORIZED && this.authRetries++ < 2 && (await this.renew())) {
      // The token ran out (e.g. the machine slept through renewal): reconnect with the new one.
      // Local edits are in the Y.Doc and go out in the sync handshake.
      this.provider.connect();
      return;
    }
    if (code === CloseCode.RATE_LIMITED) {
      // Over a rate limit: back off (the server's retry hint, else at least 5 s, jittered), then
      // resume; local edits wait in the Y.Doc.
      this.keeper.schedule(Math.max(5000, this.keeper.nextDelay(code, reason)), code);
      return;
    }
    this.closedInfo = { code, reason, permanent: true };
    this.setStatus({ state: 'closed' });
    this.emit('closed', [this.closedInfo]);
  }

  override destroy(): void {
    this.destroyed = true;
    if (this.renewTimer) clearTimeout(this.renewTimer);
    this.opts.doc.off('update', this.onLocalUpdate);
    this.keeper.stop();
    this.provider.destroy();
    super.destroy();
  }
}
