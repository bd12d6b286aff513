/**
 * The `large` scenario (issue 10): one writer sends a 5 MB edit (the update a big paste makes) to a
 * document that `readers` clients have open, all speaking Tandem's CHUNK extension as the editor
 * does (CHUNK_HELLO, then every message above the server's chunk size as chunk frames). Measured:
 * time from the first byte sent until each reader holds the whole update, the server's peak RSS
 * while it streams (sampled every 10 ms), and the cold load of a 50 MB document from storage
 * (socket open → complete sync step 2, chunked). Tandem only: the peers have no chunk extension,
 * and Tandem refuses a stock client's frame above MAX_MESSAGE_BYTES (4413), so there is no
 * like-for-like path to compare.
 */
import { join } from 'node:path';
import WebSocket from 'ws';
import * as Y from 'yjs';
import * as decoding from 'lib0/decoding';
import { ChunkReassembler } from '../../lib/chunks';
import { ChunkTransport } from '../../lib/chunk-transport';
import { MessageType, SyncType, encode } from '../../lib/protocol';
import { openSqlite } from '../../collab-server/persistence/sqlite';
import { cpuDelta, memoryKb, snapCpu } from './procstat';
import type { DocSpec, LoadSpec, ScenarioResult } from './scenarios';
import type { ServerTarget } from './sim-client';
import { median } from './stats';

export interface LargeSpec {
  kind: 'large';
  label: string;
  /** docs[0]: the pasted-into document (tokens: writer first, then the readers). */
  docs: DocSpec[];
  pasteBytes: number;
  /** The stored large document for the cold load (seeded by seedLargeDoc; expectChars = its paragraphs), if any. */
  cold?: DocSpec & { bytes: number };
}

export interface LargeFigures {
  pasteBytes: number;
  updateBytes: number;
  readers: number;
  /** From the writer's first chunk until each reader held the whole update. */
  reachMs: { p50: number; max: number };
  /** Until the writer's socket had drained the last chunk. */
  uploadMs: number;
  serverRssBaseKb: number;
  serverRssPeakKb: number;
  serverCpuSec: number;
  /** Readers that got exactly the bytes sent, and the paragraphs a fresh client synced after. */
  intact: number;
  freshParagraphs: number;
  /** The stored large document: socket open → whole sync step 2 (paragraphs checked after). */
  cold?: { bytes: number; firstSyncMs: number; paragraphs: number; ok: boolean };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const LINE = 'Quarterly figures, region by region, with the notes the auditors asked for. '.repeat(7);

/**
 * A document shaped as the editor writes a paste (y-tiptap: one Y.XmlElement paragraph with one
 * Y.XmlText per line in the 'default' fragment), about `bytes` of text in ~500-character lines as
 * in the e2e paste. (One Y.Text of the same size would be a single struct: trivially cheap to apply.)
 */
export function largeDoc(bytes: number, tag: string, clientID: number): Y.Doc {
  const doc = new Y.Doc();
  doc.clientID = clientID;
  const n = Math.ceil(bytes / (LINE.length + 8));
  const paragraphs = Array.from({ length: n }, (_, i) => {
    const p = new Y.XmlElement('paragraph');
    p.insert(0, [new Y.XmlText(`${tag}${i} ${LINE}`)]);
    return p;
  });
  doc.getXmlFragment('default').insert(0, paragraphs);
  return doc;
}

/** Paragraphs in a replica's editor fragment. */
const paragraphsOf = (update: Uint8Array): number => {
  const d = new Y.Doc();
  Y.applyUpdate(d, update);
  return d.getXmlFragment('default').length;
};

/** Store a document of about `bytes` of text as one snapshot (what Tandem keeps after compaction). */
export function seedLargeDoc(dir: string, id: string, bytes: number): { chars: number; bytes: number } {
  const doc = largeDoc(bytes, 'cold ', 4343);
  const state = Y.encodeStateAsUpdate(doc);
  const db = openSqlite(join(dir, 'tandem.db'));
  const now = Date.now();
  db.prepare("INSERT OR IGNORE INTO docs (id, title, owner_id, general_access, acl_version, created_at, updated_at) VALUES (?, 'Large', 'bench-user-0', 'editor', 1, ?, ?)").run(id, now, now);
  db.prepare('INSERT INTO doc_snapshots (doc_id, upto_seq, data, updated_at) VALUES (?, 0, ?, ?)').run(id, state, now);
  db.close();
  return { chars: doc.getXmlFragment('default').length, bytes: state.byteLength };
}

/** A lean client of the CHUNK extension: reassembles chunked messages, keeps no Y.Doc. */
class ChunkPeer {
  ws!: WebSocket;
  transport: ChunkTransport | null = null;
  readonly inbound = new ChunkReassembler(1024 * 1024 * 1024);
  syncedAt = 0;
  firstSync: Uint8Array | null = null;
  /** Arrival time and payload of the first sync update at least `watchBytes` long. */
  bigAt = 0;
  big: Uint8Array | null = null;
  private resolveSynced: (() => void) | null = null;
  private resolveAccepted: (() => void) | null = null;
  readonly accepted = new Promise<void>((r) => (this.resolveAccepted = r));

  constructor(
    readonly target: ServerTarget,
    readonly docId: string,
    readonly token: string,
    readonly watchBytes = Infinity,
  ) {}

  connect(localAddress?: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`${this.target.url}/${encodeURIComponent(this.docId)}?token=${encodeURIComponent(this.token)}`, { perMessageDeflate: false, localAddress });
      this.ws = ws;
      this.resolveSynced = resolve;
      ws.binaryType = 'nodebuffer';
      ws.on('open', () => {
        // As CollabClient: offer chunks before the first sync message (install sends CHUNK_HELLO).
        this.transport = ChunkTransport.install(ws as unknown as { readyState: number; bufferedAmount: number; send(d: Uint8Array): void }, () => {});
        ws.send(encode.syncStep1(Y.encodeStateVector(new Y.Doc())));
      });
      ws.on('message', (data: Buffer) => this.onFrame(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)));
      ws.on('error', reject);
      ws.on('close', (code, reason) => reject(new Error(`closed ${code} ${reason.toString()}`)));
    });
  }

  private onFrame(data: Uint8Array): void {
    const d = decoding.createDecoder(data);
    const type = decoding.readVarUint(d);
    if (type === MessageType.CHUNK_HELLO) {
      this.transport?.accepted(decoding.readVarUint(d));
      this.resolveAccepted?.();
    } else if (type === MessageType.CHUNK) {
      const index = decoding.readVarUint(d);
      const total = decoding.readVarUint(d);
      const r = this.inbound.push(index, total, decoding.readVarUint8Array(d));
      if (r.done && r.message) this.onFrame(r.message);
    } else if (type === MessageType.SYNC) {
      const sub = decoding.readVarUint(d);
      const payload = decoding.readVarUint8Array(d);
      const now = performance.now();
      if (sub === SyncType.STEP1) this.ws.send(encode.syncStep2(Y.encodeStateAsUpdate(new Y.Doc())));
      if (sub === SyncType.STEP2 && !this.syncedAt) {
        this.syncedAt = now;
        this.firstSync = payload;
        this.resolveSynced?.();
      }
      if (sub === SyncType.UPDATE && payload.byteLength >= this.watchBytes && !this.big) {
        this.bigAt = now;
        this.big = payload;
      }
    }
  }

  close(): void {
    this.ws.removeAllListeners('close');
    this.ws.on('error', () => {});
    if (this.ws.readyState <= 1) this.ws.close(1000);
  }
}

/** Run the large-paste scenario (and the cold load of the stored large document). */
export async function runLarge(s: LargeSpec, spec: LoadSpec, res: ScenarioResult): Promise<ScenarioResult> {
  const errors: string[] = [];
  const pid = spec.target.pid;
  const doc = s.docs[0]!;
  // The writer's edit: one Y.Text insert of the whole text, as y-tiptap turns a paste into one update.
  const ydoc = largeDoc(s.pasteBytes, '', 4444);
  const paragraphs = ydoc.getXmlFragment('default').length;
  const update = Y.encodeStateAsUpdate(ydoc);
  const watch = Math.floor(update.byteLength / 2);
  const writer = new ChunkPeer(spec.target, doc.id, doc.tokens[0]!);
  const readers = doc.tokens.slice(1).map((t) => new ChunkPeer(spec.target, doc.id, t, watch));
  const t0c = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < readers.length) {
        const i = next++;
        await readers[i]!.connect(spec.localAddresses[i % spec.localAddresses.length]).catch((err: Error) => errors.push(`reader ${i}: ${err.message}`));
      }
    }),
  );
  await writer.connect();
  await Promise.race([writer.accepted, sleep(3000)]);
  if (!writer.transport?.chunkBytes) errors.push('the server did not accept the chunk extension');
  res.sockets = readers.length + 1;
  res.connectSec = (performance.now() - t0c) / 1000;
  await sleep(300);

  const rssBase = memoryKb(pid).rss;
  let peak = rssBase;
  const sampler = setInterval(() => (peak = Math.max(peak, memoryKb(pid).rss)), 10);
  const a = snapCpu(pid);
  const t0 = performance.now();
  writer.ws.send(encode.update(update));
  let uploadMs = NaN;
  const drained = (async () => {
    while (writer.ws.bufferedAmount > 0 || (writer.transport as unknown as { pumping: boolean }).pumping) await sleep(5);
    uploadMs = performance.now() - t0;
  })();
  const deadline = performance.now() + 120_000;
  while (readers.some((r) => !r.big) && performance.now() < deadline) await sleep(5);
  await drained;
  await sleep(200);
  clearInterval(sampler);
  peak = Math.max(peak, memoryKb(pid).rss);
  const b = snapCpu(pid);
  const got = readers.filter((r) => r.big);
  if (got.length < readers.length) errors.push(`${readers.length - got.length} of ${readers.length} readers never got the update`);
  const same = (x: Uint8Array | null) => !!x && x.byteLength === update.byteLength && Buffer.compare(Buffer.from(x), Buffer.from(update)) === 0;
  const intact = got.filter((r) => same(r.big)).length;
  if (intact < got.length) errors.push(`${got.length - intact} readers got different bytes`);
  const reach = got.map((r) => r.bigAt - t0);

  // A fresh client syncs the stored state.
  let freshParagraphs = 0;
  const fresh = new ChunkPeer(spec.target, doc.id, doc.freshToken);
  try {
    await fresh.connect();
    freshParagraphs = paragraphsOf(fresh.firstSync!);
    if (freshParagraphs !== paragraphs) errors.push(`fresh client: ${freshParagraphs} paragraphs, sent ${paragraphs}`);
  } catch (err) {
    errors.push(`fresh client: ${(err as Error).message}`);
  }
  for (const c of [writer, ...readers, fresh]) c.close();

  const figures: LargeFigures = {
    pasteBytes: s.pasteBytes,
    updateBytes: update.byteLength,
    readers: readers.length,
    reachMs: { p50: median(reach), max: Math.max(...reach) },
    uploadMs,
    serverRssBaseKb: rssBase,
    serverRssPeakKb: peak,
    serverCpuSec: cpuDelta(a, b).serverSec,
    intact,
    freshParagraphs,
  };

  // Cold load of the stored large document: one chunk-capable client, socket open → whole sync step 2.
  if (s.cold) {
    await sleep(500);
    const c = new ChunkPeer(spec.target, s.cold.id, s.cold.freshToken);
    const t = performance.now();
    try {
      await c.connect();
      const ms = c.syncedAt - t;
      const n = paragraphsOf(c.firstSync!);
      figures.cold = { bytes: s.cold.bytes, firstSyncMs: ms, paragraphs: n, ok: n === s.cold.expectChars };
      if (!figures.cold.ok) errors.push(`cold large document: ${n} paragraphs, stored ${s.cold.expectChars}`);
    } catch (err) {
      errors.push(`cold large document: ${(err as Error).message}`);
    } finally {
      c.close();
    }
  }

  const cpu = cpuDelta(a, b);
  res.cpu = cpu;
  res.windowSec = cpu.wallSec;
  res.serverRssKb = memoryKb(pid).rss;
  res.serverHwmKb = memoryKb(pid).hwm;
  res.latencyMs = { n: reach.length, p50: figures.reachMs.p50, p95: NaN, p99: NaN, max: figures.reachMs.max };
  res.converged = { replicasChecked: got.length, replicasOk: intact === got.length, missingDeliveries: readers.length - got.length, freshSync: freshParagraphs === paragraphs ? 'ok' : 'mismatch' };
  res.errors = errors;
  (res as ScenarioResult & { large?: LargeFigures }).large = figures;
  return res;
}
