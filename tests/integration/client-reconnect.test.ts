// Issue 13, clients: 200 Tandem clients losing the server at once (SIGTERM restart, close 1012)
// come back spread over seconds (histogram printed) and all resync; a background tab's socket
// survives missed keepalives after it said so, a foreground one that lost its network notices
// within one keepalive interval.
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import * as Y from 'yjs';
import { CollabClient } from '../../lib/collab-client';
import { reconnectDelayMs, retryHintMs } from '../../lib/backoff';
import { CloseCode } from '../../lib/close-codes';
import { encode } from '../../lib/protocol';
import { createFixture, spawnServer, startServer, waitFor } from '../helpers/fixture';
import { rawClient } from '../helpers/raw';
import { startChaosProxy } from '../chaos/chaos-proxy';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('reconnect delays (lib/backoff.ts)', () => {
  it('full jitter, capped; a retry hint is honoured; a 1012 is spread over the restart window', () => {
    for (let a = 0; a < 12; a++) {
      expect(reconnectDelayMs(a, 1006, '', undefined, () => 0.999)).toBeLessThanOrEqual(Math.min(30_000, 250 * 2 ** a));
      expect(reconnectDelayMs(a, 1006, '', undefined, () => 0)).toBe(0);
    }
    expect(retryHintMs('too many messages: slow down; retry after 10s')).toBe(10_000);
    expect(retryHintMs('retry-after=3')).toBe(3000);
    expect(retryHintMs('retry after 1500ms')).toBe(1500);
    expect(retryHintMs('reconnect later')).toBeNull();
    expect(reconnectDelayMs(0, CloseCode.RATE_LIMITED, 'retry after 10s', undefined, () => 0.5)).toBe(12_500);
    expect(reconnectDelayMs(0, CloseCode.SERVICE_RESTART, 'server restarting', undefined, () => 0.5)).toBe(2500);
  });
});

const p = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * q))]!;

describe('Tandem client', () => {
  it('200 clients after a SIGTERM restart come back spread over at least 2 s and all resync', async () => {
    const fx = await createFixture();
    cleanups.push(() => fx.cleanup());
    const owner = fx.user();
    const docId = fx.doc(owner, { general: 'editor' });
    const users = Array.from({ length: 10 }, () => fx.user());
    let srv = await spawnServer(fx);
    const port = srv.port;
    cleanups.push(() => srv.proc.kill('SIGKILL'));
    const N = 200;
    const clients: CollabClient[] = [];
    const docs: Y.Doc[] = [];
    for (let i = 0; i < N; i++) {
      const doc = new Y.Doc();
      const user = users[i % users.length]!;
      docs.push(doc);
      clients.push(
        new CollabClient(
          { docId, doc, WebSocketPolyfill: WebSocket, disableBc: true, getToken: async () => ({ token: await fx.token(user, docId), url: `ws://127.0.0.1:${port}`, expiresAt: Date.now() + 300_000 }) },
          { token: await fx.token(user, docId), url: `ws://127.0.0.1:${port}`, expiresAt: Date.now() + 300_000 },
        ),
      );
    }
    cleanups.push(() => clients.forEach((c) => c.destroy()));
    await waitFor(() => clients.every((c) => c.provider.synced), { timeout: 30_000, what: '200 clients synced' });
    const back: number[] = [];
    clients.forEach((c) => c.provider.on('status', ({ status }: { status: string }) => {
      if (status === 'connected') back.push(performance.now());
    }));
    const t0 = performance.now();
    srv.proc.kill('SIGTERM');
    await srv.exited;
    // Edits made while the server is away go out in the resync.
    docs.forEach((d, i) => d.getText('t').insert(0, `c${i};`));
    srv = await spawnServer(fx, {}, port);
    await waitFor(() => back.length >= N && clients.every((c) => c.provider.synced), { timeout: 60_000, what: 'all 200 clients back and synced' });
    const rel = back.map((t) => t - t0);
    const spread = p(rel, 0.95) - p(rel, 0.05);
    const bucket = 500;
    const hist = new Map<number, number>();
    for (const r of rel) hist.set(Math.floor(r / bucket), (hist.get(Math.floor(r / bucket)) ?? 0) + 1);
    console.log(`reconnects after SIGTERM (ms since the signal, ${bucket} ms buckets; p5 ${Math.round(p(rel, 0.05))}, p95 ${Math.round(p(rel, 0.95))}, spread ${Math.round(spread)} ms):\n${[...hist.entries()].sort((a, b) => a[0] - b[0]).map(([k, v]) => `${String(k * bucket).padStart(6)} ${'#'.repeat(v)} ${v}`).join('\n')}`);
    expect(spread).toBeGreaterThanOrEqual(2000);
    // Every copy has every edit.
    const expected = docs[0]!.getText('t').toString();
    await waitFor(() => docs.every((d) => d.getText('t').toString().length === expected.length && d.getText('t').toString().split(';').length - 1 === N), { timeout: 60_000, what: 'all copies converged' });
    for (const d of docs) expect(d.getText('t').toString()).toBe(docs[0]!.getText('t').toString());
  });

  it("a hidden tab's socket survives 3 missed keepalives; a foreground one that lost its network notices within one interval", async () => {
    const fx = await createFixture();
    const keepaliveMs = 400;
    const srv = await startServer(fx, { keepaliveMs, backgroundMissedPongs: 5 });
    cleanups.push(() => fx.cleanup(), () => srv.close());
    const owner = fx.user();
    const docId = fx.doc(owner);
    // Server side: a raw socket that said EXT_HELLO then BACKGROUND, then stops answering pings.
    const bg = await rawClient(srv.url, docId, await fx.token(owner, docId));
    const fg = await rawClient(srv.url, docId, await fx.token(owner, docId));
    cleanups.push(() => bg.ws.terminate(), () => fg.ws.terminate());
    bg.ws.send(encode.extHello('test'));
    await waitFor(() => bg.received.some((f) => f[0] === 103), { what: 'role (EXT_HELLO answered)' });
    bg.ws.send(encode.background(true));
    await waitFor(() => [...srv.server.connections].some((c) => c.background), { what: 'server saw BACKGROUND' });
    bg.ws.pause(); // a frozen tab: no pongs
    fg.ws.pause(); // a foreground socket that stopped answering
    const paused = performance.now();
    await waitFor(() => fg.ws.readyState === fg.ws.CLOSED || [...srv.server.connections].length === 1, { timeout: 5000, what: 'foreground socket dropped' });
    await waitFor(() => performance.now() - paused > 3.5 * keepaliveMs, { interval: 50 });
    expect([...srv.server.connections].filter((c) => c.background)).toHaveLength(1);
    bg.ws.resume();
    bg.ws.send(encode.background(false));
    await waitFor(() => [...srv.server.connections].some((c) => !c.background && c.alive), { what: 'back in front' });

    // Client side: a CollabClient whose network goes silent (proxy holds bytes) notices within one interval.
    const proxy = await startChaosProxy({ targetPort: srv.port });
    cleanups.push(() => proxy.close());
    const doc = new Y.Doc();
    const url = `ws://127.0.0.1:${proxy.port}`;
    const client = new CollabClient(
      { docId, doc, WebSocketPolyfill: WebSocket, disableBc: true, keepaliveMs, getToken: async () => ({ token: await fx.token(owner, docId), url, expiresAt: Date.now() + 300_000 }) },
      { token: await fx.token(owner, docId), url, expiresAt: Date.now() + 300_000 },
    );
    cleanups.push(() => client.destroy());
    await waitFor(() => client.provider.synced, { what: 'client synced' });
    const closes: number[] = [];
    client.provider.on('connection-close', () => closes.push(performance.now()));
    const lost = performance.now();
    proxy.stall();
    await waitFor(() => closes.length > 0, { timeout: 5000, what: 'client noticed the dead connection' });
    const noticedMs = closes[0]! - lost;
    console.log(`foreground client noticed a silent connection after ${Math.round(noticedMs)} ms (keepalive ${keepaliveMs} ms)`);
    expect(noticedMs).toBeLessThanOrEqual(keepaliveMs + 150);
    proxy.unstall();
    await waitFor(() => client.provider.synced, { what: 'client back and resynced' });
  });
});
