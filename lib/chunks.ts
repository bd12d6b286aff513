/**
 * Reassembly of chunked messages (the CHUNK extension, see lib/protocol.ts), pure and bounded:
 * one message in flight at a time, its declared total checked against a limit before anything is
 * kept, parts accepted only in order and never past the total. Used by collab-server (with timers,
 * rate limits and authorization around it) and by the client (lib/collab-client.ts).
 */

export type ChunkErrorCode = 'interleaved' | 'out-of-order' | 'overrun' | 'too-large' | 'empty';

/** A broken chunk stream; the receiver drops what it buffered and closes. */
export class ChunkError extends Error {
  constructor(
    readonly code: ChunkErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ChunkError';
  }
}

export type ChunkResult =
  | { done: false; first: boolean }
  | { done: true; first: boolean; message: Uint8Array | null };

export class ChunkReassembler {
  private total = 0;
  private next = 0;
  private received = 0;
  /** null while discarding (a refused write is counted to its end, never kept). */
  private buf: Uint8Array | null = null;
  private active = false;

  constructor(private readonly maxTotalBytes: number) {}

  /** Bytes held for the message in flight (what a metric reports and a close frees). */
  get bufferedBytes(): number {
    return this.buf ? this.received : 0;
  }

  get inFlight(): boolean {
    return this.active;
  }

  /** Declared size of the message in flight, and how much of it arrived. */
  get progress(): { received: number; total: number } {
    return { received: this.received, total: this.total };
  }

  /**
   * Take one chunk. `admit` sees the first chunk of each message (which starts with the inner
   * message's type bytes) before anything is buffered; false discards the whole message, still
   * checking its chunks to the end (a refused write). Throws ChunkError.
   */
  push(index: number, total: number, part: Uint8Array, admit?: (head: Uint8Array, total: number) => boolean): ChunkResult {
    const first = index === 0;
    if (first) {
      if (this.active) throw new ChunkError('interleaved', `a new chunked message began before the previous one (${this.received} of ${this.total} bytes) was complete`);
      if (total <= 0) throw new ChunkError('empty', 'a chunked message of 0 bytes');
      if (total > this.maxTotalBytes) throw new ChunkError('too-large', `message too big: ${total} bytes > limit ${this.maxTotalBytes}`);
      this.active = true;
      this.total = total;
      this.next = 0;
      this.received = 0;
      // Allocated once at the declared size (checked above): a 20 MB message is one copy, not a
      // list of parts plus a concatenation. Large zeroed allocations are committed as they fill.
      this.buf = !admit || admit(part, total) ? new Uint8Array(total) : null;
    } else if (!this.active) {
      throw new ChunkError('out-of-order', `chunk ${index} arrived without a first chunk`);
    }
    if (index !== this.next) throw new ChunkError('out-of-order', `chunk ${index} arrived where ${this.next} was due`);
    if (total !== this.total) throw new ChunkError('interleaved', `chunk of a ${total}-byte message inside a ${this.total}-byte one`);
    if (part.byteLength === 0) throw new ChunkError('empty', 'an empty chunk');
    if (this.received + part.byteLength > this.total) throw new ChunkError('overrun', `chunks ran past the declared ${this.total} bytes`);
    this.buf?.set(part, this.received);
    this.received += part.byteLength;
    this.next++;
    if (this.received < this.total) return { done: false, first };
    const message = this.buf;
    this.reset();
    return { done: true, first, message };
  }

  /** Drop whatever is in flight. */
  reset(): void {
    this.active = false;
    this.buf = null;
    this.total = 0;
    this.received = 0;
    this.next = 0;
  }
}
