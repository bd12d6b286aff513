// Health endpoints, and one store load however many sockets open a document at once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFixture, startServer, waitFor, type Fixture, type InProcessServer } from '../helpers/fixture';
import { rawClient } from '../helpers/raw';
import type { DocStore } from '../../collab-server/persistence/doc-store';
import { createSqliteDocStore, openSqlite } from '../../collab-server/persistence/sqlite';
import { join } from 'node:path';

let fx: Fixture;
let srv: InProcessServer;
let loads = 0;
let storeUp = true;
beforeAll(async () => {
  fx = await createFixture();
  // The real SQLite store, counting loads and able to play "unreachable" for /readyz.
  const real: DocStore = createSqliteDocStore(openSqlite(join(fx.dir, 'tandem.db')));
  const store: DocStore = {
    ...real,
    load: async (id) => {
      loads++;
      // Hold the load open a moment so the concurrent opens really overlap it.
      await new Promise((r) => setImmediate(r));
      return real.load(id);
    },
    ping: async () => {
      if (!storeUp) throw new Error('database unreachable');
      return real.ping();
    },
  };
  srv = await startServer(fx, { store });
});
afterAll(async () => {
  await srv.close();
  fx.cleanup();
});

describe('health', () => {
  it('/healthz answers while the process runs; /readyz follows the store', async () => {
    const base = `http://127.0.0.1:${srv.port}`;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    storeUp = false;
    const r = await fetch(`${base}/readyz`);
    expect(r.status).toBe(503);
    // The cause goes to the log, not to whoever asks (issue 11: /readyz echoed store errors).
    expect(await r.text()).toBe('store unreachable\n');
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    storeUp = true;
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
  });
});

describe('document registry', () => {
  it('30 sockets opening one document at once share a single load', async () => {
    const owner = fx.user();
    const docId = fx.doc(owner);
    const before = loads;
    const tokens = await Promise.all(Array.from({ length: 30 }, () => fx.token(owner, docId)));
    const clients = await Promise.all(tokens.map((t) => rawClient(srv.url, docId, t)));
    await waitFor(() => clients.every((c) => c.received.length > 0), { what: 'all synced' });
    expect(loads - before).toBe(1);
    expect(srv.server.registry.size).toBeGreaterThanOrEqual(1);
    clients.forEach((c) => c.ws.terminate());
  });
});
