/**
 * The client half of the CHUNK extension (lib/protocol.ts), around one WebSocket: once the server
 * accepted chunks, any message above its chunk size leaves as chunk frames, paced by the socket's
 * buffer so the page stays responsive and progress is real; frames sent meanwhile wait behind them
 * in order. Inbound chunk frames are reassembled (bounded, one message at a time).
 * Works with the browser WebSocket and Node's `ws`.
 */
import { ChunkReassembler } from './chunks';
import { encode } from './protocol';

/** A large message on its way: to the server ('up', a paste being saved) or from it ('down'). */
export interface TransferProgress {
  direction: 'up' | 'down';
  /** Bytes of the message sent (handed to the network and drained) or received so far. */
  bytes: number;
  total: number;
  done: boolean;
  /** The socket closed first: the sync handshake of the next connection sends it again. */
  aborted?: boolean;
}

interface SocketLike {
  readyState: number;
  bufferedAmount: number;
  send(data: Uint8Array | ArrayBuffer | string): void;
}

/** Keep at most this much queued in the socket while chunks stream (the server does the same). */
const HIGH_WATER_BYTES = 1024 * 1024;
/**
 * Before the server's CHUNK_HELLO answer, frames above this wait for it (it comes right after the
 * server's sync step 1, which our large sync step 2 answers) — for at most ACCEPT_WAIT_MS, after
 * which the server is taken not to chunk and they go whole.
 */
const HOLD_ABOVE_BYTES = 64 * 1024;
const ACCEPT_WAIT_MS = 3000;
/** What the client reassembles from its server at most (it trusts its server; this bounds bugs). */
const MAX_INBOUND_BYTES = 1024 * 1024 * 1024;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const asBytes = (d: Uint8Array | ArrayBuffer | string): Uint8Array | null =>
  d instanceof Uint8Array ? d : d instanceof ArrayBuffer ? new Uint8Array(d) : null;

export class ChunkTransport {
  /** Part size the server accepted; 0 until then (or for a server that does not chunk). */
  chunkBytes = 0;
  private readonly queue: Uint8Array[] = [];
  private pumping = false;
  private holdUntil = 0;
  private holdTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly inbound = new ChunkReassembler(MAX_INBOUND_BYTES);
  private closed = false;
  /** Size of the message streaming up now, if any (reported as aborted when the socket closes). */
  private uploading = 0;

  constructor(
    private readonly ws: SocketLike,
    private readonly rawSend: (data: Uint8Array) => void,
    private readonly onProgress: (p: TransferProgress) => void,
  ) {}

  /** Replace the socket's `send` with the chunking one, and offer chunks to the server. */
  static install(ws: SocketLike, onProgress: (p: TransferProgress) => void): ChunkTransport {
    const raw = ws.send.bind(ws) as (d: Uint8Array) => void;
    const t = new ChunkTransport(ws, raw, onProgress);
    ws.send = (data) => t.send(data);
    raw(encode.chunkHello());
    t.holdUntil = Date.now() + ACCEPT_WAIT_MS;
    return t;
  }

  /** The server's CHUNK_HELLO answer. */
  accepted(chunkBytes: number): void {
    this.chunkBytes = chunkBytes;
    this.holdUntil = 0;
    void this.pump();
  }

  /** The socket closed: drop what waits (the next connection's sync handshake sends it again). */
  close(): void {
    this.closed = true;
    this.queue.length = 0;
    if (this.inbound.inFlight) this.onProgress({ direction: 'down', bytes: 0, total: this.inbound.progress.total, done: true, aborted: true });
    this.inbound.reset();
    if (this.uploading) this.onProgress({ direction: 'up', bytes: 0, total: this.uploading, done: true, aborted: true });
    this.uploading = 0;
    if (this.holdTimer) clearTimeout(this.holdTimer);
  }

  send(data: Uint8Array | ArrayBuffer | string): void {
    const bytes = asBytes(data);
    if (!bytes) return this.rawSend(data as unknown as Uint8Array);
    if (this.queue.length || this.pumping || this.needsChunks(bytes) || this.mustHold(bytes)) {
      this.queue.push(bytes);
      void this.pump();
      return;
    }
    this.rawSend(bytes);
  }

  /** One inbound chunk; the whole message when it was the last. */
  receive(index: number, total: number, part: Uint8Array): Uint8Array | null {
    const r = this.inbound.push(index, total, part);
    this.onProgress({ direction: 'down', bytes: r.done ? total : this.inbound.progress.received, total, done: r.done });
    return r.done ? r.message : null;
  }

  private needsChunks(b: Uint8Array): boolean {
    return this.chunkBytes > 0 && b.byteLength > this.chunkBytes;
  }

  private mustHold(b: Uint8Array): boolean {
    return this.chunkBytes === 0 && b.byteLength > HOLD_ABOVE_BYTES && Date.now() < this.holdUntil;
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.queue.length && !this.closed && this.ws.readyState === 1) {
        const next = this.queue[0]!;
        if (this.mustHold(next)) {
          // Wait for the server's answer (accepted() pumps again) or for the hold to run out.
          if (!this.holdTimer) {
            this.holdTimer = setTimeout(() => {
              this.holdTimer = null;
              void this.pump();
            }, Math.max(0, this.holdUntil - Date.now()) + 1);
          }
          return;
        }
        this.queue.shift();
        if (this.needsChunks(next)) await this.sendChunked(next);
        else this.rawSend(next);
      }
    } finally {
      this.pumping = false;
    }
  }

  /** Stream one message as chunk frames, a socket buffer's worth at a time, reporting progress. */
  private async sendChunked(message: Uint8Array): Promise<void> {
    const total = message.byteLength;
    const size = this.chunkBytes;
    let handed = 0;
    this.uploading = total;
    const report = (done: boolean) => this.onProgress({ direction: 'up', bytes: done ? total : Math.max(0, handed - this.ws.bufferedAmount), total, done });
    report(false);
    for (let off = 0, i = 0; off < total; off += size, i++) {
      // Yield to the page while the socket drains: typing and rendering go on during a big paste.
      while (this.ws.bufferedAmount > HIGH_WATER_BYTES) {
        if (this.closed || this.ws.readyState !== 1) return;
        await sleep(16);
        report(false);
      }
      if (this.closed || this.ws.readyState !== 1) return;
      const part = message.subarray(off, Math.min(off + size, total));
      this.rawSend(encode.chunk(i, total, part));
      handed += part.byteLength;
    }
    // Done when it has left this machine; later frames need not wait for that.
    void (async () => {
      while (this.ws.bufferedAmount > 0 && !this.closed && this.ws.readyState === 1) {
        report(false);
        await sleep(50);
      }
      if (this.closed || this.uploading !== total) return;
      this.uploading = 0;
      report(true);
    })();
  }
}
