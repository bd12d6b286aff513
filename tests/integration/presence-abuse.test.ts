// Presence is checked before it is relayed (issue 11 #1, #3, and `user.color`): a flood of entries
// for client ids the sender does not hold costs a few log lines and closes the socket 1008 while
// /healthz keeps answering; malformed cursors and colours are dropped, well-formed ones relayed.
import { afterAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import * as Y from 'yjs';
import * as encoding from 'lib0/encoding';
import { CloseCode } from '../../lib/close-codes';
import { encode } from '../../lib/protocol';
import { createFixture, provider, startServer, synced, waitFor, type Fixture, type InProcessServer } from '../helpers/fixture';
import { useServer } from '../helpers/suite';
import { rawConnect, storedDoc } from '../helpers/raw-client';

/** An awareness frame with the given entries (state as JSON text, so a test can send anything). */
function awarenessFrame(entries: { clientId: number; clock: number; json: string }[]): Uint8Array {
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, entries.length);
  for (const x of entries) {
    encoding.writeVarUint(e, x.clientId);
    encoding.writeVarUint(e, x.clock);
    encoding.writeVarString(e, x.json);
  }
  return encode.awareness(encoding.toUint8Array(e));
}

/** GET /healthz; resolves with how long the answer took (ms). */
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
function healthz(port: number): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/healthz', agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(performance.now() - t0));
      })
      .on('error', reject);
  });
}

describe('an awareness flood of foreign client ids', () => {
  let fx: Fixture | undefined;
  let srv: InProcessServer | undefined;
  afterAll(async () => {
    agent.destroy();
    await srv?.close();
    fx?.cleanup();
  });

  it('5 × 1 MB frames: a handful of log lines, /healthz under 100 ms throughout, the socket closed 1008', async () => {
    // In this process: a child's /healthz latency measured from here is mostly the two processes'
    // scheduling on a shared machine (20–40 ms with no flood at all); in one process every stall
    // of the server's event loop shows, and nothing else does (besides masking our own frames).
    fx = await createFixture();
    srv = await startServer(fx);
    const owner = fx.user({ name: 'Olive' });
    const viewer = fx.user({ name: 'Vic' });
    const docId = fx.doc(owner);
    fx.grant(docId, viewer, 'viewer');
    const alice = provider(srv.url, docId, await fx.token(owner, docId));
    alice.awareness.setLocalStateField('user', { name: 'Olive', color: '#e11d48' });
    await synced(alice);
    const v = await rawConnect(srv.url, docId, { token: await fx.token(viewer, docId) });
    await v.synced();
    await waitFor(() => v.awareness.getStates().has(alice.doc.clientID), { what: "the viewer sees the owner's presence" });

    // ~1 MB each: entries for the owner's id and ~30,000 other ids, each with a newer clock.
    const frames: Uint8Array[] = [];
    for (let f = 0; f < 5; f++) {
      const entries: { clientId: number; clock: number; json: string }[] = [];
      let bytes = 0;
      for (let i = 0; bytes < 1_000_000; i++) {
        const clientId = i % 2 === 0 ? alice.doc.clientID : 1_000_000 + f * 100_000 + i;
        entries.push({ clientId, clock: 1000 + f * 100_000 + i, json: '{"user":{"name":"x"}}' });
        bytes += 30;
      }
      frames.push(awarenessFrame(entries));
      expect(frames[f]!.byteLength).toBeLessThan(1024 * 1024);
    }
    // The same polling for a second without a flood: what this machine's scheduling costs alone.
    let baseline = 0;
    for (const until = Date.now() + 1000; Date.now() < until; ) {
      baseline = Math.max(baseline, await healthz(srv.port));
      await new Promise((r) => setTimeout(r, 5));
    }
    const linesBefore = srv.logs.lines.length;
    const loop = monitorEventLoopDelay({ resolution: 5 });
    loop.enable();
    let slowest = 0;
    let polls = 0;
    let polling = true;
    const poller = (async () => {
      // Paced, over one kept-alive connection: a tight loop of fresh connections measures itself.
      while (polling) {
        slowest = Math.max(slowest, await healthz(srv!.port));
        polls++;
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    // One frame per turn, as they would arrive from the network.
    for (const f of frames) {
      v.send(f);
      await new Promise((r) => setImmediate(r));
    }
    const closed = await waitFor(() => v.closeInfo, { timeout: 15_000, what: 'the flooding socket closed' });
    // Keep polling a little after the close: the last frames may still be arriving at the server.
    const until = Date.now() + 500;
    await waitFor(() => Date.now() > until && polls > 5, { what: 'polling after the flood' });
    polling = false;
    await poller;
    loop.disable();
    const stalled = loop.max / 1e6;

    expect(closed.code).toBe(CloseCode.POLICY_VIOLATION);
    expect(closed.reason).toMatch(/abusive presence/);
    const flood = srv.logs.lines.slice(linesBefore);
    const dropped = flood.filter((l) => l.msg === 'presence entries dropped');
    console.log(`flood: ${flood.length} log lines (${dropped.length} about dropped presence), ${polls} /healthz polls, slowest ${slowest.toFixed(1)} ms (${baseline.toFixed(1)} ms without a flood), event loop blocked at most ${stalled.toFixed(1)} ms`);
    // Unfixed: one warn line per refused entry, ~90,000 per frame.
    expect(dropped.length).toBeLessThanOrEqual(3);
    expect(flood.length).toBeLessThanOrEqual(10);
    // The server's event loop never stalls for 100 ms (unfixed: about a second per frame), and
    // /healthz answers within 100 ms — unless this machine is so loaded that it does not even
    // without a flood (load average far above its cores), then within twice that.
    expect(stalled).toBeLessThan(100);
    expect(slowest).toBeLessThan(baseline > 50 ? 2 * baseline : 100);
    // The owner's presence is still hers.
    const o = await rawConnect(srv.url, docId, { token: await fx.token(owner, docId) });
    await o.synced();
    await waitFor(() => o.awareness.getStates().get(alice.doc.clientID), { what: "the owner's presence" });
    expect(o.awareness.getStates().get(alice.doc.clientID)!.user).toMatchObject({ name: 'Olive' });
    o.close();
    alice.destroy();
  }, 60_000);
});

describe('presence states are checked before they are relayed', () => {
  const s = useServer();

  async function room() {
    const owner = s.fx.user({ name: 'Olive' });
    const viewer = s.fx.user({ name: 'Vic' });
    const docId = s.fx.doc(owner);
    s.fx.grant(docId, viewer, 'viewer');
    const writer = await rawConnect(s.srv.url, docId, { token: await s.fx.token(owner, docId) });
    s.open.push(writer);
    await writer.synced();
    writer.doc.getXmlFragment('default').insert(0, [new Y.XmlText('hello')]);
    await waitFor(() => storedDoc(s.fx, docId).getXmlFragment('default').length === 1, { what: 'the edit stored' });
    const v = await rawConnect(s.srv.url, docId, { token: await s.fx.token(viewer, docId) });
    s.open.push(v);
    await v.synced();
    return { docId, writer, v };
  }

  /** What the writer sees of the viewer's presence once the entry with `clock` arrived (or was dropped). */
  async function relayed(r: Awaited<ReturnType<typeof room>>, clock: number, state: string) {
    r.v.send(awarenessFrame([{ clientId: r.v.doc.clientID, clock, json: state }]));
    // A marker entry after it in a second frame: once the writer has it, the first was handled.
    r.v.send(awarenessFrame([{ clientId: r.v.doc.clientID, clock: clock + 1, json: JSON.stringify({ marker: clock, ...JSON.parse(state === 'null' ? '{}' : state) }) }]));
    await waitFor(() => (r.writer.awareness.getStates().get(r.v.doc.clientID) as { marker?: number } | undefined)?.marker === clock, { what: `presence ${clock} relayed` });
    return r.writer.awareness.getStates().get(r.v.doc.clientID)!;
  }

  it("a colour that is not #rgb / #rrggbb (e.g. a CSS url()) is removed; a hex colour is kept; the name is the token's", async () => {
    const r = await room();
    const bad = await relayed(r, 1, JSON.stringify({ user: { name: 'Mallory', color: 'url(https://evil.example/track.png)', avatar: 'https://evil.example/a.png' } }));
    expect(bad.user).toEqual({ name: 'Vic', id: expect.any(String) });
    const good = await relayed(r, 5, JSON.stringify({ user: { name: 'Vic', color: '#0284c7' } }));
    expect(good.user).toMatchObject({ name: 'Vic', color: '#0284c7' });
  });

  it('malformed cursors are removed (null, wrong types, out of range, unknown ids); a well-formed one is relayed', async () => {
    const r = await room();
    const wid = r.writer.doc.clientID;
    const bad = [
      { anchor: null, head: null },
      { anchor: 'a', head: 7 },
      { anchor: { type: null, tname: null, item: null, assoc: 0 }, head: { type: null, tname: null, item: null, assoc: 0 } },
      { anchor: { item: { client: -1, clock: 1.5 } }, head: { item: { client: wid, clock: 0 } } },
      { anchor: { item: { client: wid, clock: 10_000_000 } }, head: { item: { client: wid, clock: 10_000_000 } } },
    ];
    let clock = 10;
    for (const cursor of bad) {
      const seen = await relayed(r, clock, JSON.stringify({ cursor }));
      expect(seen.cursor, JSON.stringify(cursor)).toBeUndefined();
      clock += 2;
    }
    const good = { anchor: { type: null, tname: 'default', item: { client: wid, clock: 2 }, assoc: 0 }, head: { type: null, tname: 'default', item: { client: wid, clock: 2 }, assoc: 0 } };
    expect((await relayed(r, clock, JSON.stringify({ cursor: good }))).cursor).toEqual(good);
    // A state too large to be presence is not relayed at all.
    const huge = JSON.stringify({ cursor: good, pad: 'x'.repeat(10_000) });
    r.v.send(awarenessFrame([{ clientId: r.v.doc.clientID, clock: clock + 10, json: huge }]));
    const after = await relayed(r, clock + 20, JSON.stringify({ cursor: good }));
    expect(after.pad).toBeUndefined();
  });

  it('a connection that keeps sending malformed presence is closed 1008 as abusive', async () => {
    const r = await room();
    for (let i = 0; i < 30 && r.v.ws.readyState === 1; i++) r.v.send(awarenessFrame([{ clientId: r.v.doc.clientID, clock: 100 + i, json: '{"cursor":{"anchor":null,"head":null}}' }]));
    const c = await r.v.closed;
    expect(c.code).toBe(CloseCode.POLICY_VIOLATION);
    expect(c.reason).toMatch(/abusive presence/);
  });
});
