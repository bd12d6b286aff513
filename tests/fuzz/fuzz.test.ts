// Issue 13: the frame fuzzer against a live server for a bounded time (FUZZ_MS, default 60 s; the
// long run is `npm run fuzz`). Passes when the server neither crashes nor leaves a promise
// rejection unhandled, its heap grows less than 64 MiB, and an honest client still converges.
import { afterEach, describe, expect, it } from 'vitest';
import { createFixture, provider, startServer, waitFor } from '../helpers/fixture';
import { fuzz } from './frame-fuzzer';

const FUZZ_MS = Number(process.env.FUZZ_MS ?? 60_000);
const HEAP_GROWTH_BOUND = 64 * 1024 * 1024;

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('fuzzer', () => {
  it(`mutated and random frames for ${FUZZ_MS / 1000} s: no crash, no unhandled rejection, bounded memory`, async () => {
    const fx = await createFixture();
    const srv = await startServer(fx, { limits: { messagesPerSec: 2000, messageBurst: 10_000, connectionsPerUser: 0, connectionsPerIp: 0 } });
    cleanups.push(() => fx.cleanup(), () => srv.close());
    const owner = fx.user();
    const docId = fx.doc(owner);
    const problems: string[] = [];
    const onRejection = (err: unknown) => problems.push(`unhandled rejection: ${String(err)}`);
    const onException = (err: unknown) => problems.push(`uncaught exception: ${String(err)}`);
    process.on('unhandledRejection', onRejection);
    process.on('uncaughtException', onException);
    cleanups.push(() => process.off('unhandledRejection', onRejection), () => process.off('uncaughtException', onException));
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    const before = process.memoryUsage().heapUsed;
    const stats = await fuzz({ url: srv.url, docId, token: () => fx.token(owner, docId) }, FUZZ_MS, undefined, () => {
      // The in-process log sink keeps every line; it is the test's memory, not the server's.
      if (srv.logs.lines.length > 10_000) srv.logs.lines = [];
    });
    srv.logs.lines = [];
    await waitFor(() => srv.server.connections.size === 0, { timeout: 10_000, what: 'fuzz sockets closed' });
    gc?.();
    const growth = process.memoryUsage().heapUsed - before;
    console.log(`fuzz: ${stats.cases} cases, ${stats.frames} frames in ${FUZZ_MS / 1000} s (seed ${stats.seed}); close codes ${JSON.stringify(stats.closes)}; heap growth ${(growth / 1048576).toFixed(1)} MiB (bound ${HEAP_GROWTH_BOUND / 1048576} MiB)`);
    expect(problems).toEqual([]);
    expect(growth).toBeLessThan(HEAP_GROWTH_BOUND);
    expect(stats.cases).toBeGreaterThan(100);
    // Still serving: an honest client syncs and sees the document.
    const p = provider(srv.url, docId, await fx.token(owner, docId));
    cleanups.push(() => p.destroy());
    await waitFor(() => p.synced, { what: 'honest client synced after the fuzz' });
    expect((await fetch(`http://127.0.0.1:${srv.port}/healthz`)).status).toBe(200);
  }, FUZZ_MS + 60_000);
});
