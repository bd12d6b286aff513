// A client cannot write under a Yjs client id held by another user's live connection: the write is
// refused (permission-denied, audited) and never stored or broadcast, so the victim's next edits,
// which reuse those clocks, are not mistaken for duplicates. The same user reconnecting may take
// over its own client id.
import { describe, expect, it } from 'vitest';
import { useServer } from '../helpers/suite';
import * as Y from 'yjs';
import * as encoding from 'lib0/encoding';
import { encode } from '../../lib/protocol';
import { MAX_CLIENT_IDS_PER_CONNECTION } from '../../collab-server/live-doc';
import { rawClient } from '../helpers/raw';
import { provider, sameState, synced, waitFor } from '../helpers/fixture';
import { rawConnect, storedDoc, type RawClient } from '../helpers/raw-client';

const s = useServer();
const { open, providers } = s;

const text = (d: Y.Doc) => d.getText('t').toString();

async function room() {
  const owner = s.fx.user();
  const alice = s.fx.user({ name: 'Alice' });
  const mallory = s.fx.user({ name: 'Mallory' });
  const docId = s.fx.doc(owner);
  s.fx.grant(docId, alice, 'editor');
  s.fx.grant(docId, mallory, 'editor');
  const aliceP = provider(s.srv.url, docId, await s.fx.token(alice, docId));
  providers.push(aliceP);
  const watcher = await rawConnect(s.srv.url, docId, { token: await s.fx.token(owner, docId) });
  open.push(watcher);
  await Promise.all([synced(aliceP), watcher.synced()]);
  aliceP.doc.getText('t').insert(0, 'alice-1 ');
  await waitFor(() => text(watcher.doc) === 'alice-1 ', { what: "Alice's first edit" });
  return { docId, alice, mallory, aliceP, watcher };
}

/** A raw client of `user` whose Y.Doc uses `clientId`, synced to the server's state but sending nothing by itself. */
async function impostor(user: string, docId: string, clientId: number): Promise<RawClient> {
  const c = await rawConnect(s.srv.url, docId, { token: await s.fx.token(user, docId), autoSend: false });
  open.push(c);
  await c.synced();
  // Set after syncing: Yjs picks a fresh id when a remote update touches the doc's own id.
  c.doc.clientID = clientId;
  return c;
}

/** Make a local edit on `c.doc` and return the update it produced. */
function edit(c: RawClient, f: (t: Y.Text) => void): Uint8Array {
  let u: Uint8Array | null = null;
  const h = (x: Uint8Array) => (u = x);
  c.doc.on('update', h);
  f(c.doc.getText('t'));
  c.doc.off('update', h);
  return u!;
}

const refusals = (docId: string, actor: string) =>
  s.fx.db.prepare<[string, string], { n: number }>("SELECT COUNT(*) AS n FROM audit WHERE doc_id = ? AND actor_id = ? AND action = 'write.refused'").get(docId, actor)!.n;

describe("writing under another user's live client id", () => {
  it.each(['update', 'sync-step2'] as const)('is refused as %s, never stored or broadcast, and the victim keeps editing', async (kind) => {
    const r = await room();
    const aliceId = r.aliceP.doc.clientID;
    const m = await impostor(r.mallory, r.docId, aliceId);
    expect(text(m.doc)).toBe('alice-1 ');
    // The next struct under Alice's id, exactly continuing her clock (no gap to hide behind).
    const u = edit(m, (t) => t.insert(t.length, 'MALLORY-AS-ALICE'));
    expect([...Y.parseUpdateMeta(u).from.keys()]).toEqual([aliceId]);
    m.send(kind === 'update' ? encode.update(u) : encode.syncStep2(u));
    const denied = await waitFor(() => m.of('auth')[0], { what: 'permission-denied' });
    expect(denied.reason).toMatch(/client id in use by another user/);

    // Alice's next edit uses the very clocks Mallory tried to take: it must be accepted everywhere.
    r.aliceP.doc.getText('t').insert(r.aliceP.doc.getText('t').length, 'alice-2');
    await waitFor(() => text(r.watcher.doc) === 'alice-1 alice-2', { what: "Alice's second edit reaches the watcher" });
    await waitFor(() => sameState(storedDoc(s.fx, r.docId), r.aliceP.doc), { what: "the store holds exactly Alice's document" });
    expect(text(storedDoc(s.fx, r.docId))).toBe('alice-1 alice-2');
    expect(text(r.watcher.doc)).not.toContain('MALLORY');
    expect(refusals(r.docId, r.mallory)).toBe(1);
  });

  it("an update mixing the sender's own structs with another user's client id is refused as a whole", async () => {
    const r = await room();
    const aliceId = r.aliceP.doc.clientID;
    const m = await impostor(r.mallory, r.docId, aliceId);
    const spoof = edit(m, (t) => t.insert(t.length, 'SPOOF'));
    m.doc.clientID = 424242; // Mallory's "own" id for the second half
    const own = edit(m, (t) => t.insert(0, 'OWN'));
    m.send(encode.update(Y.mergeUpdates([spoof, own])));
    await waitFor(() => m.of('auth')[0], { what: 'permission-denied' });
    r.aliceP.doc.getText('t').insert(0, 'later ');
    await waitFor(() => text(r.watcher.doc) === 'later alice-1 ', { what: "Alice's later edit" });
    await waitFor(() => text(storedDoc(s.fx, r.docId)) === 'later alice-1 ', { what: "Alice's later edit stored" });
    expect(text(r.watcher.doc)).not.toMatch(/OWN|SPOOF/);
  });
});

describe('the same user reconnecting', () => {
  it('may take over its own client id from a connection that is still open', async () => {
    const owner = s.fx.user();
    const alice = s.fx.user({ name: 'Alice' });
    const mallory = s.fx.user({ name: 'Mallory' });
    const docId = s.fx.doc(owner);
    s.fx.grant(docId, alice, 'editor');
    s.fx.grant(docId, mallory, 'editor');
    // Alice's first socket is a raw client: a stock provider that saw its own id used elsewhere
    // would (rightly) switch to a fresh id, which is not what this test is about.
    const first = await rawConnect(s.srv.url, docId, { token: await s.fx.token(alice, docId) });
    const watcher = await rawConnect(s.srv.url, docId, { token: await s.fx.token(owner, docId) });
    open.push(first, watcher);
    await Promise.all([first.synced(), watcher.synced()]);
    first.doc.getText('t').insert(0, 'alice-1 ');
    await waitFor(() => text(watcher.doc) === 'alice-1 ', { what: "Alice's first edit" });
    const r = { docId, alice, mallory, watcher };
    const aliceId = first.doc.clientID;
    // Alice's new socket (e.g. a reconnect before the old one was reaped) with her Y.Doc's id.
    const again = await impostor(r.alice, r.docId, aliceId);
    again.send(encode.update(edit(again, (t) => t.insert(t.length, 'from-new-socket'))));
    await waitFor(() => text(r.watcher.doc) === 'alice-1 from-new-socket', { what: 'the takeover write reaches the watcher' });
    await waitFor(() => text(storedDoc(s.fx, r.docId)) === 'alice-1 from-new-socket', { what: 'the takeover write is stored' });
    expect(again.of('auth')).toEqual([]);
    expect(refusals(r.docId, r.alice)).toBe(0);

    // Now the id belongs to Alice's new socket: Mallory still cannot take it.
    const m = await impostor(r.mallory, r.docId, aliceId);
    m.send(encode.update(edit(m, (t) => t.insert(0, 'NOPE'))));
    await waitFor(() => m.of('auth')[0], { what: 'permission-denied for Mallory' });
    again.send(encode.update(edit(again, (t) => t.insert(t.length, '!'))));
    await waitFor(() => text(r.watcher.doc).endsWith('!'), { what: "Alice's next write" });
    expect(text(r.watcher.doc)).not.toContain('NOPE');
  });
});

describe('while the owner of a client id is offline (the reconnect window)', () => {
  /** Alice drops her socket (network blip) and types while offline; resolves once the server let go of it. */
  async function aliceGoesOffline(r: Awaited<ReturnType<typeof room>>) {
    r.aliceP.disconnect();
    await waitFor(() => ![...s.srv.server.connections].some((c) => c.userId === r.alice), { what: "the server dropped Alice's socket" });
    r.aliceP.doc.getText('t').insert(r.aliceP.doc.getText('t').length, 'OFFLINE');
  }

  it("a viewer's presence claim on an offline editor's client id does not lock her out", async () => {
    const r = await room();
    const viewer = s.fx.user();
    s.fx.grant(r.docId, viewer, 'viewer');
    const aliceId = r.aliceP.doc.clientID;
    const m = await rawConnect(s.srv.url, r.docId, { token: await s.fx.token(viewer, r.docId) });
    open.push(m);
    await m.synced();
    await aliceGoesOffline(r);
    const e = encoding.createEncoder();
    encoding.writeVarUint(e, 1);
    encoding.writeVarUint(e, aliceId);
    encoding.writeVarUint(e, 1_000_000);
    encoding.writeVarString(e, JSON.stringify({ marker: 'SQUATTED' }));
    m.send(encode.awareness(encoding.toUint8Array(e)));
    // Alice comes back with the same Y.Doc (same client id) and her offline edit.
    r.aliceP.connect();
    await waitFor(() => text(r.watcher.doc) === 'alice-1 OFFLINE', { what: "Alice's offline edit reaches the watcher" });
    await waitFor(() => sameState(storedDoc(s.fx, r.docId), r.aliceP.doc), { what: "Alice's offline edit is stored" });
    expect(r.watcher.awareness.getStates().get(aliceId)?.marker).not.toBe('SQUATTED');
  });

  it("an editor cannot write under an offline user's client id (her offline edit would diverge or vanish)", async () => {
    const r = await room();
    const aliceId = r.aliceP.doc.clientID;
    const m = await impostor(r.mallory, r.docId, aliceId);
    await aliceGoesOffline(r);
    m.send(encode.update(edit(m, (t) => t.insert(t.length, 'EVIL'))));
    const denied = await waitFor(() => m.of('auth')[0], { what: 'permission-denied' });
    expect(denied.reason).toMatch(/client id in use by another user/);
    r.aliceP.connect();
    await waitFor(() => text(r.watcher.doc) === 'alice-1 OFFLINE', { what: "Alice's offline edit reaches the watcher" });
    await waitFor(() => sameState(storedDoc(s.fx, r.docId), r.aliceP.doc), { what: "the store holds exactly Alice's document" });
    expect(sameState(r.watcher.doc, r.aliceP.doc)).toBe(true);
  });
});

describe('client ids per connection', () => {
  it(`a socket cannot claim more than ${MAX_CLIENT_IDS_PER_CONNECTION} client ids (presence or writes)`, async () => {
    const owner = s.fx.user();
    const docId = s.fx.doc(owner);
    const c = await rawClient(s.srv.url, docId, await s.fx.token(owner, docId));
    await waitFor(() => c.received.length > 0);
    const ids = Array.from({ length: MAX_CLIENT_IDS_PER_CONNECTION + 4 }, (_, i) => 1000 + i);
    for (const id of ids) {
      const e = encoding.createEncoder();
      encoding.writeVarUint(e, 1);
      encoding.writeVarUint(e, id);
      encoding.writeVarUint(e, 1);
      encoding.writeVarString(e, JSON.stringify({ user: { name: 'x' } }));
      c.ws.send(encode.awareness(encoding.toUint8Array(e)));
    }
    // A write under one more new id is refused too.
    const d = new Y.Doc();
    d.clientID = 5000;
    d.getText('t').insert(0, 'extra id');
    c.ws.send(encode.update(Y.encodeStateAsUpdate(d)));
    const live = await waitFor(() => s.srv.server.registry.peek(docId));
    await waitFor(() => c.received.some((f) => f[0] === 2), { what: 'permission denied for the extra id' });
    expect(live.awareness.getStates().size).toBe(MAX_CLIENT_IDS_PER_CONNECTION);
    expect(live.doc.getText('t').toString()).toBe('');
    c.ws.terminate();
  });
});
