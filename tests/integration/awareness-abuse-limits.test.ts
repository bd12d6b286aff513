// Issue 13: awareness abuse — a huge state, thousands of client ids, clock 2^53−1, another user's
// client id, a flood of presence frames — is refused or clamped, and other users' presence stays
// correct for everyone else.
import { afterEach, describe, expect, it } from 'vitest';
import * as encoding from 'lib0/encoding';
import { CloseCode } from '../../lib/close-codes';
import { encode } from '../../lib/protocol';
import { createFixture, provider, startServer, synced, waitFor } from '../helpers/fixture';
import { rawClient } from '../helpers/raw';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const awareness = (entries: { id: number; clock: number; state: unknown }[]) => {
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, entries.length);
  for (const x of entries) {
    encoding.writeVarUint(e, x.id);
    encoding.writeVarUint(e, x.clock);
    encoding.writeVarString(e, JSON.stringify(x.state));
  }
  return encode.awareness(encoding.toUint8Array(e));
};

describe('awareness abuse', () => {
  it('huge states, thousands of ids, clock 2^53−1, a foreign id and a flood are refused or clamped; honest presence stays right', async () => {
    const fx = await createFixture();
    const srv = await startServer(fx);
    cleanups.push(() => fx.cleanup(), () => srv.close());
    const owner = fx.user();
    const docId = fx.doc(owner, { general: 'editor' });
    const bob = fx.user({ name: 'Bob' });
    const b = provider(srv.url, docId, await fx.token(bob, docId));
    const c = provider(srv.url, docId, await fx.token(fx.user(), docId));
    cleanups.push(() => b.destroy(), () => c.destroy());
    await synced(b);
    await synced(c);
    b.awareness.setLocalStateField('user', { name: 'Bob', color: '#abc' });
    await waitFor(() => (c.awareness.getStates().get(b.doc.clientID) as { user?: { name?: string } } | undefined)?.user?.name === 'Bob', { what: "observer sees Bob's presence" });
    const seenBy = () => new Map(c.awareness.getStates());

    const evil = await rawClient(srv.url, docId, await fx.token(fx.user({ name: 'Mallory' }), docId));
    cleanups.push(() => evil.ws.terminate());
    const own = 424242;
    // A huge state (over 4096 bytes of JSON): dropped.
    evil.ws.send(awareness([{ id: own, clock: 1, state: { user: { color: '#fff' }, junk: 'x'.repeat(200_000) } }]));
    // Clock 2^53−1 on its own id: dropped (it would freeze that id's presence for everyone).
    evil.ws.send(awareness([{ id: own, clock: Number.MAX_SAFE_INTEGER, state: { user: { color: '#fff' } } }]));
    // Bob's client id: dropped, Bob's presence untouched.
    evil.ws.send(awareness([{ id: b.doc.clientID, clock: 999, state: { user: { name: 'Not Bob', color: '#000' } } }]));
    // A presence flood (over AWARENESS_RATE_PER_SEC's burst): the excess is dropped and counted.
    for (let i = 0; i < 400; i++) evil.ws.send(awareness([{ id: own, clock: 2 + i, state: { user: { color: '#fff' }, i } }]));
    await waitFor(async () => (await srv.metrics.throttled.get()).values.some((v) => v.labels.reason === 'awareness' && v.labels.action === 'dropped' && v.value > 0), { what: 'awareness flood dropped' });
    // Thousands of client ids in one frame: at most a handful held per connection, then closed 1008.
    evil.ws.send(awareness(Array.from({ length: 5000 }, (_, i) => ({ id: 1_000_000 + i, clock: 1, state: { user: { color: '#fff' } } }))));
    expect((await evil.closed).code).toBe(CloseCode.POLICY_VIOLATION);

    const refused = Object.fromEntries((await srv.metrics.refusedUpdates.get()).values.map((v) => [v.labels.reason, v.value]));
    expect(refused['awareness-clock']).toBeGreaterThanOrEqual(1);
    expect(refused['awareness-spoof']).toBeGreaterThanOrEqual(1);
    expect(Object.keys(refused).some((k) => k.startsWith('awareness-') && k !== 'awareness-clock' && k !== 'awareness-spoof')).toBe(true); // the huge state
    // Everyone else's view: Bob is Bob; nothing of Mallory's junk, no thousands of ids, no frozen clock.
    await waitFor(() => !seenBy().has(own), { what: "Mallory's presence removed at close" });
    const states = seenBy();
    expect((states.get(b.doc.clientID) as { user: { name: string; color: string } }).user).toMatchObject({ name: 'Bob', color: '#abc' });
    expect(states.size).toBeLessThanOrEqual(3);
    for (const [, s] of states) expect(JSON.stringify(s).length).toBeLessThan(4096);
    expect(c.awareness.meta.get(own)?.clock ?? 0).toBeLessThan(2 ** 24);
    // Bob keeps updating his presence.
    b.awareness.setLocalStateField('user', { name: 'Bob', color: '#123' });
    await waitFor(() => (c.awareness.getStates().get(b.doc.clientID) as { user?: { color?: string } })?.user?.color === '#123', { what: "Bob's next presence update" });
  });
});
