/**
 * A hand-driven SSE + POST client for tests (issue 15): opens the event stream with fetch, records
 * every event (id, decoded frame), sends POST batches with ids the test chooses (so it can retry
 * one, or leave a gap), and resumes a stream with Last-Event-ID. Keeps a Y.Doc in step with what
 * the server sends, as the raw WebSocket client does.
 */
import * as Y from 'yjs';
import { encode } from '../../lib/protocol';
import { encodeBatch } from '../../lib/sse-client';
import { decodeServerFrame, FROM_SERVER, type Inbound } from './raw-client';

export interface SseEvent {
  id: number;
  frame: Inbound;
}

export class RawSse {
  readonly doc = new Y.Doc();
  readonly events: SseEvent[] = [];
  sid = '';
  closeInfo: { code: number; reason: string } | null = null;
  /** The stream ended (by the server's close event, by the network, or by `drop`). */
  ended = false;
  nextId = 0;
  private ctl: AbortController | null = null;

  constructor(
    readonly base: string,
    readonly docId: string,
    readonly token: string,
  ) {
    // What this client writes goes up as updates, as a provider would send them.
    this.doc.on('update', (u: Uint8Array, origin: unknown) => {
      if (origin !== FROM_SERVER) void this.post([encode.update(u)]);
    });
  }

  get url(): string {
    return `${this.base}/sse/${this.docId}`;
  }

  /** Open (or, with `lastEventId`, resume) the stream; resolves once the session event arrived. */
  async open(lastEventId?: number): Promise<{ resumed: boolean }> {
    this.ended = false;
    this.ctl = new AbortController();
    const u = new URL(this.url);
    u.searchParams.set('token', this.token);
    if (lastEventId !== undefined) u.searchParams.set('sid', this.sid);
    const res = await fetch(u, { headers: lastEventId !== undefined ? { 'last-event-id': String(lastEventId) } : {}, signal: this.ctl.signal });
    if (!res.ok || !res.body) throw new Error(`stream refused: ${res.status}`);
    let session: ((v: { resumed: boolean }) => void) | null = null;
    const got = new Promise<{ resumed: boolean }>((r) => (session = r));
    void this.read(res.body, (s) => session?.(s)).catch(() => {});
    const r = await got;
    // A new session: ask for what the server has, as a provider's first message does.
    if (!r.resumed) {
      this.nextId = 0;
      await this.post([encode.syncStep1(Y.encodeStateVector(this.doc))]);
    }
    return r;
  }

  private async read(body: ReadableStream<Uint8Array>, onSession: (s: { resumed: boolean }) => void): Promise<void> {
    const reader = body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let end: number;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          const fields = new Map<string, string>();
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) continue;
            const i = line.indexOf(':');
            fields.set(line.slice(0, i), line.slice(i + 1).trimStart());
          }
          const event = fields.get('event');
          if (event === 'session') {
            const s = JSON.parse(fields.get('data')!) as { sid: string; resumed: boolean };
            this.sid = s.sid;
            onSession(s);
          } else if (event === 'close') {
            this.closeInfo = JSON.parse(fields.get('data')!);
          } else if (fields.has('data')) {
            const frame = decodeServerFrame(Buffer.from(fields.get('data')!, 'base64'));
            this.events.push({ id: Number(fields.get('id')), frame });
            this.apply(frame);
          }
        }
      }
    } finally {
      this.ended = true;
    }
  }

  private apply(f: Inbound): void {
    if (f.kind === 'sync-step2' || f.kind === 'update') Y.applyUpdate(this.doc, f.update, FROM_SERVER);
    if (f.kind === 'sync-step1') void this.post([encode.syncStep2(Y.encodeStateAsUpdate(this.doc, f.stateVector))]);
  }

  /** POST messages with the next ids (or from `first`); the response status and body. */
  async post(messages: Uint8Array[], first = this.nextId): Promise<{ status: number; next?: number }> {
    if (first === this.nextId) this.nextId += messages.length;
    return this.postRaw(encodeBatch(first, messages));
  }

  async postRaw(body: Uint8Array, query = ''): Promise<{ status: number; next?: number }> {
    const res = await fetch(`${this.url}?sid=${this.sid}${query}`, { method: 'POST', headers: { authorization: `Bearer ${this.token}` }, body: body as BodyInit });
    const j = (await res.json().catch(() => ({}))) as { next?: number };
    return { status: res.status, next: j.next };
  }

  of<K extends Inbound['kind']>(kind: K): Extract<Inbound, { kind: K }>[] {
    return this.events.map((e) => e.frame).filter((f): f is Extract<Inbound, { kind: K }> => f.kind === kind);
  }

  /** Cut the stream from the client side (as a network drop); the session stays on the server. */
  drop(): void {
    this.ctl?.abort();
  }

  close(): void {
    this.drop();
  }
}
