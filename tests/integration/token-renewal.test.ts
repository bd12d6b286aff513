// Short-lived tokens are renewed in band: a session on 3-second tokens edits through many renewals
// on one socket without losing a keystroke. A socket whose token runs out un-renewed is closed 4401;
// CollabClient then fetches a new token and reconnects without losing local edits, and when it
// cannot get one it reports a permanent close and stops. A renewal cannot switch identity.
import { describe, expect, it } from 'vitest';
import { useServer } from '../helpers/suite';
import WebSocket from 'ws';
import * as Y from 'yjs';
import { decodeJwt } from 'jose';
import { CloseCode } from '../../lib/close-codes';
import { encode } from '../../lib/protocol';
import { CollabClient, type ClosedInfo, type CollabToken } from '../../lib/collab-client';
import { provider, sameState, synced, waitFor } from '../helpers/fixture';
import { rawConnect, storedDoc } from '../helpers/raw-client';

const measured: Record<string, number> = {};
const s = useServer({ after: () => console.log('[token-renewal] measured:', JSON.stringify(measured)) });
const { open, providers, clients } = s;

const keystrokes = (d: Y.Doc) => [...d.getText('t').toString().matchAll(/k(\d+);/g)].map((m) => Number(m[1]));

/** Mints tokens for (user, doc) and remembers them, so upgrades can be attributed to this client. */
function tokenSource(user: string, docId: string) {
  const minted: string[] = [];
  let calls = 0;
  return {
    minted,
    get calls() {
      return calls;
    },
    async mint(ttl: number, claimedExpiresAt?: number): Promise<CollabToken> {
      calls++;
      const token = await s.fx.token(user, docId, ttl);
      minted.push(token);
      return { token, url: s.srv.url, expiresAt: claimedExpiresAt ?? decodeJwt(token).exp! * 1000 };
    },
    upgrades: () => s.upgrades.filter((u) => minted.some((t) => u.includes(t))).length,
  };
}

async function observer(docId: string) {
  const owner = s.fx.db.prepare<[string], { owner_id: string }>('SELECT owner_id FROM docs WHERE id = ?').get(docId)!.owner_id;
  const p = provider(s.srv.url, docId, await s.fx.token(owner, docId));
  providers.push(p);
  await synced(p);
  return p;
}

function typeEvery(doc: Y.Doc, ms: number) {
  let i = 0;
  const timer = setInterval(() => {
    i++;
    doc.getText('t').insert(doc.getText('t').length, `k${i};`);
  }, ms);
  return {
    get count() {
      return i;
    },
    stop: () => clearInterval(timer),
  };
}

describe('in-band renewal', () => {
  it('a session on 3 s tokens keeps editing through ≥ 5 renewals on one socket with no lost keystrokes', async () => {
    const owner = s.fx.user();
    const user = s.fx.user();
    const docId = s.fx.doc(owner);
    s.fx.grant(docId, user, 'editor');
    const obs = await observer(docId);
    const src = tokenSource(user, docId);
    const doc = new Y.Doc();
    const c = await CollabClient.connect({ docId, doc, WebSocketPolyfill: WebSocket, disableBc: true, getToken: () => src.mint(3) });
    clients.push(c);
    const renewed: number[] = [];
    let socketCloses = 0;
    c.on('token-renewed', (at) => renewed.push(at));
    c.provider.on('connection-close', () => socketCloses++);
    await waitFor(() => c.provider.synced, { what: 'client synced' });
    const connId = [...s.srv.server.connections].find((x) => x.userId === user)!.id;

    const typist = typeEvery(doc, 25);
    const t0 = Date.now();
    try {
      await waitFor(() => renewed.length >= 5, { timeout: 40_000, interval: 50, what: 'five renewals' });
    } finally {
      typist.stop();
    }
    measured.sessionMsFor5Renewals = Date.now() - t0;
    measured.keystrokes = typist.count;

    await waitFor(() => sameState(obs.doc, doc), { what: 'observer has every keystroke' });
    await waitFor(() => sameState(storedDoc(s.fx, docId), doc), { what: 'store has every keystroke' });
    expect(keystrokes(obs.doc)).toEqual(Array.from({ length: typist.count }, (_, k) => k + 1));
    // Each renewal moved the expiry forward; one socket, one upgrade, never closed.
    expect(renewed).toEqual([...renewed].sort((a, b) => a - b));
    expect(socketCloses).toBe(0);
    expect(src.upgrades()).toBe(1);
    expect([...s.srv.server.connections].find((x) => x.userId === user)!.id).toBe(connId);
    expect(c.closedInfo).toBeNull();
  });
});

describe('expiry without renewal', () => {
  it('a socket whose token expires un-renewed is closed 4401 at expiry', async () => {
    const owner = s.fx.user();
    const docId = s.fx.doc(owner);
    const token = await s.fx.token(owner, docId, 2);
    const expMs = decodeJwt(token).exp! * 1000;
    const c = await rawConnect(s.srv.url, docId, { token });
    open.push(c);
    await c.synced();
    const closed = await c.closed;
    expect(closed.code).toBe(CloseCode.UNAUTHORIZED);
    expect(closed.reason).toBe('token expired');
    measured.expiryCloseLagMs = closed.at - expMs;
    expect(closed.at).toBeGreaterThanOrEqual(expMs - 20);
    expect(closed.at - expMs).toBeLessThan(1000);
  });

  it('CollabClient that slept through renewal gets a new token after 4401 and reconnects without losing local edits', async () => {
    const owner = s.fx.user();
    const user = s.fx.user();
    const docId = s.fx.doc(owner);
    s.fx.grant(docId, user, 'editor');
    const obs = await observer(docId);
    const src = tokenSource(user, docId);
    // The first token really lives 2 s but the client believes it has an hour: it will not renew
    // in time (like a laptop that slept), and the server closes the socket 4401 at expiry.
    let first = true;
    const getToken = () => {
      if (!first) return src.mint(300);
      first = false;
      return src.mint(2, Date.now() + 3_600_000);
    };
    const doc = new Y.Doc();
    const c = await CollabClient.connect({ docId, doc, WebSocketPolyfill: WebSocket, disableBc: true, getToken });
    clients.push(c);
    const serverCloses: { code: number }[] = [];
    c.provider.on('closed', (e) => serverCloses.push(e));
    // An edit made in the gap between the close and the reconnect.
    c.provider.on('connection-close', () => doc.getText('t').insert(0, 'GAP;'));
    await waitFor(() => c.provider.synced, { what: 'client synced' });

    const typist = typeEvery(doc, 20);
    try {
      await waitFor(() => serverCloses.length === 1 && src.upgrades() === 2 && c.provider.synced, { timeout: 10_000, what: 'closed 4401 and reconnected' });
      const n = typist.count;
      await waitFor(() => typist.count >= n + 5, { what: 'typing continues on the new socket' });
    } finally {
      typist.stop();
    }
    expect(serverCloses[0]!.code).toBe(CloseCode.UNAUTHORIZED);
    expect(src.calls).toBe(2);
    await waitFor(() => sameState(obs.doc, doc), { what: 'observer has every local edit' });
    await waitFor(() => sameState(storedDoc(s.fx, docId), doc), { what: 'store has every local edit' });
    expect(obs.doc.getText('t').toString()).toContain('GAP;');
    expect(keystrokes(obs.doc)).toEqual(Array.from({ length: typist.count }, (_, k) => k + 1));
    expect(c.closedInfo).toBeNull();
    expect(c.status.state).toBe('connected');
  });

  it('when getToken throws, CollabClient reports closed permanently and stops reconnecting', async () => {
    const owner = s.fx.user();
    const user = s.fx.user();
    const control = s.fx.user();
    const docId = s.fx.doc(owner);
    s.fx.grant(docId, user, 'editor');
    s.fx.grant(docId, control, 'editor');
    const src = tokenSource(user, docId);
    let first = true;
    const getToken = async () => {
      if (!first) throw new Error('signed out');
      first = false;
      return src.mint(2);
    };
    const c = await CollabClient.connect({ docId, doc: new Y.Doc(), WebSocketPolyfill: WebSocket, disableBc: true, getToken });
    clients.push(c);
    const denied: string[] = [];
    const closed: ClosedInfo[] = [];
    c.on('permission-denied', (r) => denied.push(r));
    c.on('closed', (i) => closed.push(i));
    const info = await waitFor(() => closed[0], { timeout: 10_000, what: 'permanent close' });
    expect(info).toEqual({ code: CloseCode.UNAUTHORIZED, reason: 'token expired', permanent: true });
    expect(c.status.state).toBe('closed');
    expect(denied.some((d) => /could not renew the token: signed out/.test(d))).toBe(true);

    // Control: a stock provider dropped (not permanently) after that close reconnects with the
    // same back-off; once it is back, the closed client would have tried too.
    const controlToken = await s.fx.token(control, docId);
    const cp = provider(s.srv.url, docId, controlToken);
    providers.push(cp);
    await synced(cp);
    [...s.srv.server.connections].find((x) => x.userId === control)!.ws.terminate();
    await waitFor(() => s.upgrades.filter((u) => u.includes(controlToken)).length === 2 && cp.synced, { what: 'control reconnected' });
    expect(src.upgrades()).toBe(1);
    expect(c.provider.shouldConnect).toBe(false);
    expect([...s.srv.server.connections].some((x) => x.userId === user)).toBe(false);
  });
});

describe('renewal cannot change who is connected', () => {
  it.each([
    ['a token for another user', 'other-user', /another user/],
    ['a token for another document', 'other-doc', /another document/],
    ['an invalid token', 'invalid', /signature/],
  ] as const)('%s is refused in band and the original expiry still applies', async (_l, what, reason) => {
    const owner = s.fx.user();
    const other = s.fx.user();
    const docId = s.fx.doc(owner, { general: 'editor' });
    const token = await s.fx.token(owner, docId, 2);
    const expMs = decodeJwt(token).exp! * 1000;
    const c = await rawConnect(s.srv.url, docId, { token, ext: true });
    open.push(c);
    await c.synced();
    const renewal =
      what === 'other-user'
        ? await s.fx.token(other, docId)
        : what === 'other-doc'
          ? await s.fx.token(owner, s.fx.doc(owner))
          : (await s.fx.token(owner, docId)).replace(/\.[^.]+$/, '.AAAA');
    c.send(encode.tokenRefresh(renewal));
    const res = await waitFor(() => c.of('token-result')[0], { what: 'token result' });
    expect(res.ok).toBe(false);
    expect(res.reason).toMatch(reason);
    const closed = await c.closed;
    expect(closed.code).toBe(CloseCode.UNAUTHORIZED);
    expect(closed.at - expMs).toBeLessThan(1000);
  });
});
