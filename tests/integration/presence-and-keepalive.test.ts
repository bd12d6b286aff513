// Presence comes and goes with connections; silent sockets are kept alive or reaped.
import { afterEach, describe, expect, it } from 'vitest';
import type { Socket } from 'node:net';
import { EMPTY_AWARENESS_FRAME, encode } from '../../lib/protocol';
import { createFixture, provider, startServer, synced, waitFor, type Fixture, type InProcessServer } from '../helpers/fixture';
import { rawClient } from '../helpers/raw';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(overrides = {}) {
  const fx: Fixture = await createFixture();
  const srv: InProcessServer = await startServer(fx, overrides);
  cleanups.push(() => fx.cleanup(), () => srv.close());
  const owner = fx.user({ name: 'Ada' });
  const docId = fx.doc(owner);
  return { fx, srv, owner, docId };
}

const sameBytes = (a: Uint8Array, b: Uint8Array) => Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;

describe('presence', () => {
  it("a closed connection's awareness state is removed and the removal broadcast at once", async () => {
    const { fx, srv, owner, docId } = await setup();
    const a = provider(srv.url, docId, await fx.token(owner, docId));
    const b = provider(srv.url, docId, await fx.token(owner, docId));
    cleanups.push(() => a.destroy(), () => b.destroy());
    await Promise.all([synced(a), synced(b)]);
    a.awareness.setLocalStateField('marker', { x: 1 });
    await waitFor(() => b.awareness.getStates().get(a.doc.clientID)?.marker, { what: 'b sees a' });
    // The server binds the shown identity to the token: the name is Ada's whatever a claimed.
    expect(b.awareness.getStates().get(a.doc.clientID)?.user?.name).toBe('Ada');
    const t0 = Date.now();
    a.destroy();
    await waitFor(() => !b.awareness.getStates().has(a.doc.clientID), { what: "a's presence removed" });
    // Well before the 30 s awareness timeout: the server broadcast the removal.
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it("stock clients echoing their peers' presence are not mistaken for spoofing", async () => {
    const { fx, srv, owner, docId } = await setup();
    const other = fx.user({ name: 'Bea' });
    fx.grant(docId, other, 'editor');
    const a = provider(srv.url, docId, await fx.token(owner, docId));
    const b = provider(srv.url, docId, await fx.token(other, docId));
    cleanups.push(() => a.destroy(), () => b.destroy());
    await Promise.all([synced(a), synced(b)]);
    for (let i = 0; i < 5; i++) {
      a.awareness.setLocalStateField('marker', i);
      b.awareness.setLocalStateField('marker', i);
      await waitFor(() => a.awareness.getStates().get(b.doc.clientID)?.marker === i && b.awareness.getStates().get(a.doc.clientID)?.marker === i, { what: `presence round ${i}` });
    }
    const spoofs = (await srv.metrics.refusedUpdates.get()).values.filter((v) => v.labels.reason === 'awareness-spoof');
    expect(spoofs).toEqual([]);
    expect(srv.logs.lines.filter((l) => String(l.msg).includes('held by another user'))).toEqual([]);
  });

  it('query-awareness answers with every current state', async () => {
    const { fx, srv, owner, docId } = await setup();
    const a = provider(srv.url, docId, await fx.token(owner, docId));
    cleanups.push(() => a.destroy());
    await synced(a);
    a.awareness.setLocalStateField('hello', 'world');
    await waitFor(() => srv.server.registry.peek(docId)?.awareness.getStates().get(a.doc.clientID), { what: 'server has a' });
    const raw = await rawClient(srv.url, docId, await fx.token(owner, docId));
    cleanups.push(() => raw.ws.terminate());
    await waitFor(() => raw.received.length > 0);
    const before = raw.received.length;
    raw.ws.send(encode.queryAwareness());
    const answer = await waitFor(() => raw.received.slice(before).find((f) => f[0] === 1 && !sameBytes(f, EMPTY_AWARENESS_FRAME)), { what: 'awareness answer' });
    expect(Buffer.from(answer).toString()).toContain('world');
  });
});

describe('keepalive', () => {
  it('a silent client gets a message well within the y-websocket 30 s watchdog', async () => {
    const { fx, srv, owner, docId } = await setup({ keepaliveMs: 1200 });
    const raw = await rawClient(srv.url, docId, await fx.token(owner, docId));
    cleanups.push(() => raw.ws.terminate());
    await waitFor(() => raw.received.length > 0);
    // keepalive/2 = 600 ms of silence earns a 3-byte empty awareness update.
    await waitFor(() => raw.received.some((f) => sameBytes(f, EMPTY_AWARENESS_FRAME)), { timeout: 3000, what: 'heartbeat frame' });
    expect(raw.ws.readyState).toBe(raw.ws.OPEN);
  });

  it('a socket that stops answering pings is terminated; one that answers stays', async () => {
    const { fx, srv, owner, docId } = await setup({ keepaliveMs: 300 });
    const alive = await rawClient(srv.url, docId, await fx.token(owner, docId));
    const dead = await rawClient(srv.url, docId, await fx.token(owner, docId));
    cleanups.push(() => alive.ws.terminate(), () => dead.ws.terminate());
    await waitFor(() => srv.server.connections.size === 2 && [...srv.server.connections].every((c) => c.authorized));
    const deadConn = [...srv.server.connections].at(-1)!;
    (dead.ws as unknown as { _socket: Socket })._socket.pause(); // reads nothing, so never pongs
    await waitFor(() => !srv.server.connections.has(deadConn), { timeout: 5000, what: 'dead socket reaped' });
    expect(srv.server.connections.size).toBe(1);
    expect(alive.ws.readyState).toBe(alive.ws.OPEN);
  });
});
