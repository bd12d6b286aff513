// The SSE + POST fallback transport (issue 15) on one collab-server: an SSE client and a stock
// WebSocket client co-edit and converge; a POST retried after a lost response applies, counts and
// audits nothing twice; a stream resumed with Last-Event-ID misses nothing; a viewer's POSTed write
// is refused exactly as over a WebSocket; revoking access closes the stream (4403) within 1 s.
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import WebSocket from 'ws';
import { CollabClient } from '../../lib/collab-client';
import { encode } from '../../lib/protocol';
import { createFixture, provider, sameState, startServer, synced, waitFor, type Fixture, type InProcessServer } from '../helpers/fixture';
import { counterValue, storedDoc, storedUpdateCount } from '../helpers/raw-client';
import { RawSse } from '../helpers/raw-sse';
import { startUpgradeGate } from '../helpers/upgrade-gate';
import { afterAll, beforeAll } from 'vitest';
import type { WebsocketProvider } from 'y-websocket';

let fx: Fixture;
let srv: InProcessServer;
let http: string;
const open: { close(): void }[] = [];
const providers: WebsocketProvider[] = [];
const clients: CollabClient[] = [];

beforeAll(async () => {
  fx = await createFixture();
  srv = await startServer(fx, { sse: { replayBytes: 256 * 1024, resumeMs: 5000 }, refusalAuditIntervalMs: 100 });
  http = srv.url.replace('ws:', 'http:');
});
afterAll(async () => {
  for (const c of clients) c.destroy();
  for (const c of open) c.close();
  for (const p of providers) p.destroy();
  await srv.close();
  fx.cleanup();
});

async function sse(user: string, docId: string): Promise<RawSse> {
  const c = new RawSse(http, docId, await fx.token(user, docId));
  open.push(c);
  await c.open();
  return c;
}
const text = (d: Y.Doc) => d.getText('t').toString();
const refusalRows = (docId: string, actor: string) =>
  fx.db.prepare<[string, string], { detail: string }>("SELECT detail FROM audit WHERE doc_id = ? AND actor_id = ? AND action = 'write.refused'").all(docId, actor);

describe('SSE + POST transport', () => {
  it('a stock WebSocket client and an SSE client (CollabClient over SSE) co-edit one document and converge', async () => {
    const a = fx.user();
    const b = fx.user();
    const docId = fx.doc(a);
    fx.grant(docId, b, 'editor');
    const ws = provider(srv.url, docId, await fx.token(a, docId));
    providers.push(ws);
    const docB = new Y.Doc();
    const c = await CollabClient.connect({ docId, doc: docB, disableBc: true, transport: 'sse', getToken: async () => ({ token: await fx.token(b, docId), url: srv.url, expiresAt: Date.now() + 300_000 }) });
    clients.push(c);
    await synced(ws);
    await waitFor(() => c.provider.synced, { what: 'the SSE client synced' });
    expect(c.status.transport).toBe('sse');
    for (let i = 0; i < 20; i++) {
      ws.doc.getText('t').insert(0, 'w');
      docB.getText('t').insert(docB.getText('t').length, 's');
    }
    await waitFor(() => sameState(ws.doc, docB) && text(docB).length === 40, { what: 'both converge' });
    await waitFor(() => sameState(storedDoc(fx, docId), docB), { what: 'the store has it all' });
    // Presence crosses the transports too.
    c.provider.awareness.setLocalStateField('user', { name: 'B', color: '#abc' });
    await waitFor(() => [...ws.awareness.getStates().values()].some((s) => (s.user as { name?: string } | undefined)?.name), { what: "the SSE client's presence reaches the WebSocket client" });
  });

  it('a POST retried after a lost response applies once: one stored update, one counted message, one audit row', async () => {
    const owner = fx.user();
    const viewer = fx.user();
    const docId = fx.doc(owner);
    fx.grant(docId, viewer, 'viewer');
    const c = await sse(owner, docId);
    await waitFor(() => c.of('sync-step1').length, { what: 'server step 1' });
    const before = storedUpdateCount(fx, docId);
    const updatesIn = async () => (await srv.metrics.messagesIn.get()).values.filter((v) => v.labels.type === 'update').reduce((n, v) => n + v.value, 0);
    const countedBefore = await updatesIn();
    const d = new Y.Doc();
    d.getText('t').insert(0, 'ONCE');
    const frame = encode.update(Y.encodeStateAsUpdate(d));
    const first = c.nextId;
    c.nextId++;
    const r1 = await c.post([frame], first);
    // The response was "lost": the client sends the same batch again.
    const r2 = await c.post([frame], first);
    expect([r1.status, r2.status]).toEqual([200, 200]);
    expect(r2.next).toBe(first + 1);
    const sseEvents = async (event: string) => (await srv.metrics.sse.get()).values.filter((v) => v.labels.event === event).reduce((n, v) => n + v.value, 0);
    expect(await sseEvents('duplicate')).toBeGreaterThanOrEqual(1);
    await waitFor(() => storedUpdateCount(fx, docId) > before, { what: 'the update is stored' });
    expect(storedUpdateCount(fx, docId)).toBe(before + 1);
    expect(await updatesIn()).toBe(countedBefore + 1);
    expect(text(storedDoc(fx, docId))).toBe('ONCE');

    // A viewer's refused write, retried: audited once with count 1.
    const v = await sse(viewer, docId);
    await waitFor(() => v.of('sync-step1').length, { what: 'viewer step 1' });
    const w = new Y.Doc();
    w.getText('t').insert(0, 'VIEWER');
    const vf = encode.update(Y.encodeStateAsUpdate(w));
    const vid = v.nextId++;
    await v.post([vf], vid);
    await v.post([vf], vid);
    await waitFor(() => refusalRows(docId, viewer).length, { what: 'the refusal audit row' });
    await new Promise((r) => setImmediate(r));
    const rows = refusalRows(docId, viewer);
    expect(rows).toHaveLength(1);
    expect(JSON.parse(rows[0]!.detail).count).toBe(1);
    expect(v.of('auth')).toHaveLength(1);
    // A gap is refused with the id the server expects.
    const gap = await v.post([vf], vid + 5);
    expect(gap).toEqual({ status: 409, next: vid + 1 });
  });

  it('an SSE stream resumed with Last-Event-ID misses nothing, in order', async () => {
    const a = fx.user();
    const docId = fx.doc(a);
    const reader = await sse(a, docId);
    const writer = provider(srv.url, docId, await fx.token(a, docId));
    providers.push(writer);
    await synced(writer);
    writer.doc.getText('t').insert(0, 'before ');
    await waitFor(() => text(reader.doc) === 'before ', { what: 'first edit arrives' });
    const lastSeen = reader.events.at(-1)!.id;
    reader.drop();
    await waitFor(() => reader.ended, { what: 'stream cut' });
    for (let i = 0; i < 10; i++) writer.doc.getText('t').insert(writer.doc.getText('t').length, `${i}`);
    await waitFor(() => storedDoc(fx, docId).getText('t').length === 17, { what: 'edits stored while the reader is away' });
    const r = await reader.open(lastSeen);
    expect(r.resumed).toBe(true);
    await waitFor(() => sameState(reader.doc, writer.doc), { what: 'the reader has every edit from the replay alone' });
    const ids = reader.events.map((e) => e.id);
    expect(ids).toEqual(ids.map((_, i) => ids[0]! + i)); // no gap, no repeat
    expect(reader.of('sync-step1')).toHaveLength(1); // no resync was needed

    // Asking for events no longer kept ends the stream with 1001: the client resyncs on a new session.
    reader.drop();
    await waitFor(() => reader.ended, { what: 'stream cut again' });
    const tooOld = new RawSse(http, docId, reader.token);
    tooOld.sid = reader.sid;
    open.push(tooOld);
    void tooOld.open(-5).catch(() => {});
    await waitFor(() => tooOld.closeInfo, { what: 'close event for a resume that cannot be served' });
    expect(tooOld.closeInfo!.code).toBe(1001);
  });

  it("a viewer's write over POST is refused exactly as over WebSocket: permission-denied, nothing stored or broadcast", async () => {
    const owner = fx.user();
    const viewer = fx.user();
    const docId = fx.doc(owner);
    fx.grant(docId, viewer, 'viewer');
    const ownerP = provider(srv.url, docId, await fx.token(owner, docId));
    providers.push(ownerP);
    await synced(ownerP);
    const v = await sse(viewer, docId);
    await waitFor(() => v.of('sync-step1').length, { what: 'viewer step 1' });
    v.doc.getText('t').insert(0, 'VIEWER-WRITE');
    const denied = await waitFor(() => v.of('auth')[0], { what: 'permission-denied over the stream' });
    expect(denied.reason).toMatch(/read-only/);
    ownerP.doc.getText('t').insert(0, 'OWNER');
    await waitFor(() => text(v.doc).includes('OWNER'), { what: 'viewers still see live edits' });
    expect(text(ownerP.doc)).toBe('OWNER');
    expect(text(storedDoc(fx, docId))).toBe('OWNER');
    expect(v.closeInfo).toBeNull();
    await waitFor(() => refusalRows(docId, viewer).length, { what: 'audited' });
  });

  it('revoking access closes the SSE stream with 4403 within 1 s', async () => {
    const owner = fx.user();
    const other = fx.user();
    const docId = fx.doc(owner);
    fx.grant(docId, other, 'editor');
    const c = await sse(other, docId);
    await waitFor(() => c.of('sync-step1').length, { what: 'synced' });
    const t0 = Date.now();
    fx.grant(docId, other, null);
    await waitFor(() => c.closeInfo, { timeout: 1000, interval: 10, what: 'the close event within 1 s' });
    expect(c.closeInfo!.code).toBe(4403);
    await waitFor(() => c.ended, { timeout: 1000, what: 'the stream ended' });
    expect(Date.now() - t0).toBeLessThan(1000);
    // Its session is gone: a POST now gets 404 (the client would open a new session, refused 4403).
    expect((await c.post([encode.update(new Uint8Array([0, 0]))])).status).toBe(404);
  });

  it('sockets that open but keep dying within seconds (a proxy cutting them): auto mode settles on SSE and keeps editing', async () => {
    const a = fx.user();
    const docId = fx.doc(a);
    const gate = await startUpgradeGate(srv.port);
    gate.cutUpgradedAfterMs = 300;
    try {
      const doc = new Y.Doc();
      const c = await CollabClient.connect({
        docId, doc, disableBc: true, WebSocketPolyfill: WebSocket, transport: 'auto', retryWebSocketMs: 60_000,
        getToken: async () => ({ token: await fx.token(a, docId), url: gate.wsUrl, expiresAt: Date.now() + 300_000 }),
      });
      clients.push(c);
      await waitFor(() => c.provider.synced && c.status.transport === 'sse', { timeout: 15_000, what: 'settled on SSE' });
      expect(gate.upgrades).toBeGreaterThanOrEqual(2);
      doc.getText('t').insert(0, 'still editing');
      await waitFor(() => text(storedDoc(fx, docId)) === 'still editing', { what: 'stored over SSE' });
      // The SSE connection is not cut: no status change for three times the sockets' 300 ms lifetime.
      const changes: string[] = [];
      c.on('status', (st) => changes.push(`${st.state}/${st.transport}`));
      const settled = Date.now();
      await waitFor(() => changes.length > 0 || Date.now() - settled > 900, { what: 'a quiet period or a status change' });
      expect(changes).toEqual([]);
      expect(c.status.transport).toBe('sse');
    } finally {
      await gate.close();
    }
  });

  it('WebSocket upgrades refused: CollabClient in auto mode falls back to SSE, then returns to WebSocket when they work again', async () => {
    const a = fx.user();
    const docId = fx.doc(a);
    let upgrades = false;
    const s2 = await startServer(fx, { sse: { replayBytes: 256 * 1024, resumeMs: 5000 }, websocketUpgrades: () => upgrades });
    try {
      const doc = new Y.Doc();
      const c = await CollabClient.connect({
        docId, doc, disableBc: true, WebSocketPolyfill: WebSocket, transport: 'auto', retryWebSocketMs: 500,
        getToken: async () => ({ token: await fx.token(a, docId), url: s2.url, expiresAt: Date.now() + 300_000 }),
      });
      clients.push(c);
      await waitFor(() => c.provider.synced && c.status.transport === 'sse', { what: 'synced over SSE' });
      doc.getText('t').insert(0, 'over SSE. ');
      await waitFor(() => text(storedDoc(fx, docId)) === 'over SSE. ', { what: 'stored over SSE' });
      upgrades = true;
      await waitFor(() => c.provider.synced && c.status.transport === 'websocket', { timeout: 10_000, what: 'back on WebSocket' });
      doc.getText('t').insert(doc.getText('t').length, 'over WS.');
      await waitFor(() => text(storedDoc(fx, docId)) === 'over SSE. over WS.', { what: 'nothing lost across the switch' });
    } finally {
      await s2.close();
    }
  });
});
