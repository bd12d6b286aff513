// Degraded modes of a scaled-out deployment, each injected for real on loopback:
// - PostgreSQL unreachable from one instance (its connections go through a proxy we cut): nothing
//   the sender wrote is acknowledged or broadcast, the sender is told saving is paused (4503) and
//   keeps its edits, and after PostgreSQL returns everything arrives;
// - Redis gone (its server killed, then started again): instances keep serving their own clients,
//   keep appending, and carry updates to each other through the log until Redis is back.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import * as Y from 'yjs';
import type { WebsocketProvider } from 'y-websocket';
import { CollabClient, type CollabStatus } from '../../lib/collab-client';
import { CloseCode } from '../../lib/close-codes';
import { provider, sameState, synced, waitFor } from '../helpers/fixture';
import { expectNever } from '../helpers/app';
import { createPgFixture, PG_URL, startPgInstance, type ClusterInstance, type PgFixture } from '../helpers/pg-fixture';
import { startPrivateRedis, type PrivateRedis } from '../helpers/private-redis';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy';

let fx: PgFixture;
let redis: PrivateRedis;
let pgProxy: TcpProxy;
let viaProxy: ClusterInstance;
let direct: ClusterInstance;
const providers: WebsocketProvider[] = [];
const clients: CollabClient[] = [];

beforeAll(async () => {
  fx = await createPgFixture();
  redis = await startPrivateRedis();
  const pg = new URL(PG_URL);
  pgProxy = await startTcpProxy(Number(pg.port || 5432), pg.hostname);
  pg.port = String(pgProxy.port);
  viaProxy = await startPgInstance(fx, 'collab-1', { redisUrl: redis.url, pgUrl: pg.toString() });
  direct = await startPgInstance(fx, 'collab-2', { redisUrl: redis.url });
});
afterAll(async () => {
  for (const c of clients) c.destroy();
  for (const p of providers) p.destroy();
  await viaProxy?.close();
  await direct?.close();
  await pgProxy?.close();
  await redis?.stop();
  await fx?.cleanup();
});

const text = (d: Y.Doc) => d.getText('t').toString();

describe('PostgreSQL unreachable from one instance', () => {
  it('nothing is acknowledged or broadcast, the editor is told saving is paused, and every edit arrives once it is back', async () => {
    const owner = await fx.user({ name: 'Ann' });
    const docId = await fx.doc(owner, { general: 'editor' });
    const statuses: CollabStatus[] = [];
    const closes: number[] = [];
    const a = await CollabClient.connect({
      docId,
      doc: new Y.Doc(),
      getToken: async () => ({ token: await fx.token(owner, docId), url: viaProxy.url, expiresAt: Date.now() + 300_000 }),
      WebSocketPolyfill: WebSocket,
      disableBc: true,
    });
    clients.push(a);
    a.on('status', (s) => statuses.push(s));
    a.provider.on('connection-close', (ev) => ev && closes.push(ev.code));
    const sameInstance = provider(viaProxy.url, docId, await fx.token(owner, docId));
    const otherInstance = provider(direct.url, docId, await fx.token(owner, docId));
    providers.push(sameInstance, otherInstance);
    await waitFor(() => a.provider.synced, { what: 'A synced' });
    await Promise.all([synced(sameInstance), synced(otherInstance)]);
    a.provider.doc.getText('t').insert(0, 'saved ');
    await waitFor(() => text(otherInstance.doc) === 'saved ' && text(sameInstance.doc) === 'saved ', { what: 'edit before the outage' });

    pgProxy.cut();
    a.provider.doc.getText('t').insert(6, 'kept-locally ');
    await waitFor(() => closes.includes(CloseCode.STORAGE_UNAVAILABLE), { what: 'A closed with 4503', timeout: 8000 });
    await waitFor(() => a.status.savingPaused === true && a.status.unsynced, { what: 'A: saving paused, unsynced edits kept' });
    // Nobody — on the same instance or another — is shown what was not stored.
    await expectNever(() => text(sameInstance.doc).includes('kept-locally') || text(otherInstance.doc).includes('kept-locally'), 1500, 'an unstored edit was broadcast');
    expect(text(a.provider.doc)).toContain('kept-locally');
    expect(text(await fx.stored(docId))).toBe('saved ');

    pgProxy.restore();
    await waitFor(() => text(otherInstance.doc).includes('kept-locally') && text(sameInstance.doc).includes('kept-locally'), { what: 'the paused edit arrives everywhere', timeout: 15_000 });
    await waitFor(() => a.status.state === 'connected' && !a.status.savingPaused && !a.status.unsynced, { what: 'A saved again' });
    expect(sameState(await fx.stored(docId), a.provider.doc)).toBe(true);
    expect(statuses.some((s) => s.savingPaused)).toBe(true);
  });
});

describe('Redis down', () => {
  it('instances keep serving and storing, carry updates to each other through the log, and converge when Redis returns', async () => {
    const owner = await fx.user({ name: 'Bo' });
    const docId = await fx.doc(owner, { general: 'editor' });
    const a = provider(viaProxy.url, docId, await fx.token(owner, docId));
    const b = provider(direct.url, docId, await fx.token(owner, docId));
    providers.push(a, b);
    await Promise.all([synced(a), synced(b)]);
    a.doc.getText('t').insert(0, 'a1 ');
    await waitFor(() => text(b.doc) === 'a1 ', { what: 'edit through Redis' });

    await redis.kill();
    a.doc.getText('t').insert(0, 'a2 ');
    b.doc.getText('t').insert(0, 'b2 ');
    // Each instance still stores its own clients' edits, and the other reads them from the log.
    await waitFor(() => text(a.doc).includes('b2') && text(b.doc).includes('a2'), { what: 'cross-instance delivery through the log', timeout: 10_000 });
    expect(viaProxy.bus!.healthy()).toBe(false);

    await redis.start();
    await waitFor(() => viaProxy.bus!.healthy() && direct.bus!.healthy(), { what: 'Redis healthy again on both instances', timeout: 15_000 });
    a.doc.getText('t').insert(0, 'a3 ');
    await waitFor(() => text(b.doc).includes('a3') && sameState(a.doc, b.doc), { what: 'converged after Redis returned', timeout: 10_000 });
    expect(sameState(await fx.stored(docId), a.doc)).toBe(true);
  });
});
