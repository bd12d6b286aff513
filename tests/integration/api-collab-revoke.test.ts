// Removing someone's access — deleting their grant, turning off the general access they relied on,
// or deleting the document — closes their socket with 4403 within 1 s, and the stock y-websocket
// client does not reconnect. App route handlers here; collab-server is a separate process.
import * as Y from 'yjs';
import { WebsocketProvider } from 'y-websocket';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import * as docs from '../../app/api/docs/route';
import * as doc from '../../app/api/docs/[id]/route';
import * as grants from '../../app/api/docs/[id]/access/grants/[email]/route';
import * as general from '../../app/api/docs/[id]/access/general/route';
import * as token from '../../app/api/docs/[id]/token/route';
import { provider, synced, waitFor } from '../helpers/fixture';
import { call, collabToken, countingWebSocket, expectError, expectNever, signUp, startStack, type CallResult, type Stack } from '../helpers/app';

let stack: Stack;
const open: WebsocketProvider[] = [];
const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});

beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  warn.mockRestore();
  for (const p of open) p.destroy();
  await stack.close();
});

/** The stock client's longest back-off is 2500 ms: a reconnect would have started by then. */
const MAX_BACKOFF_MS = 2500;

type Revocation = 'grant deleted' | 'general access turned off' | 'document deleted';
const cases: Revocation[] = ['grant deleted', 'general access turned off', 'document deleted'];

it.each(cases)('%s: the socket closes with 4403 within 1 s and the client does not reconnect', async (how) => {
  const owner = await signUp('Owner');
  const user = await signUp('Member');
  const docId = (await call(docs.POST, { method: 'POST', token: owner.token, body: { title: `Revoke: ${how}` } })).body.doc.id as string;
  if (how === 'general access turned off') {
    await call(general.PUT, { method: 'PUT', token: owner.token, params: { id: docId }, body: { role: 'editor' } });
  } else {
    await call(grants.PUT, { method: 'PUT', token: owner.token, params: { id: docId, email: user.email }, body: { role: 'editor' } });
  }

  const t = await collabToken(user.token, docId);
  const { WS, attempts } = countingWebSocket();
  const p = new WebsocketProvider(t.url, docId, new Y.Doc(), { WebSocketPolyfill: WS, params: { token: t.token }, disableBc: true });
  open.push(p);
  const closed: { code: number; reason: string; at: number }[] = [];
  p.on('connection-close', (ev) => {
    if (ev) closed.push({ code: ev.code, reason: ev.reason, at: Date.now() });
  });
  await synced(p);
  const wt = await collabToken(owner.token, docId);
  const watcher = provider(wt.url, docId, wt.token);
  open.push(watcher);
  await synced(watcher);
  p.doc.getText('t').insert(0, 'before ');
  await waitFor(() => watcher.doc.getText('t').toString() === 'before ', { what: 'member can edit before revocation' });

  const inMemory = async () => Number(/tandem_docs_in_memory (\d+)/.exec(await (await fetch(`http://127.0.0.1:${stack.srv.port}/metrics`)).text())?.[1]);
  const loadedBefore = await inMemory();
  let r: CallResult;
  if (how === 'grant deleted') r = await call(grants.DELETE, { method: 'DELETE', token: owner.token, params: { id: docId, email: user.email } });
  else if (how === 'general access turned off') r = await call(general.PUT, { method: 'PUT', token: owner.token, params: { id: docId }, body: { role: null } });
  else r = await call(doc.DELETE, { method: 'DELETE', token: owner.token, params: { id: docId } });
  expect(r.status, JSON.stringify(r.body)).toBe(200);

  const c = await waitFor(() => closed[0], { timeout: 5000, what: '4403 close' });
  console.log(`revocation (${how}): access-change response → 4403 close at the client: ${c.at - r.at} ms (ACL_POLL_MS=200)`);
  expect(c.code).toBe(4403);
  expect(c.at - r.at).toBeLessThan(1000);
  expect(p.shouldConnect).toBe(false);
  await expectNever(() => attempts() > 1, MAX_BACKOFF_MS + 500, 'the client opened another connection');
  expect(attempts()).toBe(1);
  expect(closed).toHaveLength(1);

  // A new token is refused too: the app applies the same policy.
  const again = await call(token.POST, { method: 'POST', token: user.token, params: { id: docId } });
  expectError(again, how === 'document deleted' ? 404 : 403);
  // The owner keeps their access (unless the document is gone, which closes them too).
  if (how === 'document deleted') {
    await waitFor(() => !watcher.wsconnected && !watcher.shouldConnect, { what: 'owner closed as well' });
    // Once collab-server has unloaded it, nothing of the deleted document is stored again
    // (no final snapshot, no late append).
    await waitFor(async () => (await inMemory()) === loadedBefore - 1, { what: 'deleted document unloaded' });
    const rows = (table: string) => (stack.fx.db.prepare(`SELECT COUNT(*) AS n FROM ${table} WHERE doc_id = ?`).get(docId) as { n: number }).n;
    expect(rows('doc_updates') + rows('doc_snapshots')).toBe(0);
  } else expect(watcher.wsconnected).toBe(true);
});
