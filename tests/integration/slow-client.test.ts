// A client that stops reading is cut off at the send-buffer cap (1013) while the others keep
// receiving, and the server's memory stays bounded instead of queueing everything for it.
import { afterAll, describe, expect, it } from 'vitest';
import type { Socket } from 'node:net';
import { CloseCode } from '../../lib/close-codes';
import { createFixture, provider, startServer, synced, waitFor, type Fixture, type InProcessServer } from '../helpers/fixture';
import { rawClient } from '../helpers/raw';

let fx: Fixture;
let srv: InProcessServer;
afterAll(async () => {
  await srv?.close();
  fx?.cleanup();
});

/** Live JS heap plus Buffers/ArrayBuffers (where unsent socket data lives), after a full GC. */
function liveBytes(): number {
  (globalThis as { gc?: () => void }).gc!();
  const m = process.memoryUsage();
  return m.heapUsed + m.external + m.arrayBuffers;
}

describe('a client that stops reading', () => {
  it('is closed with 1013 at the buffer cap; others keep receiving; memory stays bounded', async () => {
    fx = await createFixture();
    const cap = 4 * 1024 * 1024;
    srv = await startServer(fx, { sendBufferCap: cap });
    const owner = fx.user();
    const docId = fx.doc(owner);
    const writer = provider(srv.url, docId, await fx.token(owner, docId));
    const reader = provider(srv.url, docId, await fx.token(owner, docId));
    await Promise.all([synced(writer), synced(reader)]);

    const slow = await rawClient(srv.url, docId, await fx.token(owner, docId));
    await waitFor(() => slow.received.length > 0, { what: 'slow client synced' });
    (slow.ws as unknown as { _socket: Socket })._socket.pause(); // stop reading, keep the socket open
    const slowConn = [...srv.server.connections].at(-1)!;
    const before = liveBytes();

    // ~120 MiB through the server: insert then delete 256 KiB (the doc itself stays small after GC).
    const chunk = 'y'.repeat(256 * 1024);
    const rounds = 480;
    let received = 0;
    reader.doc.on('update', () => received++);
    const t = writer.doc.getText('t');
    let peak = 0;
    for (let i = 0; i < rounds; i++) {
      t.insert(0, chunk);
      t.delete(0, chunk.length);
      // Closed loop: the reader keeps up, so only the stalled client falls behind.
      await waitFor(() => received >= 2 * (i + 1), { what: `reader received round ${i}` });
      if (i % 40 === 0) peak = Math.max(peak, liveBytes() - before);
    }
    expect(received).toBe(rounds * 2);
    expect(slowConn.closeCode).toBe(CloseCode.TRY_AGAIN_LATER);
    await waitFor(() => !srv.server.connections.has(slowConn), { what: 'stalled socket terminated' });
    const after = liveBytes() - before;
    console.log(`pushed ${((rounds * chunk.length) / 2 ** 20).toFixed(0)} MiB past a stalled reader (cap ${cap / 2 ** 20} MiB): peak growth ${(peak / 2 ** 20).toFixed(1)} MiB, after ${(after / 2 ** 20).toFixed(1)} MiB`);
    // Without the cap the same run peaks at ~220 MiB and keeps ~120 MiB queued for the stalled
    // socket (measured with the cap at 1 GB); with it, 46–75 MiB of transient buffers in flight
    // at the peak and 15–70 MiB after, depending on how busy the machine is.
    expect(peak).toBeLessThan(160 * 2 ** 20);
    expect(after).toBeLessThan(100 * 2 ** 20);
    writer.destroy();
    reader.destroy();
  }, 120_000);
});
