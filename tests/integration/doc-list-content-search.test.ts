// The document list searches content: an edit reaches collab-server (browser-shaped Y.XmlFragment),
// which writes the document's plain text to doc_text when it compacts; GET /api/docs?q= then finds
// the document by a word that is only in its body, for the owner and for a visitor who opened it
// through general access — never for a user with no access.
import * as Y from 'yjs';
import type { WebsocketProvider } from 'y-websocket';
import { afterAll, beforeAll, expect, it } from 'vitest';
import * as docs from '../../app/api/docs/route';
import * as general from '../../app/api/docs/[id]/access/general/route';
import { provider, synced, waitFor } from '../helpers/fixture';
import { call, collabToken, signUp, startStack, type Stack } from '../helpers/app';

let stack: Stack;
const open: WebsocketProvider[] = [];

beforeAll(async () => {
  // Compact soon after edits stop, so the text extract is written within the test.
  stack = await startStack({ COMPACT_IDLE_MS: '300' });
});
afterAll(async () => {
  for (const p of open) p.destroy();
  await stack.close();
});

const search = async (session: string, q: string) => {
  const r = await call(docs.GET, { token: session, path: `/api/docs?q=${encodeURIComponent(q)}` });
  expect(r.status).toBe(200);
  return (r.body.docs as { id: string }[]).map((d) => d.id);
};

it('a word only in the body finds the document once collab-server has compacted it', async () => {
  const owner = await signUp('Olga');
  const visitor = await signUp('Vic');
  const stranger = await signUp('Stan');
  const created = await call(docs.POST, { method: 'POST', token: owner.token, body: { title: 'Plain title' } });
  const docId = created.body.doc.id as string;
  expect((await call(general.PUT, { method: 'PUT', token: owner.token, params: { id: docId }, body: { role: 'viewer' } })).status).toBe(200);

  const t = await collabToken(owner.token, docId);
  const p = provider(t.url, docId, t.token, new Y.Doc());
  open.push(p);
  await synced(p);
  // What Tiptap writes: a paragraph element holding text, in the 'default' fragment.
  const para = new Y.XmlElement('paragraph');
  para.insert(0, [new Y.XmlText('The Zanzibar offsite budget')]);
  p.doc.getXmlFragment('default').insert(0, [para]);

  expect(await waitFor(async () => ((await search(owner.token, 'zanzibar')).includes(docId) ? true : null), { what: 'content search finds the body word' })).toBe(true);
  expect(await search(owner.token, 'plain title')).toEqual([docId]);
  // The visitor opens it through general access (a token is minted), then finds it by content too.
  await collabToken(visitor.token, docId);
  expect(await search(visitor.token, 'ZANZIBAR')).toEqual([docId]);
  expect(await search(stranger.token, 'zanzibar')).toEqual([]);
});
