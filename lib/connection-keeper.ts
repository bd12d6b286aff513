/**
 * Keeps a y-websocket provider's connection healthy (issue 13), for CollabClient:
 * - drives reconnects itself with lib/backoff.ts (jitter, server retry hints, 1012 spread) instead
 *   of the stock provider's fixed back-off: on each close it takes `shouldConnect` back so the
 *   provider's own timer is a no-op, and calls `connect()` when its delay runs out;
 * - notices a dead connection in the foreground within one keepalive interval: the server writes
 *   at least every half interval (heartbeat), so silence past `silenceLimitMs` (¾ of the interval
 *   plus twice the measured round trip, at most the interval) closes the socket and reconnects;
 * - background tabs (visibilitychange/pagehide/freeze): tells the server (BACKGROUND extension,
 *   only once it answered EXT_HELLO) so it relaxes its keepalive, and stops its own silence check;
 *   back in front it tells the server, probes the connection at once (query-awareness, answered by
 *   every server) and reconnects — the sync handshake resyncs — if no answer comes in time.
 * Battery and data: while idle a foreground socket costs one 3-byte heartbeat per 15 s from the
 * server and one ping/pong per 30 s (about 0.5 KB/min with TCP/IP headers); a background tab runs
 * no timers of its own, and the server keeps its socket through KEEPALIVE_BACKGROUND_MISSED_PONGS
 * missed pings.
 */
import type { WebsocketProvider } from 'y-websocket';
import { isPermanentClose } from './close-codes';
import { encode } from './protocol';
import { DEFAULT_BACKOFF, reconnectDelayMs, type BackoffOptions } from './backoff';

export interface ConnectionKeeperOptions {
  /** The server's KEEPALIVE_MS (default 30 s). */
  keepaliveMs?: number;
  backoff?: Partial<BackoffOptions>;
  random?: () => number;
  /** A reconnect was scheduled in `ms` (for the UI's "reconnecting in …"). */
  onRetry?(ms: number, code: number | undefined): void;
}

export class ConnectionKeeper {
  /** Closes since the last successful sync. */
  attempt = 0;
  /** The server answered EXT_HELLO: it understands extension messages (BACKGROUND). */
  extOk = false;
  /** Smoothed round-trip time (ms), from the first reply after open and from probes. */
  rttMs = 0;
  hidden = false;
  private lastHeard = Date.now();
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private probe: { sentAt: number; timer: ReturnType<typeof setTimeout> } | null = null;
  private openedAt = 0;
  private readonly checkTimer: ReturnType<typeof setInterval>;
  private readonly keepaliveMs: number;
  private readonly backoff: BackoffOptions;
  private stopped = false;
  private readonly unlisten: (() => void)[] = [];

  constructor(
    private readonly provider: WebsocketProvider,
    private readonly o: ConnectionKeeperOptions = {},
  ) {
    this.keepaliveMs = o.keepaliveMs ?? 30_000;
    this.backoff = { ...DEFAULT_BACKOFF, ...o.backoff };
    provider.on('status', ({ status }) => {
      if (status === 'connected') {
        this.openedAt = Date.now();
        this.lastHeard = Date.now();
        // Every inbound message counts as a sign of life (and times the first reply / probes).
        const ws = provider.ws;
        const handler = ws?.onmessage;
        if (ws && handler) {
          ws.onmessage = (e: MessageEvent) => {
            if (provider.ws === ws) this.heard();
            handler.call(ws, e);
          };
        }
        // A tab that was hidden when this socket opened says so at once (after EXT_HELLO's answer).
      }
    });
    provider.on('sync', (s: boolean) => {
      if (s) this.attempt = 0;
    });
    provider.on('connection-close', (ev) => this.onClose(ev));
    this.checkTimer = setInterval(() => this.check(), Math.max(100, Math.floor(this.keepaliveMs / 8)));
    (this.checkTimer as { unref?: () => void }).unref?.();
    if (typeof document !== 'undefined' && typeof window !== 'undefined') {
      const onVisibility = () => this.setBackground(document.visibilityState === 'hidden');
      const onHide = () => this.setBackground(true);
      const onShow = () => this.setBackground(false);
      document.addEventListener('visibilitychange', onVisibility);
      document.addEventListener('freeze', onHide);
      document.addEventListener('resume', onShow);
      window.addEventListener('pagehide', onHide);
      window.addEventListener('pageshow', onShow);
      this.unlisten.push(
        () => document.removeEventListener('visibilitychange', onVisibility),
        () => document.removeEventListener('freeze', onHide),
        () => document.removeEventListener('resume', onShow),
        () => window.removeEventListener('pagehide', onHide),
        () => window.removeEventListener('pageshow', onShow),
      );
    }
  }

  /** Every inbound message (CollabClient wraps the socket's onmessage). */
  heard(): void {
    const now = Date.now();
    if (this.openedAt) {
      // The first reply after open (the server's sync answer) is about one round trip.
      this.sample(now - this.openedAt);
      this.openedAt = 0;
    }
    if (this.probe) {
      this.sample(now - this.probe.sentAt);
      clearTimeout(this.probe.timer);
      this.probe = null;
    }
    this.lastHeard = now;
  }

  private sample(ms: number): void {
    this.rttMs = this.rttMs ? 0.8 * this.rttMs + 0.2 * ms : ms;
  }

  /** How long silence may last before the connection counts as dead (adapts to the round trip). */
  get silenceLimitMs(): number {
    return Math.min(this.keepaliveMs, Math.round(0.75 * this.keepaliveMs + 2 * this.rttMs));
  }

  /** The tab went to the background (true) or came back (false). Browsers call it from page events; tests directly. */
  setBackground(hidden: boolean): void {
    if (this.stopped || hidden === this.hidden) return;
    this.hidden = hidden;
    const p = this.provider;
    if (p.wsconnected && this.extOk) p.ws?.send(encode.background(hidden));
    if (hidden) return;
    if (p.wsconnected) this.probeNow();
    else if (this.retryTimer && p.shouldConnect === false) {
      // Waiting out a back-off while hidden: try at once now someone is looking.
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
      p.connect();
    }
  }

  /** Ask the server for something it always answers; no answer in time = dead connection. */
  probeNow(): void {
    const p = this.provider;
    if (!p.wsconnected || this.probe) return;
    const timeoutMs = Math.max(1000, 3 * this.rttMs);
    const timer = setTimeout(() => {
      this.probe = null;
      if (p.wsconnected) this.drop('no answer to a probe');
    }, timeoutMs);
    (timer as { unref?: () => void }).unref?.();
    this.probe = { sentAt: Date.now(), timer };
    p.ws?.send(encode.queryAwareness());
  }

  private check(): void {
    const p = this.provider;
    // Hidden tabs' timers are throttled or frozen: the server keeps the socket; we check on return.
    if (this.stopped || this.hidden || !p.wsconnected) return;
    if (Date.now() - this.lastHeard > this.silenceLimitMs) {
      this.lastHeard = Date.now();
      this.drop('connection silent');
    }
  }

  /**
   * Give up on the socket now. A socket whose network is gone gets no close frame (its onclose
   * would come only after the close handshake times out), so the provider's close path runs now;
   * it closes our end of the socket itself.
   */
  private drop(reason: string): void {
    const ws = this.provider.ws;
    ws?.onclose?.({ code: 4000, reason, wasClean: false } as CloseEvent);
  }

  private onClose(ev: CloseEvent | { code: number; reason: string } | null): void {
    const p = this.provider;
    this.extOk = false;
    if (this.probe) clearTimeout(this.probe.timer);
    this.probe = null;
    // The user disconnected, or a permanent code (the 'closed' handler decides): not ours to retry.
    if (this.stopped || !p.shouldConnect || (ev && isPermanentClose(ev.code))) return;
    const ms = reconnectDelayMs(this.attempt++, ev?.code, ev?.reason, this.backoff, this.o.random);
    // The provider schedules its own setupWS right after this event; without shouldConnect it is a no-op.
    p.shouldConnect = false;
    this.schedule(ms, ev?.code);
  }

  /** Reconnect after `ms` (also used after a 4429 with its hint). */
  schedule(ms: number, code?: number): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.o.onRetry?.(ms, code);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (!this.stopped) this.provider.connect();
    }, ms);
  }

  /** Delay for the next attempt after a close with this code/reason (and count the attempt). */
  nextDelay(code: number | undefined, reason: string | undefined): number {
    return reconnectDelayMs(this.attempt++, code, reason, this.backoff, this.o.random);
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.checkTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.probe) clearTimeout(this.probe.timer);
    for (const u of this.unlisten) u();
  }
}

