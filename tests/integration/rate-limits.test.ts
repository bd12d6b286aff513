// Abuse limits: a connection over its message rate, or a user/IP over its socket count, gets 4429.
import { afterEach, describe, expect, it } from 'vitest';
import { CloseCode } from '../../lib/close-codes';
import { encode } from '../../lib/protocol';
import { createFixture, startServer, waitFor } from '../helpers/fixture';
import { rawClient } from '../helpers/raw';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('rate limits', () => {
  it('a connection that keeps sending faster than its message rate is slowed, then closed with 4429; others are not', async () => {
    const fx = await createFixture();
    const srv = await startServer(fx, { limits: { messagesPerSec: 20, messageBurst: 40, connectionsPerUser: 0, connectionsPerIp: 0 }, inbound: { closeAfterMs: 1000 } });
    cleanups.push(() => fx.cleanup(), () => srv.close());
    const owner = fx.user();
    const docId = fx.doc(owner);
    const calm = await rawClient(srv.url, docId, await fx.token(owner, docId));
    const flood = await rawClient(srv.url, docId, await fx.token(owner, docId));
    cleanups.push(() => calm.ws.terminate(), () => flood.ws.terminate());
    // Slowed first (frames handled at 20/s), closed once it is still over its rate after closeAfterMs.
    const pump = setInterval(() => {
      for (let i = 0; i < 10 && flood.ws.readyState === flood.ws.OPEN; i++) flood.ws.send(encode.queryAwareness());
    }, 20);
    const closed = await flood.closed.finally(() => clearInterval(pump));
    expect(closed.code).toBe(CloseCode.RATE_LIMITED);
    calm.ws.send(encode.queryAwareness());
    await waitFor(() => calm.received.length >= 2, { what: 'calm client still served' });
    expect(calm.ws.readyState).toBe(calm.ws.OPEN);
    expect(await srv.metrics.rateLimited.get()).toMatchObject({ values: [expect.objectContaining({ labels: { limit: 'messages' }, value: 1 })] });
  });

  it('a user over the concurrent socket limit is refused with 4429', async () => {
    const fx = await createFixture();
    const srv = await startServer(fx, { limits: { messagesPerSec: 1000, messageBurst: 1000, connectionsPerUser: 2, connectionsPerIp: 0 } });
    cleanups.push(() => fx.cleanup(), () => srv.close());
    const owner = fx.user();
    const docId = fx.doc(owner);
    const socks: Awaited<ReturnType<typeof rawClient>>[] = [];
    for (let i = 0; i < 2; i++) socks.push(await rawClient(srv.url, docId, await fx.token(owner, docId)));
    cleanups.push(() => socks.forEach((s) => s.ws.terminate()));
    await waitFor(() => socks.every((s) => s.received.length > 0));
    const third = await rawClient(srv.url, docId, await fx.token(owner, docId));
    expect((await third.closed).code).toBe(CloseCode.RATE_LIMITED);
    // Once one leaves, the user may connect again.
    socks[0]!.ws.close();
    await socks[0]!.closed;
    await waitFor(() => srv.server.connections.size === 1);
    const again = await rawClient(srv.url, docId, await fx.token(owner, docId));
    cleanups.push(() => again.ws.terminate());
    await waitFor(() => again.received.length > 0, { what: 'reconnect under the limit' });
  });

  it('an IP over the concurrent socket limit is refused with HTTP 429 before the upgrade, whoever the user is', async () => {
    const fx = await createFixture();
    const srv = await startServer(fx, { limits: { messagesPerSec: 1000, messageBurst: 1000, connectionsPerUser: 0, connectionsPerIp: 2 } });
    cleanups.push(() => fx.cleanup(), () => srv.close());
    const owner = fx.user();
    const docId = fx.doc(owner, { general: 'editor' });
    const socks: Awaited<ReturnType<typeof rawClient>>[] = [];
    for (let i = 0; i < 2; i++) socks.push(await rawClient(srv.url, docId, await fx.token(fx.user(), docId)));
    cleanups.push(() => socks.forEach((s) => s.ws.terminate()));
    await waitFor(() => socks.every((s) => s.received.length > 0));
    // Refused before any WebSocket exists (issue 13): no socket, no token check.
    await expect(rawClient(srv.url, docId, await fx.token(fx.user(), docId))).rejects.toThrow('upgrade refused: 429');
    expect(await srv.metrics.rateLimited.get()).toMatchObject({ values: [expect.objectContaining({ labels: { limit: 'connections-per-ip' }, value: 1 })] });
    socks[0]!.ws.close();
    await socks[0]!.closed;
    await waitFor(() => srv.server.connections.size === 1);
    const again = await rawClient(srv.url, docId, await fx.token(fx.user(), docId));
    cleanups.push(() => again.ws.terminate());
    await waitFor(() => again.received.length > 0, { what: 'reconnect under the limit' });
  });
});
