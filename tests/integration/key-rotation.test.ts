// Signing-key rotation and emergency revocation (lib/key-ring.ts, `npm run keys`), on one machine:
// the app's real token route signs, a collab-server child process verifies, both read DATA_DIR/keys
// and re-read it when it changes. With 20 Tandem clients connected:
// - rotation (`npm run keys -- rotate`): no socket closes, new tokens carry the new kid, the JWKS lists
//   both keys, tokens of the old key keep working until the old key is retired after their lifetime;
// - revocation (`npm run keys -- revoke <kid>`): tokens of that key are refused at once, and every
//   socket opened with one is closed (4401) and re-authorized with a new token within 1 s.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import * as Y from 'yjs';
import WebSocket from 'ws';
import { WebsocketProvider } from 'y-websocket';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import * as docs from '../../app/api/docs/route';
import * as jwks from '../../app/.well-known/jwks.json/route';
import { CollabClient } from '../../lib/collab-client';
import { revokeKey } from '../../lib/key-ring';
import { ROOT, sameState, waitFor } from '../helpers/fixture';
import { call, collabToken, signUp, startStack, type Stack } from '../helpers/app';

let stack: Stack;
const clients: CollabClient[] = [];
const others: WebsocketProvider[] = [];
const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});

beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  warn.mockRestore();
  for (const c of clients) c.destroy();
  for (const p of others) p.destroy();
  await stack.close();
});

const kid = (token: string) => decodeProtectedHeader(token).kid!;
const keysCli = (...args: string[]) => execFileSync(process.execPath, ['--import', 'tsx', join(ROOT, 'collab-server/ops/keys.ts'), ...args], { env: { ...process.env, DATA_DIR: stack.fx.dir }, encoding: 'utf8' });

interface Watched {
  c: CollabClient;
  closes: { code: number; at: number }[];
  syncedAt: number[];
}

async function connectMany(session: string, docId: string, n: number): Promise<Watched[]> {
  const out: Watched[] = [];
  for (let i = 0; i < n; i++) {
    const c = await CollabClient.connect({ docId, doc: new Y.Doc(), WebSocketPolyfill: WebSocket, disableBc: true, getToken: () => collabToken(session, docId) });
    clients.push(c);
    const w: Watched = { c, closes: [], syncedAt: [] };
    c.provider.on('connection-close', (ev) => w.closes.push({ code: ev?.code ?? 0, at: Date.now() }));
    c.provider.on('sync', (s: boolean) => s && w.syncedAt.push(Date.now()));
    out.push(w);
  }
  await waitFor(() => out.every((w) => w.c.provider.synced), { what: `${n} clients synced` });
  return out;
}

/** A stock provider on a fixed token: resolves with its first close code, or 0 once synced. */
function tryToken(url: string, docId: string, token: string): Promise<number> {
  const p = new WebsocketProvider(url, docId, new Y.Doc(), { WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket, params: { token }, disableBc: true });
  others.push(p);
  return new Promise((resolve) => {
    p.on('sync', (s: boolean) => s && resolve(0));
    p.on('connection-close', (ev) => resolve(ev?.code ?? -1));
  }).finally(() => p.destroy()) as Promise<number>;
}

describe('signing-key rotation', () => {
  it('with 20 clients connected: no socket closes, new tokens carry the new kid, old tokens work until the old key is retired', async () => {
    const owner = await signUp('Rita Rotation');
    const docId = (await call(docs.POST, { method: 'POST', token: owner.token, body: { title: 'Rotation' } })).body.doc.id as string;
    const before = await collabToken(owner.token, docId);
    const oldKid = kid(before.token);
    const watched = await connectMany(owner.token, docId, 20);

    const out = keysCli('rotate');
    const newKid = /signing with (\S+?);/.exec(out)![1]!;
    expect(newKid).not.toBe(oldKid);
    // The app signs with the new key as soon as it re-reads the directory.
    await waitFor(async () => kid((await collabToken(owner.token, docId)).token) === newKid, { what: 'tokens carry the new kid' });
    const after = await collabToken(owner.token, docId);
    expect(kid(after.token)).toBe(newKid);
    const published = ((await call(jwks.GET, {})).body as { keys: { kid: string }[] }).keys.map((k) => k.kid);
    expect(published).toEqual(expect.arrayContaining([oldKid, newKid]));

    // Both keys verify: a token minted before the rotation, one after, and an in-band renewal.
    expect(await tryToken(before.url, docId, before.token)).toBe(0);
    expect(await tryToken(after.url, docId, after.token)).toBe(0);
    expect(await watched[0]!.c.renew()).toBe(true);
    // Edits keep flowing among the 20, and none of their sockets closed.
    watched[0]!.c.provider.doc.getText('t').insert(0, 'after rotation');
    await waitFor(() => watched.every((w) => sameState(w.c.provider.doc, watched[0]!.c.provider.doc)), { what: 'all 20 converge' });
    expect(watched.flatMap((w) => w.closes)).toEqual([]);

    // Step 3, after the token lifetime: the old key is forgotten, its (by then expired) tokens refused.
    keysCli('retire', oldKid);
    await waitFor(async () => (await tryToken(before.url, docId, before.token)) === 4401, { what: 'old key refused after retire' });
    expect(watched.flatMap((w) => w.closes)).toEqual([]);
    expect(keysCli('list')).toContain(`${newKid}  active`);
  });
});

describe('emergency revocation', () => {
  it("refuses the leaked key's tokens at once; its 20 sockets are closed and re-authorized with a new key within 1 s", async () => {
    const owner = await signUp('Leo Leak');
    const docId = (await call(docs.POST, { method: 'POST', token: owner.token, body: { title: 'Revocation' } })).body.doc.id as string;
    const leaked = await collabToken(owner.token, docId);
    const leakedKid = kid(leaked.token);
    const watched = await connectMany(owner.token, docId, 20);
    watched[3]!.c.provider.doc.getText('t').insert(0, 'typed before the leak');
    await waitFor(() => watched.every((w) => sameState(w.c.provider.doc, watched[3]!.c.provider.doc)), { what: 'converged before' });

    const t0 = Date.now();
    const { activated } = await revokeKey(join(stack.fx.dir, 'keys'), leakedKid);
    expect(activated).toBeTruthy();

    // Every socket closed with 4401 and synced again on a token of the new key, within 1 s.
    await waitFor(() => watched.every((w) => w.closes.some((c) => c.at >= t0 && c.code === 4401) && w.syncedAt.some((s) => s > t0)), { timeout: 5000, what: 'all 20 closed and re-synced' }).catch((err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify(watched.map((w) => ({ closes: w.closes.map((c) => [c.code, c.at - t0]), synced: w.syncedAt.map((s) => s - t0), state: w.c.closedInfo })))}`.slice(0, 3000));
    });
    const closedIn = Math.max(...watched.map((w) => w.closes.find((c) => c.at >= t0)!.at - t0));
    const resyncedIn = Math.max(...watched.map((w) => w.syncedAt.find((s) => s > t0)! - t0));
    console.log(`[key-rotation] revocation: 20 sockets closed within ${closedIn} ms, re-authorized and synced within ${resyncedIn} ms`);
    expect(resyncedIn).toBeLessThan(1000);
    for (const w of watched) expect(w.closes.filter((c) => c.at >= t0)).toHaveLength(1);
    // The leaked key's tokens are refused; new ones carry the new kid and work; nothing typed was lost.
    expect(await tryToken(leaked.url, docId, leaked.token)).toBe(4401);
    const fresh = await collabToken(owner.token, docId);
    expect(kid(fresh.token)).toBe(activated);
    expect(decodeJwt(fresh.token).exp).toBeGreaterThan(Date.now() / 1000);
    expect(((await call(jwks.GET, {})).body as { keys: { kid: string }[] }).keys.map((k) => k.kid)).not.toContain(leakedKid);
    watched[7]!.c.provider.doc.getText('t').insert(0, 'after: ');
    await waitFor(() => watched.every((w) => w.c.provider.doc.getText('t').toString() === 'after: typed before the leak'), { what: 'edits flow after revocation' });
  });
});
