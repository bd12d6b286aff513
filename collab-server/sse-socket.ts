/**
 * The Server-Sent Events side of a connection, shaped like the part of a `ws` WebSocket that
 * Connection and the server use (send, bufferedAmount, readyState, close, terminate, ping and the
 * 'message' / 'close' / 'pong' events), so an SSE client goes through exactly the same
 * authorization, message handler, limits, telemetry and durability code as a WebSocket (issue 15).
 *
 * Down: every frame is one SSE event, `id: <seq>` + base64 data, kept in a bounded replay buffer so
 * a stream that drops can be re-attached with Last-Event-ID and miss nothing. While no stream is
 * attached frames wait in that buffer; what waits counts as unsent (bufferedAmount), so the send
 * cap closes a client that stays away as it closes a socket that stops reading.
 * Up: HTTP POSTs (sse.ts) hand each client message to `deliver`, which emits 'message' once per
 * message id.
 */
import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';

/** What Connection and the server use of a socket: a `ws` WebSocket or an SseSocket. */
export interface TransportSocket {
  readonly readyState: number;
  readonly bufferedAmount: number;
  send(data: Uint8Array, opts: { binary: boolean }, cb?: (err?: Error) => void): void;
  close(code?: number, reason?: string | Buffer): void;
  terminate(): void;
  ping(): void;
  /** Stop / restart reading the client's messages (inbound throttling: back-pressure reaches the sender). */
  pause(): void;
  resume(): void;
  on(event: string, listener: (...args: any[]) => void): this; // eslint-disable-line @typescript-eslint/no-explicit-any
  once(event: string, listener: (...args: any[]) => void): this; // eslint-disable-line @typescript-eslint/no-explicit-any
}

const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;
/** Close code when the stream went away and did not come back (as ws reports an abnormal close). */
const ABNORMAL = 1006;

interface SentEvent {
  id: number;
  /** Base64 of the frame: for a broadcast, one string shared by every session's buffer (see `base64`). */
  data: string;
  /** Bytes on the wire (`id:` + `data:` lines). */
  size: number;
  cb?: (err?: Error) => void;
}

export interface SseSocketOptions {
  /** Bytes of sent events kept for Last-Event-ID resumes (the newest event is always kept). */
  replayBytes: number;
  /** A session with no stream attached for this long ends (its connection closes 1006). */
  resumeMs: number;
  /**
   * Base64 of a frame. The transport memoizes it per frame object: a broadcast is one buffer for
   * every connection, so it is encoded once and every session's replay buffer holds the same string.
   */
  base64?: (frame: Uint8Array) => string;
}

export class SseSocket extends EventEmitter {
  readyState = OPEN;
  private res: ServerResponse | null = null;
  private seq = 0;
  /** Events sent, oldest first, bounded by replayBytes; `written` = how many of them the current stream got. */
  private replay: SentEvent[] = [];
  private replayBytesNow = 0;
  private lastWrittenId = 0;
  /** Bytes of events sent while no stream was attached (not yet written anywhere). */
  private pendingBytes = 0;
  private pingPending = false;
  private paused = false;
  private resumeWaiters: (() => void)[] = [];
  private graceTimer: NodeJS.Timeout | null = null;
  /** Next client message id this session applies (ids below it are duplicates of a retried POST). */
  nextInbound = 0;
  /** Messages skipped as duplicates (a retried POST): seen by tests, never applied. */
  duplicates = 0;
  /** The token the client last proved itself with (a POST with the same token needs no new check). */
  token: string | null;

  constructor(
    readonly sid: string,
    readonly docId: string,
    token: string | null,
    private readonly opts: SseSocketOptions,
  ) {
    super();
    this.token = token;
  }

  /** Unsent bytes: Node's buffer for the attached stream plus events waiting for a stream. */
  get bufferedAmount(): number {
    return (this.res ? this.res.writableLength : 0) + this.pendingBytes;
  }

  get attached(): boolean {
    return this.res !== null;
  }

  /**
   * Attach a response as this session's stream and write every event after `lastEventId`. False
   * when those events are no longer in the replay buffer (the caller starts a new session).
   */
  attach(res: ServerResponse, lastEventId: number): boolean {
    if (this.readyState !== OPEN) return false;
    const oldest = this.replay[0]?.id ?? this.seq + 1;
    if (lastEventId > this.seq || lastEventId < oldest - 1) return false;
    this.detach();
    if (this.graceTimer) clearTimeout(this.graceTimer);
    this.graceTimer = null;
    this.res = res;
    res.on('close', () => {
      if (this.res === res) this.onStreamGone();
    });
    this.pendingBytes = 0;
    this.lastWrittenId = lastEventId;
    for (const e of this.replay) if (e.id > lastEventId) this.write(e);
    return true;
  }

  /** Write an SSE comment (the session announcement, heartbeats): not part of the event sequence. */
  comment(text: string, cb?: () => void): void {
    if (this.res) this.res.write(`: ${text}\n\n`, cb ? () => cb() : undefined);
  }

  /** Write a named control event outside the id sequence (session info, close). */
  control(event: string, data: unknown, res = this.res): void {
    res?.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  send(data: Uint8Array, _opts: { binary: boolean }, cb?: (err?: Error) => void): void {
    if (this.readyState !== OPEN) {
      cb?.(new Error('stream closed'));
      return;
    }
    const id = ++this.seq;
    const b64 = this.opts.base64?.(data) ?? Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64');
    const e: SentEvent = { id, data: b64, size: b64.length + 16, cb };
    this.replay.push(e);
    this.replayBytesNow += e.size;
    while (this.replayBytesNow > this.opts.replayBytes && this.replay.length > 1) {
      const old = this.replay.shift()!;
      this.replayBytesNow -= old.size;
      // An event dropped before any stream took it fails like a write on a closed socket.
      if (old.id > this.lastWrittenId) this.pendingBytes -= old.size;
      if (old.cb && old.id > this.lastWrittenId) old.cb(new Error('dropped from the replay buffer'));
      old.cb = undefined;
    }
    if (this.res) this.write(e);
    else this.pendingBytes += e.size;
  }

  private write(e: SentEvent): void {
    const cb = e.cb;
    e.cb = undefined;
    this.lastWrittenId = e.id;
    this.res!.write(`id: ${e.id}\ndata: ${e.data}\n\n`, cb ? (err) => cb(err ?? undefined) : undefined);
  }

  /** Inbound throttling paused us: the next POST waits (unanswered, so its sender waits too). */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    for (const w of this.resumeWaiters.splice(0)) w();
  }

  /** Resolves when messages may be delivered (at once unless paused). */
  readable(): Promise<void> {
    return this.paused && this.readyState === OPEN ? new Promise((r) => this.resumeWaiters.push(r)) : Promise.resolve();
  }

  /** Hand one client message (from a POST) to the connection, as ws emits a binary message. */
  deliver(message: Uint8Array): void {
    if (this.readyState !== OPEN) return;
    this.emit('message', Buffer.from(message.buffer, message.byteOffset, message.byteLength), true);
  }

  /**
   * Keepalive: an SSE comment, which also keeps idle proxies from cutting the stream. 'pong' once
   * it has been handed to the kernel; a stream whose previous ping is still queued misses its pong
   * and the sweep terminates it, as for a socket. Detached, the resume timer decides instead.
   */
  ping(): void {
    if (this.readyState !== OPEN) return;
    if (!this.res) {
      this.emit('pong');
      return;
    }
    if (this.pingPending) return;
    this.pingPending = true;
    this.comment('ping', () => {
      this.pingPending = false;
      this.emit('pong');
    });
  }

  /** A final `close` event with the code and reason, then the stream ends and the session is gone. */
  close(code = 1000, reason: string | Buffer = ''): void {
    if (this.readyState !== OPEN) return;
    this.readyState = CLOSING;
    const r = reason.toString();
    this.control('close', { code, reason: r });
    this.res?.end();
    this.finish(code, r);
  }

  /** End at once, without a close event (the sweep's missed pong, shutdown). */
  terminate(): void {
    if (this.readyState === CLOSED) return;
    this.res?.destroy();
    this.finish(ABNORMAL, '');
  }

  private finish(code: number, reason: string): void {
    this.readyState = CLOSED;
    this.res = null;
    if (this.graceTimer) clearTimeout(this.graceTimer);
    this.graceTimer = null;
    for (const e of this.replay) if (e.cb) e.cb(new Error('stream closed'));
    this.replay = [];
    this.replayBytesNow = 0;
    this.pendingBytes = 0;
    this.resume();
    this.emit('close', code, Buffer.from(reason));
  }

  private detach(): void {
    const old = this.res;
    this.res = null;
    // A second stream for the same session replaces the first (the client reconnected before we noticed).
    old?.end();
  }

  private onStreamGone(): void {
    this.res = null;
    this.pingPending = false;
    // Everything after the last written event now waits for a resume.
    this.pendingBytes = this.replay.filter((e) => e.id > this.lastWrittenId).reduce((n, e) => n + e.size, 0);
    this.graceTimer = setTimeout(() => this.terminate(), this.opts.resumeMs);
    this.graceTimer.unref();
  }
}
