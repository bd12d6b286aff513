// Documents leave memory when their last connection is gone and their state is stored.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { createFixture, provider, sameState, startServer, synced, waitFor, type Fixture, type InProcessServer } from '../helpers/fixture';
import { rawClient } from '../helpers/raw';
import { encode } from '../../lib/protocol';

let fx: Fixture;
let srv: InProcessServer;
beforeAll(async () => {
  fx = await createFixture();
  srv = await startServer(fx);
});
afterAll(async () => {
  await srv.close();
  fx.cleanup();
});

describe('document unload', () => {
  it('1,000 documents opened, edited and closed leave no document in memory', async () => {
    const owner = fx.user();
    const ids = Array.from({ length: 1000 }, () => fx.doc(owner));
    const token = new Map<string, string>();
    for (const id of ids) token.set(id, await fx.token(owner, id));
    let peak = 0;
    const refs: WeakRef<object>[] = [];
    // In its own (non-async) frame, so no suspended local of the test keeps a document alive.
    const track = (batch: string[]) => {
      for (const id of batch) {
        const live = srv.server.registry.peek(id);
        if (live) refs.push(new WeakRef(live));
      }
    };
    // 50 at a time: each client writes one update, then leaves.
    for (let i = 0; i < ids.length; i += 50) {
      const batch = ids.slice(i, i + 50);
      const clients = await Promise.all(batch.map((id) => rawClient(srv.url, id, token.get(id)!)));
      await waitFor(() => clients.every((c) => c.received.length > 0), { what: 'handshakes' });
      clients.forEach((c, k) => {
        const d = new Y.Doc();
        d.getText('t').insert(0, `doc ${i + k}`);
        c.ws.send(encode.update(Y.encodeStateAsUpdate(d)));
      });
      peak = Math.max(peak, srv.server.registry.size);
      track(batch);
      clients.forEach((c) => c.ws.close());
      await Promise.all(clients.map((c) => c.closed));
    }
    expect(peak).toBeGreaterThan(0);
    await waitFor(() => srv.server.registry.size === 0, { timeout: 20_000, what: 'every document unloaded' });
    expect((await srv.metrics.docsInMemory.get()).values[0]?.value).toBe(0);
    // Not just out of the map: nothing else (timers, sockets, listeners) still holds them.
    expect(refs.length).toBeGreaterThan(900);
    await waitFor(
      async () => {
        (globalThis as { gc?: () => void }).gc!();
        await new Promise((r) => setImmediate(r));
        return refs.filter((r) => r.deref() !== undefined).length === 0;
      },
      { timeout: 10_000, what: 'unloaded documents garbage-collected' },
    );
    // Each document was stored before it left memory: reopening one serves its content.
    const p = provider(srv.url, ids[777]!, token.get(ids[777]!)!);
    await synced(p);
    expect(p.doc.getText('t').toString()).toBe('doc 777');
    p.destroy();
    await waitFor(() => srv.server.registry.size === 0, { what: 'unloaded again' });
  }, 120_000);

  it('a document reloaded from its snapshot alone serves fresh clients and takes offline edits', async () => {
    const owner = fx.user();
    const id = fx.doc(owner);
    const a = provider(srv.url, id, await fx.token(owner, id));
    await synced(a);
    a.doc.getText('t').insert(0, 'stored ');
    await waitFor(() => (fx.db.prepare('SELECT COUNT(*) AS n FROM doc_updates WHERE doc_id = ?').get(id) as { n: number }).n > 0);
    a.disconnect();
    a.doc.getText('t').insert(0, 'offline ');
    // Unloaded and compacted: the next load is the snapshot alone (applied lazily).
    await waitFor(() => srv.server.registry.size === 0 && (fx.db.prepare('SELECT COUNT(*) AS n FROM doc_updates WHERE doc_id = ?').get(id) as { n: number }).n === 0, { what: 'compacted on unload' });
    const fresh = provider(srv.url, id, await fx.token(owner, id));
    await synced(fresh);
    expect(fresh.doc.getText('t').toString()).toBe('stored ');
    a.connect();
    await waitFor(() => sameState(a.doc, fresh.doc) && fresh.doc.getText('t').toString() === 'offline stored ', { what: 'offline edit merged into the snapshot-loaded doc' });
    a.destroy();
    fresh.destroy();
  });

  it('a connection arriving while its document unloads gets the whole document', async () => {
    const owner = fx.user();
    const id = fx.doc(owner);
    const a = provider(srv.url, id, await fx.token(owner, id));
    await synced(a);
    a.doc.getText('t').insert(0, 'kept');
    await waitFor(() => (fx.db.prepare('SELECT COUNT(*) AS n FROM doc_updates WHERE doc_id = ?').get(id) as { n: number }).n > 0);
    const tok = await fx.token(owner, id);
    a.destroy();
    // Reconnect immediately, racing the unload.
    const b = provider(srv.url, id, tok);
    await synced(b);
    await waitFor(() => b.doc.getText('t').toString() === 'kept', { what: 'content after racing the unload' });
    b.destroy();
  });
});
