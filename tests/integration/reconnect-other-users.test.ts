// An everyday reconnect with other users present: Alice drops off (network blip), edits offline and
// comes back with the same Y.Doc (so the same Yjs client id) while Bob, another user on a stock
// provider (which echoes awareness changes it receives), stays connected. The client-id binding
// (live-doc.ts `idUsers`) must never refuse Alice her own id: everything she typed converges.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebsocketProvider } from 'y-websocket';
import { MessageType } from '../../lib/protocol';
import * as decoding from 'lib0/decoding';
import { createFixture, provider, sameState, startServer, synced, waitFor, type Fixture, type InProcessServer } from '../helpers/fixture';
import { storedDoc } from '../helpers/raw-client';

let fx: Fixture;
let srv: InProcessServer;
const providers: WebsocketProvider[] = [];

beforeAll(async () => {
  fx = await createFixture();
  srv = await startServer(fx);
});
afterAll(async () => {
  for (const p of providers) p.destroy();
  await srv.close();
  fx.cleanup();
});

describe('reconnecting while another user is connected', () => {
  it("Alice's offline edits and her edits after reconnecting reach Bob and the store", async () => {
    const owner = fx.user();
    const alice = fx.user({ name: 'Alice' });
    const bob = fx.user({ name: 'Bob' });
    const docId = fx.doc(owner);
    fx.grant(docId, alice, 'editor');
    fx.grant(docId, bob, 'editor');
    const a = provider(srv.url, docId, await fx.token(alice, docId));
    const b = provider(srv.url, docId, await fx.token(bob, docId));
    providers.push(a, b);
    // As the editor does: a field in presence (a marker: cursors must be real positions) (the initial clock-0 state is never sent on).
    a.awareness.setLocalStateField('marker', 'a');
    b.awareness.setLocalStateField('marker', 'b');
    const denied: string[] = [];
    a.messageHandlers[MessageType.AUTH] = (_e, d: decoding.Decoder) => {
      decoding.readVarUint(d);
      denied.push(decoding.readVarString(d));
    };
    await Promise.all([synced(a), synced(b)]);
    await waitFor(() => b.awareness.getStates().has(a.doc.clientID), { what: "Bob sees Alice's presence" });

    a.doc.getText('t').insert(0, 'A1 ');
    await waitFor(() => b.doc.getText('t').toString() === 'A1 ', { what: "Alice's first edit" });
    a.disconnect();
    // Bob learns that Alice left (and his provider echoes that back to the server).
    await waitFor(() => !b.awareness.getStates().has(a.doc.clientID), { what: 'Bob sees Alice leave' });
    a.doc.getText('t').insert(3, 'offline ');
    a.connect();
    await synced(a);
    a.doc.getText('t').insert(a.doc.getText('t').length, 'after');
    await waitFor(() => sameState(a.doc, b.doc), { what: 'Alice and Bob converge' });
    await waitFor(() => sameState(storedDoc(fx, docId), a.doc), { what: 'the store has all of it' });
    expect(b.doc.getText('t').toString()).toBe('A1 offline after');
    expect(denied).toEqual([]);
  });
});
