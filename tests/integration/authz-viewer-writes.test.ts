// A viewer's update is dropped: it never reaches other clients or the update log, the viewer is
// told why (y-protocols permission-denied, auth message type 2, with a reason) and the refusal is
// audited as 'write.refused'. An editor's update on the same document goes through.
import { describe, expect, it } from 'vitest';
import { useServer } from '../helpers/suite';
import * as Y from 'yjs';
import * as decoding from 'lib0/decoding';
import type { WebsocketProvider } from 'y-websocket';
import { MessageType } from '../../lib/protocol';
import { provider, synced, waitFor } from '../helpers/fixture';
import { rawConnect, storedDoc } from '../helpers/raw-client';

const s = useServer();
const { open, providers } = s;

async function stock(user: string, docId: string, doc = new Y.Doc()): Promise<WebsocketProvider> {
  const p = provider(s.srv.url, docId, await s.fx.token(user, docId), doc);
  providers.push(p);
  return p;
}

const audits = (docId: string, actor: string) =>
  s.fx.db
    .prepare<[string, string], { action: string; detail: string | null }>("SELECT action, detail FROM audit WHERE doc_id = ? AND actor_id = ? AND action = 'write.refused'")
    .all(docId, actor);

const text = (d: Y.Doc) => d.getText('t').toString();

describe.each([
  ['a viewer by grant', 'grant'],
  ['a viewer by general access (anyone signed in can view)', 'general'],
] as const)('%s', (_label, how) => {
  it("cannot write: the update reaches no one and no store, the viewer is told why, the refusal is audited; an editor's update goes through", async () => {
    const owner = s.fx.user({ name: 'Olive Owner' });
    const editorUser = s.fx.user({ name: 'Eddie Editor' });
    const viewerUser = s.fx.user({ name: 'Vera Viewer' });
    const docId = s.fx.doc(owner, { general: how === 'general' ? 'viewer' : null });
    s.fx.grant(docId, editorUser, 'editor');
    if (how === 'grant') s.fx.grant(docId, viewerUser, 'viewer');

    const ownerP = await stock(owner, docId);
    const editorP = await stock(editorUser, docId);
    await Promise.all([synced(ownerP), synced(editorP)]);
    const viewer = await rawConnect(s.srv.url, docId, { token: await s.fx.token(viewerUser, docId) });
    open.push(viewer);
    await viewer.synced();

    viewer.doc.getText('t').insert(0, 'VIEWER-WRITE');
    const denied = await waitFor(() => viewer.of('auth')[0], { what: 'permission-denied to the viewer' });
    expect(denied.reason).toMatch(/read-only/);

    // The editor's later update reaches the owner and the viewer (viewers see live edits).
    editorP.doc.getText('t').insert(0, 'EDITOR-WRITE');
    await waitFor(() => text(ownerP.doc).includes('EDITOR-WRITE'), { what: "the editor's update reaches the owner" });
    await waitFor(() => text(viewer.doc).includes('EDITOR-WRITE'), { what: "the editor's update reaches the viewer" });
    await waitFor(() => text(storedDoc(s.fx, docId)).includes('EDITOR-WRITE'), { what: "the editor's update is stored" });

    expect(text(ownerP.doc)).toBe('EDITOR-WRITE');
    expect(text(editorP.doc)).toBe('EDITOR-WRITE');
    expect(text(storedDoc(s.fx, docId))).toBe('EDITOR-WRITE');
    expect(viewer.closeInfo).toBeNull();

    const rows = audits(docId, viewerUser);
    expect(rows).toHaveLength(1);
    expect(JSON.parse(rows[0]!.detail!).reason).toMatch(/read-only/);
    expect(audits(docId, editorUser)).toHaveLength(0);
  });
});

describe('a stock provider as viewer', () => {
  it('with offline edits: its sync step 2 is refused with permission-denied, and nothing is stored', async () => {
    const owner = s.fx.user();
    const viewerUser = s.fx.user();
    const docId = s.fx.doc(owner);
    s.fx.grant(docId, viewerUser, 'viewer');
    const ownerP = await stock(owner, docId);
    await synced(ownerP);

    const offline = new Y.Doc();
    offline.getText('t').insert(0, 'OFFLINE-VIEWER-EDIT');
    const viewerP = await stock(viewerUser, docId, offline);
    const reasons: string[] = [];
    // Replace the stock handler (which only logs) to see what the server said.
    viewerP.messageHandlers[MessageType.AUTH] = (_enc, dec: decoding.Decoder) => {
      decoding.readVarUint(dec);
      reasons.push(decoding.readVarString(dec));
    };
    await waitFor(() => reasons.length > 0, { what: 'permission-denied for the sync step 2' });
    expect(reasons[0]).toMatch(/read-only/);

    ownerP.doc.getText('t').insert(0, 'OWNER ');
    await waitFor(() => text(viewerP.doc).includes('OWNER'), { what: "the owner's edit reaches the viewer" });
    await waitFor(() => text(storedDoc(s.fx, docId)) === 'OWNER ', { what: "the owner's edit is stored" });
    expect(text(ownerP.doc)).toBe('OWNER ');
    expect(audits(docId, viewerUser).length).toBeGreaterThanOrEqual(1);
  });
});
