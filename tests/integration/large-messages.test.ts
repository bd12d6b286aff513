// Edits and documents of any size (issue 10), on one collab-server over SQLite: a stock client's
// oversize edit is refused with a permanent code and never loops; Tandem's client sends and
// receives 20 MB in chunks no larger than the chunk size, stored once; a viewer's chunked write is
// refused at its first chunk; broken chunk streams are closed with named codes and their buffers
// freed; 5 MB of offline edits sync on reconnect; the document size quota refuses, audits, and
// leaves reading alone.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import * as Y from 'yjs';
import { CloseCode } from '../../lib/close-codes';
import { CollabClient } from '../../lib/collab-client';
import { DOC_TOO_LARGE_REASON, MessageType, encode, encodeChunks } from '../../lib/protocol';
import type { TransferProgress } from '../../lib/chunk-transport';
import { createFixture, provider, sameState, startServer, synced, waitFor, type Fixture, type InProcessServer } from '../helpers/fixture';
import { rawConnect, storedUpdateCount, upgradeLog, type RawClient } from '../helpers/raw-client';

const CHUNK = 256 * 1024;
const MB = 1024 * 1024;

let fx: Fixture;
let srv: InProcessServer;
let owner: string;
let viewer: string;

beforeAll(async () => {
  fx = await createFixture();
  srv = await startServer(fx, {
    chunks: { chunkBytes: CHUNK, maxTotalBytes: 64 * MB, idleTimeoutMs: 400 },
    compactIdleMs: 300,
  });
  owner = fx.user({ name: 'Olive' });
  viewer = fx.user({ name: 'Vic' });
});
afterAll(async () => {
  await srv.close();
  fx.cleanup();
});

/** Tandem's own client (CollabClient) in Node. */
async function tandem(url: string, docId: string, userId: string, doc = new Y.Doc()): Promise<CollabClient> {
  return CollabClient.connect({
    docId,
    doc,
    WebSocketPolyfill: WebSocket,
    disableBc: true,
    getToken: async () => ({ token: await fx.token(userId, docId), url, expiresAt: Date.now() + 300_000 }),
  });
}

/** Largest WebSocket message each server-side socket receives from now on. */
function watchInboundFrames(s: InProcessServer): { max: number } {
  const seen = { max: 0 };
  const watched = new WeakSet<object>();
  const attach = () => {
    for (const c of s.server.connections) {
      if (watched.has(c.ws)) continue;
      watched.add(c.ws);
      c.ws.on('message', (d: Buffer) => (seen.max = Math.max(seen.max, d.byteLength)));
    }
  };
  attach();
  s.server.http.on('upgrade', () => setImmediate(attach));
  return seen;
}

const gauge = async () => (await srv.metrics.chunkBufferedBytes.get()).values.reduce((a, v) => a + v.value, 0);
const text = (n: number, seed = 'x') => {
  const unit = `${seed} abcdefghij klmnopqrst uvwxyz\n`;
  return unit.repeat(Math.ceil(n / unit.length)).slice(0, n);
};

describe('a stock y-websocket client that cannot chunk', () => {
  it('its 3 MB edit is refused with 4413 and a reason, it does not reconnect for 10 s, the server stays healthy and others are unaffected', async () => {
    const docId = fx.doc(owner);
    const upgrades = upgradeLog(srv);
    const token = await fx.token(owner, docId);
    const a = provider(srv.url, docId, token);
    const b = provider(srv.url, docId, await fx.token(owner, docId));
    const c = provider(srv.url, docId, await fx.token(owner, docId));
    await Promise.all([synced(a), synced(b), synced(c)]);
    const closed: { code: number; reason: string }[] = [];
    a.on('closed', (e) => closed.push(e));
    const opensBefore = upgrades.length;
    a.doc.getText('t').insert(0, text(3 * MB));
    await waitFor(() => closed[0], { what: 'the stock client closed permanently' });
    expect(closed[0]!.code).toBe(CloseCode.MESSAGE_TOO_LARGE);
    expect(closed[0]!.reason).toMatch(/message too big/);
    // The edit stays on the client.
    expect(a.doc.getText('t').length).toBe(3 * MB);
    // Others keep co-editing meanwhile; the server answers its health check.
    b.doc.getText('t').insert(0, 'still here');
    await waitFor(() => c.doc.getText('t').toString() === 'still here', { what: 'others unaffected' });
    expect((await fetch(`http://127.0.0.1:${srv.port}/healthz`)).status).toBe(200);
    // Observe the window the issue names: a looping client would reconnect about four times a second.
    const until = Date.now() + 10_000;
    await waitFor(() => upgrades.length > opensBefore || Date.now() > until, { timeout: 11_000, interval: 100 });
    expect(upgrades.length).toBe(opensBefore);
    expect(a.wsconnected).toBe(false);
    a.destroy();
    b.destroy();
    c.destroy();
  }, 30_000);
});

describe("Tandem's client (CHUNK extension)", () => {
  it('a 20 MB edit reaches another client and a fresh one, is stored once, and no frame above the chunk size reaches the server', async () => {
    const docId = fx.doc(owner);
    const frames = watchInboundFrames(srv);
    const writer = await tandem(srv.url, docId, owner);
    const reader = await tandem(srv.url, docId, owner);
    await waitFor(() => writer.provider.synced && reader.provider.synced, { what: 'both synced' });
    const readerFrames = { max: 0 };
    (reader.provider.ws as unknown as WebSocket).on('message', (d: Buffer) => (readerFrames.max = Math.max(readerFrames.max, d.byteLength)));
    const progress: TransferProgress[] = [];
    writer.on('transfer', (p) => progress.push(p));
    const body = text(20 * MB);
    writer.provider.doc.getText('t').insert(0, body);
    await waitFor(() => reader.provider.doc.getText('t').length === body.length, { timeout: 60_000, what: '20 MB at the reader' });
    expect(sameState(writer.provider.doc, reader.provider.doc)).toBe(true);
    // The upload reported progress and finished.
    await waitFor(() => progress.some((p) => p.direction === 'up' && p.done && !p.aborted), { what: 'upload done' });
    expect(progress.filter((p) => p.direction === 'up' && !p.done).length).toBeGreaterThan(1);
    // Nothing above a chunk (plus its few bytes of framing) on the wire, either way.
    expect(frames.max).toBeLessThanOrEqual(CHUNK + 32);
    expect(readerFrames.max).toBeLessThanOrEqual(CHUNK + 32);

    const fresh = await tandem(srv.url, docId, owner);
    const freshProgress: TransferProgress[] = [];
    fresh.on('transfer', (p) => freshProgress.push(p));
    await waitFor(() => fresh.provider.doc.getText('t').length === body.length, { timeout: 60_000, what: '20 MB at a fresh client' });
    expect(sameState(writer.provider.doc, fresh.provider.doc)).toBe(true);
    // Its sync step 2 (the whole 20 MB document) came down in chunks too.
    expect(freshProgress.some((p) => p.direction === 'down' && p.done && !p.aborted)).toBe(true);

    // Stored once: one log row, then (compaction) one snapshot of about the edit's size.
    const sizes = () => fx.db.prepare<[string], { n: number }>('SELECT length(data) AS n FROM doc_updates WHERE doc_id = ?').all(docId).map((r) => r.n);
    expect(sizes().filter((n) => n > 10 * MB).length).toBeLessThanOrEqual(1);
    await waitFor(() => storedUpdateCount(fx, docId) === 0, { timeout: 20_000, what: 'compacted' });
    const snap = fx.db.prepare<[string], { n: number }>('SELECT length(data) AS n FROM doc_snapshots WHERE doc_id = ?').get(docId)!.n;
    expect(snap).toBeGreaterThan(body.length);
    expect(snap).toBeLessThan(body.length * 1.05);
    expect(await gauge()).toBe(0);
    for (const c of [writer, reader, fresh]) c.destroy();
  }, 120_000);

  it('5 MB of edits made offline sync on reconnect', async () => {
    const docId = fx.doc(owner);
    const a = await tandem(srv.url, docId, owner);
    const b = await tandem(srv.url, docId, owner);
    await waitFor(() => a.provider.synced && b.provider.synced, { what: 'both synced' });
    a.provider.disconnect();
    const t = a.provider.doc.getText('t');
    // Typing and pasting for a long while: many separate transactions.
    for (let i = 0; i < 50; i++) t.insert(t.length, text(100 * 1024, `p${i}`));
    expect(t.length).toBe(50 * 100 * 1024);
    a.provider.connect();
    await waitFor(() => b.provider.doc.getText('t').length === t.length, { timeout: 30_000, what: 'offline edits at the other client' });
    expect(sameState(a.provider.doc, b.provider.doc)).toBe(true);
    a.destroy();
    b.destroy();
  }, 60_000);
});

/** A raw socket that negotiated chunks. */
async function chunker(docId: string, userId: string): Promise<RawClient> {
  const c = await rawConnect(srv.url, docId, { token: await fx.token(userId, docId) });
  c.send(encode.chunkHello());
  await waitFor(() => c.received.some((r) => r.msg.kind === 'unknown' && r.msg.type === MessageType.CHUNK_HELLO), { what: 'chunks accepted' });
  await c.synced();
  return c;
}

function bigUpdate(bytes: number): Uint8Array {
  const d = new Y.Doc();
  d.getText('t').insert(0, text(bytes));
  return encode.update(Y.encodeStateAsUpdate(d));
}

describe('the server bounds chunked messages', () => {
  it("a viewer's chunked write is refused at the first chunk, and nothing of it is buffered or stored", async () => {
    const docId = fx.doc(owner);
    fx.grant(docId, viewer, 'viewer');
    const v = await chunker(docId, viewer);
    const chunks = encodeChunks(bigUpdate(5 * MB), CHUNK);
    v.ws.send(chunks[0]!);
    const denied = await waitFor(() => v.of('auth')[0], { what: 'permission-denied after the first chunk' });
    expect(denied.reason).toMatch(/read-only/);
    expect(await gauge()).toBe(0);
    for (const ch of chunks.slice(1)) v.ws.send(ch);
    // The rest is counted to its end (the stream stays well-formed), never kept.
    await waitFor(async () => (await srv.metrics.chunkedMessages.get()).values.some((x) => x.labels.result === 'refused' && x.value > 0), { what: 'refused message counted' }).catch(async (e) => {
      console.log(JSON.stringify((await srv.metrics.chunkedMessages.get()).values), v.closeInfo, srv.logs.lines.filter((l) => String(l.msg).includes('chunk')).slice(-5));
      throw e;
    });
    expect(await gauge()).toBe(0);
    expect(v.closeInfo).toBeNull();
    expect(storedUpdateCount(fx, docId)).toBe(0);
    const audit = fx.db.prepare<[string], { n: number }>("SELECT COUNT(*) AS n FROM audit WHERE action = 'write.refused' AND doc_id = ?").get(docId)!.n;
    expect(audit).toBeGreaterThan(0);
    v.close();
  });

  it('chunks past the declared total (chunks forever) close 4400 and free the buffer', async () => {
    const docId = fx.doc(owner);
    const c = await chunker(docId, owner);
    const msg = bigUpdate(600 * 1024);
    const chunks = encodeChunks(msg, CHUNK);
    c.ws.send(chunks[0]!);
    await waitFor(async () => (await gauge()) > 0, { what: 'first chunk buffered' });
    c.ws.send(chunks[1]!);
    c.ws.send(encode.chunk(2, msg.byteLength, new Uint8Array(CHUNK))); // runs past the total
    expect((await c.closed).code).toBe(CloseCode.BAD_CHUNKS);
    await waitFor(async () => (await gauge()) === 0, { what: 'buffer freed' });
    expect(storedUpdateCount(fx, docId)).toBe(0);
  });

  it('two chunked messages interleaved close 4400 and free the buffer', async () => {
    const docId = fx.doc(owner);
    const c = await chunker(docId, owner);
    const one = encodeChunks(bigUpdate(600 * 1024), CHUNK);
    const two = encodeChunks(bigUpdate(700 * 1024), CHUNK);
    c.ws.send(one[0]!);
    c.ws.send(two[0]!);
    const closed = await c.closed;
    expect(closed.code).toBe(CloseCode.BAD_CHUNKS);
    expect(closed.reason).toMatch(/before the previous one/);
    await waitFor(async () => (await gauge()) === 0, { what: 'buffer freed' });
  });

  it('a declared total that never arrives closes 4508 after the idle timeout and frees the buffer', async () => {
    const docId = fx.doc(owner);
    const c = await chunker(docId, owner);
    const chunks = encodeChunks(bigUpdate(2 * MB), CHUNK);
    c.ws.send(chunks[0]!);
    c.ws.send(chunks[1]!);
    await waitFor(async () => (await gauge()) === 2 * CHUNK, { what: 'two chunks buffered' });
    const closed = await c.closed;
    expect(closed.code).toBe(CloseCode.CHUNK_TIMEOUT);
    expect(await gauge()).toBe(0);
  });

  it('a declared total over the limit closes 4413 before anything is kept', async () => {
    const docId = fx.doc(owner);
    const c = await chunker(docId, owner);
    c.ws.send(encode.chunk(0, 65 * MB, new Uint8Array(1024)));
    const closed = await c.closed;
    expect(closed.code).toBe(CloseCode.MESSAGE_TOO_LARGE);
    expect(await gauge()).toBe(0);
  });
});

describe('the document size quota', () => {
  it('a write past DOC_MAX_BYTES is refused with a reason and audited; smaller writes before it and reading keep working', async () => {
    const small = await startServer(fx, { docMaxBytes: 1 * MB });
    try {
      const docId = fx.doc(owner);
      const w = await tandem(small.url, docId, owner);
      const denied: string[] = [];
      w.on('permission-denied', (r) => denied.push(r));
      await waitFor(() => w.provider.synced, { what: 'synced' });
      w.provider.doc.getText('t').insert(0, 'fits');
      await waitFor(() => storedUpdateCount(fx, docId) === 1, { what: 'small write stored' });
      w.provider.doc.getText('t').insert(4, text(2 * MB));
      await waitFor(() => denied[0], { what: 'quota refusal' });
      expect(denied[0]!.startsWith(`${DOC_TOO_LARGE_REASON}:`)).toBe(true);
      expect(denied[0]).toMatch(/may not grow past 1\.0 MB/);
      expect(storedUpdateCount(fx, docId)).toBe(1);
      const audit = fx.db.prepare<[string], { detail: string }>("SELECT detail FROM audit WHERE action = 'write.refused' AND doc_id = ?").all(docId);
      expect(audit.some((r) => r.detail.includes(DOC_TOO_LARGE_REASON))).toBe(true);
      // Reading stays possible.
      const r = provider(small.url, docId, await fx.token(owner, docId));
      await synced(r);
      expect(r.doc.getText('t').toString()).toBe('fits');
      r.destroy();
      w.destroy();
    } finally {
      await small.close();
    }
  });
});
