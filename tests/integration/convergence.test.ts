// Stock y-websocket providers co-edit one document through collab-server and converge.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import type { WebsocketProvider } from 'y-websocket';
import { createFixture, provider, sameState, startServer, synced, waitFor, type Fixture, type InProcessServer } from '../helpers/fixture';

let fx: Fixture;
let srv: InProcessServer;
const open: WebsocketProvider[] = [];

beforeAll(async () => {
  fx = await createFixture();
  srv = await startServer(fx);
});
afterAll(async () => {
  for (const p of open) p.destroy();
  await srv.close();
  fx.cleanup();
});

async function editors(n: number, docId: string, owner: string) {
  const ps: WebsocketProvider[] = [];
  for (let i = 0; i < n; i++) {
    const p = provider(srv.url, docId, await fx.token(owner, docId));
    open.push(p);
    ps.push(p);
  }
  await Promise.all(ps.map((p) => synced(p)));
  return ps;
}

describe('stock y-websocket providers co-edit one document', () => {
  it.each([2, 20])('%i providers typing concurrently converge to the same encoded state', async (n) => {
    const owner = fx.user();
    const docId = fx.doc(owner);
    const ps = await editors(n, docId, owner);
    ps.forEach((p, i) => {
      const t = p.doc.getText('t');
      for (let k = 0; k < 5; k++) t.insert(Math.min(k, t.length), `[${i}.${k}]`);
    });
    const count = (d: Y.Doc) => d.getText('t').toString().split('[').length - 1;
    await waitFor(() => ps.every((p) => count(p.doc) === n * 5 && sameState(p.doc, ps[0]!.doc)), { timeout: 20_000, what: 'convergence' });
    // A provider that joins later receives the whole document.
    const late = provider(srv.url, docId, await fx.token(owner, docId));
    open.push(late);
    await synced(late);
    await waitFor(() => sameState(late.doc, ps[0]!.doc), { what: 'late joiner has everything' });
    expect(count(late.doc)).toBe(n * 5);
  });

  it('a client that edits while disconnected and others who edit meanwhile all end with every edit', async () => {
    const owner = fx.user();
    const docId = fx.doc(owner);
    const [a, b] = await editors(2, docId, owner);
    a!.disconnect();
    a!.doc.getText('t').insert(0, 'offline-A ');
    b!.doc.getText('t').insert(0, 'online-B ');
    await waitFor(() => !a!.wsconnected);
    a!.connect();
    await waitFor(() => sameState(a!.doc, b!.doc), { what: 'reconnect convergence' });
    for (const p of [a!, b!]) {
      expect(p.doc.getText('t').toString()).toContain('offline-A');
      expect(p.doc.getText('t').toString()).toContain('online-B');
    }
  });
});
