// A client cannot spoof another user's presence: awareness entries for a client id held by another
// user's live connection are dropped (set and clear alike), and the `user.name` / `user.id` that
// others see is always the token's identity, whatever the client put in its state.
import { describe, expect, it } from 'vitest';
import { useServer } from '../helpers/suite';
import * as encoding from 'lib0/encoding';
import type { WebsocketProvider } from 'y-websocket';
import { encode } from '../../lib/protocol';
import { provider, synced, waitFor } from '../helpers/fixture';
import { rawConnect, type RawClient } from '../helpers/raw-client';

const s = useServer();
const { open, providers } = s;

/** An awareness update with the given entries (state null = "this client left"). */
function awarenessFrame(entries: { clientId: number; clock: number; state: unknown }[]): Uint8Array {
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, entries.length);
  for (const x of entries) {
    encoding.writeVarUint(e, x.clientId);
    encoding.writeVarUint(e, x.clock);
    encoding.writeVarString(e, JSON.stringify(x.state));
  }
  return encode.awareness(encoding.toUint8Array(e));
}

interface Room {
  docId: string;
  alice: string;
  mallory: string;
  aliceP: WebsocketProvider;
  watcher: RawClient;
}

async function room(): Promise<Room> {
  const owner = s.fx.user({ name: 'Olive Owner' });
  const alice = s.fx.user({ name: 'Alice Real' });
  const mallory = s.fx.user({ name: 'Mallory Real' });
  const docId = s.fx.doc(owner);
  s.fx.grant(docId, alice, 'editor');
  s.fx.grant(docId, mallory, 'editor');
  const aliceP = provider(s.srv.url, docId, await s.fx.token(alice, docId));
  providers.push(aliceP);
  aliceP.awareness.setLocalState({ user: { name: 'Alice Real', color: '#f00' }, marker: 'alice-cursor' });
  const watcher = await rawConnect(s.srv.url, docId, { token: await s.fx.token(owner, docId) });
  open.push(watcher);
  await Promise.all([synced(aliceP), watcher.synced()]);
  await waitFor(() => watcher.awareness.getStates().get(aliceP.doc.clientID), { what: "the watcher sees Alice's presence" });
  return { docId, alice, mallory, aliceP, watcher };
}

describe('presence identity', () => {
  it("the user others see is the token's identity, even if the client claims to be someone else", async () => {
    const r = await room();
    const malloryP = provider(s.srv.url, r.docId, await s.fx.token(r.mallory, r.docId));
    providers.push(malloryP);
    malloryP.awareness.setLocalState({ user: { name: 'Alice Real', id: r.alice, color: '#00f' }, marker: 'm' });
    await synced(malloryP);
    const seen = await waitFor(() => r.watcher.awareness.getStates().get(malloryP.doc.clientID), { what: "Mallory's presence" });
    expect(seen.user).toEqual({ name: 'Mallory Real', id: r.mallory, color: '#00f' });
    expect(seen.marker).toBe('m');
    // Alice's own presence also carries her id from the token.
    expect(r.watcher.awareness.getStates().get(r.aliceP.doc.clientID)!.user).toEqual({ name: 'Alice Real', id: r.alice, color: '#f00' });
  });

  it('a state without a user object still gets the token identity', async () => {
    const r = await room();
    const m = await rawConnect(s.srv.url, r.docId, { token: await s.fx.token(r.mallory, r.docId) });
    open.push(m);
    await m.synced();
    m.send(awarenessFrame([{ clientId: m.doc.clientID, clock: 1, state: { user: 'Alice Real' } }]));
    const seen = await waitFor(() => r.watcher.awareness.getStates().get(m.doc.clientID), { what: "Mallory's presence" });
    expect(seen.user).toEqual({ name: 'Mallory Real', id: r.mallory });
  });
});

describe("another user's client id", () => {
  it("awareness for a client id held by another user's live connection is dropped; the sender's own entry in the same frame is kept", async () => {
    const r = await room();
    const aliceId = r.aliceP.doc.clientID;
    const m = await rawConnect(s.srv.url, r.docId, { token: await s.fx.token(r.mallory, r.docId) });
    open.push(m);
    await m.synced();
    m.send(
      awarenessFrame([
        { clientId: aliceId, clock: 1000, state: { user: { name: 'Alice Real' }, marker: 'SPOOFED' } },
        { clientId: m.doc.clientID, clock: 1, state: { marker: 'mallory-1' } },
      ]),
    );
    await waitFor(() => r.watcher.awareness.getStates().get(m.doc.clientID)?.marker === 'mallory-1', { what: "Mallory's own entry" });
    expect(r.watcher.awareness.getStates().get(aliceId)!.marker).toBe('alice-cursor');

    // Clearing Alice's presence (state null: "Alice left") is refused too; a later own entry is the marker.
    m.send(awarenessFrame([{ clientId: aliceId, clock: 2000, state: null }]));
    m.send(awarenessFrame([{ clientId: m.doc.clientID, clock: 2, state: { marker: 'mallory-2' } }]));
    await waitFor(() => r.watcher.awareness.getStates().get(m.doc.clientID)?.marker === 'mallory-2', { what: "Mallory's second entry" });
    const alice = r.watcher.awareness.getStates().get(aliceId);
    expect(alice?.marker).toBe('alice-cursor');
    expect(alice?.user).toEqual({ name: 'Alice Real', id: r.alice, color: '#f00' });
    // The server's own view (what late joiners get) is untouched as well.
    const live = s.srv.server.registry.peek(r.docId)!;
    expect(live.awareness.getStates().get(aliceId)?.marker).toBe('alice-cursor');
    expect(m.closeInfo).toBeNull();
  });

  it('Alice keeps updating her own presence after the spoof attempt', async () => {
    const r = await room();
    const aliceId = r.aliceP.doc.clientID;
    const m = await rawConnect(s.srv.url, r.docId, { token: await s.fx.token(r.mallory, r.docId) });
    open.push(m);
    await m.synced();
    m.send(awarenessFrame([{ clientId: aliceId, clock: 1_000_000, state: { marker: 'SPOOFED' } }]));
    r.aliceP.awareness.setLocalStateField('marker', 'alice-moved');
    await waitFor(() => r.watcher.awareness.getStates().get(aliceId)?.marker === 'alice-moved', { what: "Alice's own update" });
  });
});
