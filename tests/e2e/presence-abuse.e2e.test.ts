/**
 * A viewer's malformed presence never breaks another user's editor (issue 11 #3). Two editors in
 * Chromium type into one document while a viewer (a hand-written client with a real token from the
 * API) publishes malformed cursors: null, wrong types, out-of-range ids, huge. Remote edits keep
 * rendering in both browsers and neither logs a page error. Unfixed, the first `{anchor: null}`
 * threw inside every other browser's caret decorations and remote edits stopped rendering.
 *
 * Path: viewer (raw ws) → collab-server (checks presence, drops what fails) → browsers, whose caret
 * plugin sees only checked states (safe-awareness.ts) as a second line.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import WebSocket from 'ws';
import * as encoding from 'lib0/encoding';
import * as Y from 'yjs';
import { encode } from '../../lib/protocol';
import { editorText, newUser, signUpViaApi, startStack, waitFor, type Stack, type User } from './harness';

let stack: Stack;
let alice: User;
let bob: User;
let vic: User;

beforeAll(async () => {
  // Its own build dir, so it can run beside the other e2e files.
  stack = await startStack({ distDir: '.next-e2e-presence' });
}, 300_000);

afterAll(async () => {
  for (const u of [alice, bob, vic]) await u?.context.close().catch(() => undefined);
  await stack?.stop();
}, 60_000);

async function openDoc(u: User, id: string) {
  await u.page.goto(`/d/${id}`);
  await u.page.locator('.tiptap').waitFor({ state: 'visible', timeout: 20_000 });
  await waitFor(async () => (await u.page.getByTestId('conn-status').getAttribute('data-status')) === 'connected', { timeout: 20_000, what: `${u.name} connected` }).catch((err: Error) => {
    throw new Error(`${err.message}\n${u.console.problems.join('\n')}\n${stack.collabOutput.slice(-20).join('')}`);
  });
}

async function typeAtEnd(u: User, text: string) {
  await u.page.locator('.tiptap').click();
  await u.page.keyboard.press('Control+End');
  await u.page.keyboard.type(text);
}

function awarenessFrame(clientId: number, clock: number, json: string): Uint8Array {
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, 1);
  encoding.writeVarUint(e, clientId);
  encoding.writeVarUint(e, clock);
  encoding.writeVarString(e, json);
  return encode.awareness(encoding.toUint8Array(e));
}

describe('malformed presence in the browser', () => {
  test("a viewer's malformed cursors (null, out of range, wrong types, huge) never stop remote edits rendering", async () => {
    alice = await signUpViaApi(await newUser(stack, 'Alice'));
    bob = await signUpViaApi(await newUser(stack, 'Bob'));
    vic = await signUpViaApi(await newUser(stack, 'Vic'));
    const created = (await (await alice.context.request.post('/api/docs', { data: { title: 'Carets' } })).json()) as { doc: { id: string } };
    const docId = created.doc.id;
    await alice.context.request.put(`/api/docs/${docId}/access/grants/${encodeURIComponent(bob.email)}`, { data: { role: 'editor' } });
    await alice.context.request.put(`/api/docs/${docId}/access/grants/${encodeURIComponent(vic.email)}`, { data: { role: 'viewer' } });
    await openDoc(alice, docId);
    await openDoc(bob, docId);
    await typeAtEnd(alice, 'Alice was here.');
    await waitFor(async () => (await editorText(bob.page)).includes('Alice was here.'), { timeout: 10_000, what: 'Bob sees Alice' });

    // The viewer: a real collab token from the API, then frames the stock client never sends.
    const tok = (await (await vic.context.request.post(`/api/docs/${docId}/token`)).json()) as { token: string; url: string };
    const ws = new WebSocket(`${tok.url}/${docId}?token=${encodeURIComponent(tok.token)}`);
    ws.on('error', () => undefined);
    await new Promise<void>((r, j) => {
      ws.once('open', () => r());
      ws.once('error', j);
    });
    ws.send(encode.syncStep1(Y.encodeStateVector(new Y.Doc())));
    const vicId = 424242;
    const huge = 'x'.repeat(200_000);
    const cursors: unknown[] = [
      { anchor: null, head: null },
      { anchor: 'start', head: 12 },
      { anchor: { item: { client: 2 ** 60, clock: -1 } }, head: { item: { client: 2 ** 60, clock: 1e300 } } },
      { anchor: { type: null, tname: null, item: null, assoc: 0 }, head: { type: null, tname: null, item: null, assoc: 0 } },
      { anchor: { tname: huge }, head: { tname: huge } },
      [1, 2, 3],
    ];
    let round = 0;
    for (const cursor of cursors) {
      round++;
      ws.send(awarenessFrame(vicId, round, JSON.stringify({ user: { name: 'Vic', color: 'url(https://evil.example/x.png)' }, cursor })));
      // Each side types after each malformed cursor; the other must render it.
      await typeAtEnd(bob, ` b${round}`);
      await waitFor(async () => (await editorText(alice.page)).includes(`b${round}`), { timeout: 10_000, what: `Alice renders Bob's edit ${round}` });
      await typeAtEnd(alice, ` a${round}`);
      await waitFor(async () => (await editorText(bob.page)).includes(`a${round}`), { timeout: 10_000, what: `Bob renders Alice's edit ${round}` });
    }
    ws.close();
    expect(await editorText(alice.page)).toBe(await editorText(bob.page));
    // Neither page hit an error (the caret plugin threw on `{anchor: null}` before), and no avatar got the url() colour.
    const problems = [...alice.console.problems, ...bob.console.problems];
    expect(problems, problems.join('\n')).toEqual([]);
    const backgrounds = await alice.page.locator('[data-testid="presence"] .avatar').evaluateAll((els) => els.map((e) => (e as HTMLElement).style.background));
    expect(backgrounds.join(' ')).not.toMatch(/url\(/);
  }, 180_000);
});
