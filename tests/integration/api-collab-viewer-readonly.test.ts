// A viewer's updates never reach other clients or the store, while an editor's do. Path: app route
// handlers (this process) write the grants and mint tokens → stock y-websocket providers → a real
// collab-server child process on the same SQLite file.
import * as Y from 'yjs';
import type { WebsocketProvider } from 'y-websocket';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import * as docs from '../../app/api/docs/route';
import * as grants from '../../app/api/docs/[id]/access/grants/[email]/route';
import * as audit from '../../app/api/admin/audit/route';
import { provider, sameState, synced, waitFor } from '../helpers/fixture';
import { call, collabToken, setupAdmin, signUp, startStack, storedClientIds, storedDoc, type Stack } from '../helpers/app';

let stack: Stack;
const open: WebsocketProvider[] = [];
// The stock client reports a permission-denied message with console.warn (URL, token and reason).
const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});

beforeAll(async () => {
  // Refusals are audited per (user, document) once per interval: short here, so the counted row comes soon.
  stack = await startStack({ REFUSAL_AUDIT_INTERVAL_MS: '1000' });
});
afterAll(async () => {
  warn.mockRestore();
  for (const p of open) p.destroy();
  await stack.close();
});

async function connect(session: string, docId: string, doc = new Y.Doc(), connect = true) {
  const t = await collabToken(session, docId);
  const p = provider(t.url, docId, t.token, doc, { connect });
  open.push(p);
  return p;
}

it("a viewer's updates (offline edits and live typing) never reach other clients or the store; an editor's do", async () => {
  const admin = await setupAdmin('Admin'); // the instance admin reads the audit log
  const owner = await signUp('Owner');
  const editor = await signUp('Editor');
  const viewer = await signUp('Viewer');
  const docId = (await call(docs.POST, { method: 'POST', token: owner.token, body: { title: 'Read-only for some' } })).body.doc.id as string;
  for (const [who, role] of [[editor, 'editor'], [viewer, 'viewer']] as const) {
    expect((await call(grants.PUT, { method: 'PUT', token: owner.token, params: { id: docId, email: who.email }, body: { role } })).status).toBe(200);
  }

  const observer = await connect(owner.token, docId);
  const ed = await connect(editor.token, docId);
  // The viewer edits before connecting: that edit travels as sync step 2 of the handshake.
  const viewerDoc = new Y.Doc();
  viewerDoc.getText('t').insert(0, 'VIEWER-OFFLINE ');
  const vw = await connect(viewer.token, docId, viewerDoc);
  await Promise.all([observer, ed, vw].map((p) => synced(p)));
  vw.doc.getText('t').insert(0, 'VIEWER-LIVE ');

  // collab-server audits the first refused write at once (later ones are summed per user and document).
  const refusedRows = async () =>
    (await call(audit.GET, { token: admin.token, path: `/api/admin/audit?action=write.refused&docId=${docId}` })).body.entries.filter(
      (e: { actorId: string }) => e.actorId === viewer.user.id,
    );
  const refused = await waitFor(async () => ((await refusedRows()).length >= 1 ? await refusedRows() : null), { what: 'viewer write refused' });
  expect(refused[0].detail.reason).toMatch(/viewer/);
  // ...and the viewer's client was told why, once per refused write: both were refused.
  await waitFor(() => warn.mock.calls.filter((c) => String(c[0]).includes('read-only')).length >= 2, { what: 'permission-denied for both viewer writes' });

  // Only now the editor types. Each socket's frames are handled in order and broadcasts go out in
  // order, so had the viewer's edits been accepted, everyone would have them before this one.
  ed.doc.getText('t').insert(0, 'EDITOR ');
  await waitFor(() => observer.doc.getText('t').toString().includes('EDITOR') && vw.doc.getText('t').toString().includes('EDITOR'), { what: 'editor edit everywhere' });
  expect(observer.doc.getText('t').toString()).toBe('EDITOR ');
  expect(sameState(observer.doc, ed.doc)).toBe(true);

  // The store: the editor's client id is in the log, the viewer's never.
  const ids = storedClientIds(stack.fx.db, docId);
  expect(ids.has(ed.doc.clientID)).toBe(true);
  expect(ids.has(viewerDoc.clientID)).toBe(false);
  expect(storedDoc(stack.fx.db, docId).getText('t').toString()).toBe('EDITOR ');

  // A client that joins afterwards loads exactly the stored document.
  const late = await connect(owner.token, docId);
  await synced(late);
  await waitFor(() => sameState(late.doc, observer.doc), { what: 'late joiner converged' });
  expect(late.doc.getText('t').toString()).toBe('EDITOR ');

  // At the end of the interval the refusals not yet audited are summed into the log: both are there.
  vw.destroy();
  const total = async () => (await refusedRows()).reduce((n: number, e: { detail: { count?: number } }) => n + (e.detail.count ?? 1), 0);
  await waitFor(async () => (await total()) >= 2, { what: 'both refusals in the audit log' });
});
