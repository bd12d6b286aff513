// Frames that arrive before authorization completes are queued, never applied: with an invalid
// token they never reach the store or other clients; with a valid one they are applied, in order,
// once authorized. The queue is bounded by frame count and bytes (close 1008), and by time (4401).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import type { WebsocketProvider } from 'y-websocket';
import { CloseCode } from '../../lib/close-codes';
import { encode } from '../../lib/protocol';
import type { Connection } from '../../collab-server/connection';
import { createFixture, provider, startServer, synced, waitFor, type Fixture, type InProcessServer } from '../helpers/fixture';
import { gatedAuth, rawConnect, storedDoc, storedUpdateCount, type RawClient } from '../helpers/raw-client';

const MAX_FRAMES = 8;
const MAX_BYTES = 4096;

let fx: Fixture;
let gate: Awaited<ReturnType<typeof gatedAuth>>;
let srv: InProcessServer;
let owner: string;
const open: RawClient[] = [];
const providers: WebsocketProvider[] = [];

beforeAll(async () => {
  fx = await createFixture();
  gate = await gatedAuth(fx);
  srv = await startServer(fx, { auth: gate.auth, preauth: { maxFrames: MAX_FRAMES, maxBytes: MAX_BYTES, timeoutMs: 10_000 } });
  owner = fx.user({ name: 'Olive Owner' });
});
afterAll(async () => {
  for (const c of open) c.close();
  for (const p of providers) p.destroy();
  gate.releaseAll();
  await srv.close();
  gate.close();
  fx.cleanup();
});

/** White-box: frames waiting in a not-yet-authorized connection's pre-auth queue. */
const queued = (c: Connection) => (c as unknown as { preauthQueue: Uint8Array[] | null }).preauthQueue?.length ?? -1;
const pendingConn = () => [...srv.server.connections].find((c) => !c.authorized && !c.closed);

async function editor(docId: string): Promise<WebsocketProvider> {
  const p = provider(srv.url, docId, await fx.token(owner, docId));
  providers.push(p);
  await synced(p);
  return p;
}

/** An update frame inserting `text` from a fresh client (no dependency on anything the server holds). */
function insertFrame(text: string, doc = new Y.Doc()): Uint8Array {
  let u: Uint8Array | null = null;
  doc.once('update', (x: Uint8Array) => (u = x));
  doc.getText('t').insert(doc.getText('t').length, text);
  return encode.update(u!);
}

describe('frames before authorization', () => {
  it('an update sent with an invalid token while authorization is pending never reaches the store or other clients', async () => {
    const docId = fx.doc(owner);
    const [a, b] = [await editor(docId), await editor(docId)];
    const bad = (await fx.token(owner, docId)).replace(/\.[^.]+$/, '.c2lnbmF0dXJl');
    const held = gate.hold(bad);
    const attacker = await rawConnect(srv.url, docId, { token: bad, autoSync: false, autoSend: false });
    open.push(attacker);
    attacker.send(insertFrame('INJECTED'));
    const conn = await waitFor(() => {
      const c = pendingConn();
      return c && queued(c) === 1 ? c : null;
    }, { what: 'the frame is in the pre-auth queue' });
    expect(held.arrived).toBe(true);
    expect(conn.authorized).toBe(false);
    held.release();
    const closed = await attacker.closed;
    expect(closed.code).toBe(CloseCode.UNAUTHORIZED);
    expect(closed.reason).toMatch(/signature/);

    // A later accepted edit reaches A: anything the attacker's frame did would have happened first.
    b.doc.getText('t').insert(0, 'LATER');
    await waitFor(() => a.doc.getText('t').toString().includes('LATER'), { what: 'the later edit reaches A' });
    await waitFor(() => storedDoc(fx, docId).getText('t').toString() === 'LATER', { what: 'the later edit is stored' });
    expect(a.doc.getText('t').toString()).toBe('LATER');
    expect(storedUpdateCount(fx, docId)).toBe(1);
  });

  it('a burst of updates sent on open with an invalid token (no gate) is never applied', async () => {
    const docId = fx.doc(owner);
    const [a, b] = [await editor(docId), await editor(docId)];
    const bad = (await fx.token(owner, docId)).replace(/\.[^.]+$/, '.c2lnbmF0dXJl');
    const attacker = await rawConnect(srv.url, docId, { token: bad, autoSync: false, autoSend: false });
    open.push(attacker);
    const d = new Y.Doc();
    for (let i = 0; i < MAX_FRAMES - 1; i++) attacker.send(insertFrame(`X${i}`, d));
    expect((await attacker.closed).code).toBe(CloseCode.UNAUTHORIZED);
    b.doc.getText('t').insert(0, 'LATER');
    await waitFor(() => a.doc.getText('t').toString().includes('LATER'), { what: 'the later edit reaches A' });
    await waitFor(() => storedUpdateCount(fx, docId) === 1, { what: 'the later edit is stored' });
    expect(a.doc.getText('t').toString()).toBe('LATER');
    expect(storedDoc(fx, docId).getText('t').toString()).toBe('LATER');
  });

  it('with a valid token, frames queued before authorization are applied after it, in order', async () => {
    const docId = fx.doc(owner);
    const a = await editor(docId);
    const token = await fx.token(owner, docId);
    const held = gate.hold(token);
    const early = await rawConnect(srv.url, docId, { token, autoSync: false, autoSend: false });
    open.push(early);
    const d = new Y.Doc();
    for (const s of ['one ', 'two ', 'three']) early.send(insertFrame(s, d));
    await waitFor(() => {
      const c = pendingConn();
      return c && queued(c) === 3;
    }, { what: 'three frames in the pre-auth queue' });
    // Not applied while authorization is pending.
    expect(a.doc.getText('t').toString()).toBe('');
    expect(storedUpdateCount(fx, docId)).toBe(0);
    held.release();
    await waitFor(() => a.doc.getText('t').toString() === 'one two three', { what: 'queued frames applied in order' });
    await waitFor(() => sameText(storedDoc(fx, docId), 'one two three'), { what: 'queued frames stored' });
    expect(early.closeInfo).toBeNull();
  });
});

const sameText = (d: Y.Doc, s: string) => d.getText('t').toString() === s;

describe('the pre-auth queue is bounded', () => {
  it(`more than ${MAX_FRAMES} frames before authorization closes the socket with 1008`, async () => {
    const docId = fx.doc(owner);
    const token = await fx.token(owner, docId);
    gate.hold(token);
    const c = await rawConnect(srv.url, docId, { token, autoSync: false, autoSend: false });
    open.push(c);
    const d = new Y.Doc();
    for (let i = 0; i <= MAX_FRAMES; i++) c.send(insertFrame(`f${i}`, d));
    const closed = await c.closed;
    expect(closed.code).toBe(CloseCode.POLICY_VIOLATION);
    expect(closed.reason).toMatch(/before authorization/);
    expect(storedUpdateCount(fx, docId)).toBe(0);
  });

  it(`exactly ${MAX_FRAMES} frames are still queued (the bound is not off by one)`, async () => {
    const docId = fx.doc(owner);
    const token = await fx.token(owner, docId);
    const held = gate.hold(token);
    const c = await rawConnect(srv.url, docId, { token, autoSync: false, autoSend: false });
    open.push(c);
    const d = new Y.Doc();
    for (let i = 0; i < MAX_FRAMES; i++) c.send(insertFrame(`${i}`, d));
    await waitFor(() => {
      const p = pendingConn();
      return p && queued(p) === MAX_FRAMES;
    }, { what: 'all frames queued' });
    held.release();
    await waitFor(() => storedDoc(fx, docId).getText('t').toString() === '01234567', { what: 'all queued frames stored' });
    expect(c.closeInfo).toBeNull();
  });

  it(`more than ${MAX_BYTES} bytes before authorization closes the socket with 1008`, async () => {
    const docId = fx.doc(owner);
    const token = await fx.token(owner, docId);
    gate.hold(token);
    const c = await rawConnect(srv.url, docId, { token, autoSync: false, autoSend: false });
    open.push(c);
    const d = new Y.Doc();
    c.send(insertFrame('a'.repeat(MAX_BYTES / 2), d));
    c.send(insertFrame('b'.repeat(MAX_BYTES / 2), d));
    const closed = await c.closed;
    expect(closed.code).toBe(CloseCode.POLICY_VIOLATION);
    expect(storedUpdateCount(fx, docId)).toBe(0);
  });

  it('a socket whose authorization never completes is closed 4401 after the pre-auth timeout', async () => {
    const quick = await startServer(fx, { auth: gate.auth, preauth: { maxFrames: MAX_FRAMES, maxBytes: MAX_BYTES, timeoutMs: 300 } });
    try {
      const docId = fx.doc(owner);
      const token = await fx.token(owner, docId);
      gate.hold(token);
      const c = await rawConnect(quick.url, docId, { token, autoSync: false, autoSend: false });
      open.push(c);
      c.send(insertFrame('never'));
      const closed = await c.closed;
      expect(closed.code).toBe(CloseCode.UNAUTHORIZED);
      expect(closed.reason).toMatch(/timed out/);
      expect(storedUpdateCount(fx, docId)).toBe(0);
    } finally {
      await quick.close();
    }
  });
});
