// An editor typing continuously is downgraded to viewer through the real
// PUT /api/docs/:id/access/grants/:email {role: "viewer"}: within 1 s collab-server (a separate
// process, tailing acl_changes at its default 200 ms) refuses their updates, and no update sent
// after that point is ever accepted — not by other clients, not by the store.
import * as Y from 'yjs';
import type { WebsocketProvider } from 'y-websocket';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import * as docs from '../../app/api/docs/route';
import * as grants from '../../app/api/docs/[id]/access/grants/[email]/route';
import { provider, sameState, synced, waitFor } from '../helpers/fixture';
import { call, collabToken, signUp, startStack, storedDoc, type Stack } from '../helpers/app';

let stack: Stack;
const open: WebsocketProvider[] = [];
let typing: NodeJS.Timeout | undefined;
const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});

beforeAll(async () => {
  // Refusals are audited per (user, document) once per interval: short here, so the counted row comes soon.
  stack = await startStack({ REFUSAL_AUDIT_INTERVAL_MS: '1000' });
});
afterAll(async () => {
  clearInterval(typing);
  warn.mockRestore();
  for (const p of open) p.destroy();
  await stack.close();
});

async function connect(session: string, docId: string) {
  const t = await collabToken(session, docId);
  const p = provider(t.url, docId, t.token);
  open.push(p);
  await synced(p);
  return p;
}

/** Indices of the `[k]` marks in a text. */
const marks = (s: string) => [...s.matchAll(/\[(\d+)\]/g)].map((m) => Number(m[1]));

it('downgrading a typing editor to viewer takes effect within 1 s and nothing sent after that is accepted', async () => {
  const owner = await signUp('Owner');
  const editor = await signUp('Typist');
  const docId = (await call(docs.POST, { method: 'POST', token: owner.token, body: { title: 'Live' } })).body.doc.id as string;
  await call(grants.PUT, { method: 'PUT', token: owner.token, params: { id: docId, email: editor.email }, body: { role: 'editor' } });
  const observer = await connect(owner.token, docId);
  const typist = await connect(editor.token, docId);

  // A stock provider sends each insert as its own update frame, immediately.
  const sent: { k: number; at: number }[] = [];
  const text = typist.doc.getText('t');
  typing = setInterval(() => {
    const k = sent.length;
    sent.push({ k, at: Date.now() });
    text.insert(text.length, `[${k}]`);
  }, 20);
  await waitFor(() => marks(observer.doc.getText('t').toString()).length >= 10, { what: 'typing reaches the observer' });

  const change = await call(grants.PUT, { method: 'PUT', token: owner.token, params: { id: docId, email: editor.email }, body: { role: 'viewer' } });
  expect(change.status).toBe(200);
  // Enforcement = the first update collab-server refused (it writes the audit row as it refuses).
  const firstRefusal = stack.fx.db.prepare<[string, string], { at: number }>(
    "SELECT MIN(at) AS at FROM audit WHERE action = 'write.refused' AND doc_id = ? AND actor_id = ?",
  );
  const enforcedAt = await waitFor(() => firstRefusal.get(docId, editor.user.id)?.at, { timeout: 5000, what: 'first refused update' });
  const delay = enforcedAt - change.at;
  console.log(`downgrade: access-change response → first refused update: ${delay} ms (typing every 20 ms; ACL_POLL_MS=200)`);
  expect(delay).toBeLessThan(1000);

  // Keep typing a while longer, then stop.
  const atEnforcement = sent.length;
  await waitFor(() => sent.length >= atEnforcement + 15, { what: 'more typing after enforcement' });
  clearInterval(typing);

  // What the server holds: a fresh client syncs the whole document from it.
  const fresh = await connect(owner.token, docId);
  await waitFor(() => sameState(fresh.doc, observer.doc), { what: 'observer has everything the server accepted' });
  const accepted = marks(fresh.doc.getText('t').toString());
  // A gap-free prefix of what was typed: nothing accepted after a refusal.
  expect(accepted).toEqual(accepted.map((_, i) => i));
  expect(accepted.length).toBeGreaterThanOrEqual(10);
  expect(accepted.length).toBeLessThan(sent.length);
  const sentAfter = sent.filter((s) => s.at > enforcedAt).map((s) => s.k);
  expect(sentAfter.length).toBeGreaterThanOrEqual(15);
  for (const k of sentAfter) expect(accepted).not.toContain(k);
  // The store holds exactly what clients were sent.
  expect(marks(storedDoc(stack.fx.db, docId).getText('t').toString())).toEqual(accepted);
  // The typist's socket stays open as a viewer: it still receives others' edits.
  observer.doc.getText('t').insert(0, 'OWNER ');
  await waitFor(() => typist.doc.getText('t').toString().startsWith('OWNER '), { what: 'viewer still receives edits' });
  expect(typist.wsconnected).toBe(true);

  // Every update not accepted was refused (none silently lost). The audit log gets the first
  // refusal at once and the rest summed per (user, document) at the end of the interval: the
  // counts add up exactly.
  typist.destroy();
  const refusals = stack.fx.db.prepare<[string, string], { n: number }>(
    "SELECT COALESCE(SUM(COALESCE(json_extract(detail, '$.count'), 1)), 0) AS n FROM audit WHERE action = 'write.refused' AND doc_id = ? AND actor_id = ?",
  );
  await waitFor(() => refusals.get(docId, editor.user.id)!.n === sent.length - accepted.length, { what: 'every unaccepted update refused and counted' });
});
