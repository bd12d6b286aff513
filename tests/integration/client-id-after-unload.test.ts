// Client-id ownership outlives the document in memory (issue 11 #4): after an unload and reload, a
// viewer cannot take an editor's client id with a presence message, and the editor's offline
// edits under it sync. An id seen only in presence (never written) is not locked by a squatter:
// the editor's write takes it back.
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import * as encoding from 'lib0/encoding';
import { encode } from '../../lib/protocol';
import { provider, sameState, synced, waitFor } from '../helpers/fixture';
import { useServer } from '../helpers/suite';
import { rawConnect, storedDoc } from '../helpers/raw-client';

const s = useServer();

function presence(clientId: number, clock: number, state: unknown): Uint8Array {
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, 1);
  encoding.writeVarUint(e, clientId);
  encoding.writeVarUint(e, clock);
  encoding.writeVarString(e, JSON.stringify(state));
  return encode.awareness(encoding.toUint8Array(e));
}

async function room() {
  const owner = s.fx.user({ name: 'Olive' });
  const editor = s.fx.user({ name: 'Eddie' });
  const viewer = s.fx.user({ name: 'Vic' });
  const docId = s.fx.doc(owner);
  s.fx.grant(docId, editor, 'editor');
  s.fx.grant(docId, viewer, 'viewer');
  return { owner, editor, viewer, docId };
}

const unloaded = (docId: string) => waitFor(() => !s.srv.server.registry.peek(docId), { timeout: 15_000, what: 'document unloaded' });

/** The viewer tries to show presence under `clientId`; resolves with whether a watcher saw it as the viewer's. */
async function viewerClaims(docId: string, viewer: string, owner: string, clientId: number): Promise<boolean> {
  const v = await rawConnect(s.srv.url, docId, { token: await s.fx.token(viewer, docId) });
  s.open.push(v);
  await v.synced();
  v.send(presence(clientId, 1_000, { user: { name: 'Eddie' }, cursor: null }));
  // A marker under the viewer's own id, sent after: once the watcher sees it, the claim was handled.
  v.send(presence(v.doc.clientID, 1, { marker: true }));
  const w = await rawConnect(s.srv.url, docId, { token: await s.fx.token(owner, docId) });
  s.open.push(w);
  await w.synced();
  await waitFor(() => w.awareness.getStates().get(v.doc.clientID), { what: "the viewer's own presence" });
  const seen = w.awareness.getStates().get(clientId) as { user?: { id?: string } } | undefined;
  return seen?.user?.id === viewer;
}

describe('client ids after an unload', () => {
  it("a viewer cannot claim an editor's id after unload and reload; the editor's offline edits sync", async () => {
    const r = await room();
    const edoc = new Y.Doc();
    const e = provider(s.srv.url, r.docId, await s.fx.token(r.editor, r.docId), edoc);
    s.providers.push(e);
    await synced(e);
    edoc.getText('t').insert(0, 'before ');
    await waitFor(() => storedDoc(s.fx, r.docId).getText('t').toString() === 'before ', { what: 'first edit stored' });
    e.disconnect();
    await unloaded(r.docId);

    // Reloaded by the viewer's socket: the id (visible in the state vector) is the editor's.
    expect(await viewerClaims(r.docId, r.viewer, r.owner, edoc.clientID)).toBe(false);

    edoc.getText('t').insert(7, 'offline');
    e.params = { token: await s.fx.token(r.editor, r.docId) };
    e.connect();
    await waitFor(() => storedDoc(s.fx, r.docId).getText('t').toString() === 'before offline', { what: 'offline edit stored' });
    const check = provider(s.srv.url, r.docId, await s.fx.token(r.owner, r.docId));
    s.providers.push(check);
    await synced(check);
    await waitFor(() => sameState(check.doc, edoc), { what: 'editor and server converge' });
  });

  it("an editor's id known only from presence: a viewer's claim after the unload does not lock out her offline edits", async () => {
    const r = await room();
    const edoc = new Y.Doc();
    const e = provider(s.srv.url, r.docId, await s.fx.token(r.editor, r.docId), edoc);
    s.providers.push(e);
    e.awareness.setLocalStateField('user', { name: 'Eddie', color: '#059669' });
    await synced(e);
    // The viewer sees her id in presence; she never writes before leaving.
    const spy = await rawConnect(s.srv.url, r.docId, { token: await s.fx.token(r.viewer, r.docId) });
    s.open.push(spy);
    await spy.synced();
    await waitFor(() => spy.awareness.getStates().get(edoc.clientID), { what: "the editor's presence" });
    spy.close();
    e.disconnect();
    await unloaded(r.docId);

    // Presence-only ids are not durable: the viewer may show presence under it...
    expect(await viewerClaims(r.docId, r.viewer, r.owner, edoc.clientID)).toBe(true);
    // ...but that never blocks the editor's writes under her own id.
    edoc.getText('t').insert(0, 'written offline');
    e.params = { token: await s.fx.token(r.editor, r.docId) };
    e.connect();
    await waitFor(() => storedDoc(s.fx, r.docId).getText('t').toString() === 'written offline', { what: 'offline edit stored' });
    const refusals = e.doc.getText('t').toString();
    expect(refusals).toBe('written offline');
  });
});
