// Edits of any size, scaled out (PostgreSQL + Redis, issue 10). Path checked: Tandem's client
// (chunks) → instance 1 → PostgreSQL log (one row) → Redis carries only "read the log from seq N"
// (the bytes are too large for the fast path) → instance 2 reads the log → its reader (chunks) and
// a fresh client on instance 2 (chunked full state). A stock client's oversize edit is refused
// permanently here too.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import * as Y from 'yjs';
import { CloseCode } from '../../lib/close-codes';
import { CollabClient } from '../../lib/collab-client';
import { provider, sameState, synced, waitFor } from '../helpers/fixture';
import { createPgFixture, startPgInstance, type ClusterInstance, type PgFixture } from '../helpers/pg-fixture';

const MB = 1024 * 1024;
const CHUNK = 256 * 1024;

let fx: PgFixture;
const instances: ClusterInstance[] = [];
const clients: { destroy(): void }[] = [];

beforeAll(async () => {
  fx = await createPgFixture();
  for (const name of ['collab-1', 'collab-2']) {
    instances.push(await startPgInstance(fx, name, { overrides: { chunks: { chunkBytes: CHUNK, maxTotalBytes: 64 * MB, idleTimeoutMs: 15_000 } } }));
  }
});
afterAll(async () => {
  for (const c of clients) c.destroy();
  for (const i of instances) await i.close();
  await fx?.cleanup();
});

async function tandem(inst: ClusterInstance, docId: string, userId: string): Promise<CollabClient> {
  const c = await CollabClient.connect({
    docId,
    doc: new Y.Doc(),
    WebSocketPolyfill: WebSocket,
    disableBc: true,
    getToken: async () => ({ token: await fx.token(userId, docId), url: inst.url, expiresAt: Date.now() + 300_000 }),
  });
  clients.push(c);
  return c;
}

const text = (n: number) => 'cluster paste, line of text\n'.repeat(Math.ceil(n / 28)).slice(0, n);

describe('large edits across instances', () => {
  it("a 20 MB edit from Tandem's client on instance 1 reaches a reader and a fresh client on instance 2, stored once, never published whole to Redis", async () => {
    const [one, two] = instances as [ClusterInstance, ClusterInstance];
    const owner = await fx.user();
    const docId = await fx.doc(owner);
    const writer = await tandem(one, docId, owner);
    const reader = await tandem(two, docId, owner);
    await waitFor(() => writer.provider.synced && reader.provider.synced, { what: 'both synced' });
    let readerMax = 0;
    (reader.provider.ws as unknown as WebSocket).on('message', (d: Buffer) => (readerMax = Math.max(readerMax, d.byteLength)));
    const body = text(20 * MB);
    writer.provider.doc.getText('t').insert(0, body);
    await waitFor(() => reader.provider.doc.getText('t').length === body.length, { timeout: 60_000, what: '20 MB on instance 2' });
    expect(sameState(writer.provider.doc, reader.provider.doc)).toBe(true);
    expect(readerMax).toBeLessThanOrEqual(CHUNK + 32);
    // Redis carried a reference, instance 2 read the bytes from the log.
    const catchUps = (await two.metrics.clusterCatchUps.get()).values.find((v) => v.labels.reason === 'large');
    expect(catchUps?.value ?? 0).toBeGreaterThan(0);

    const fresh = await tandem(two, docId, owner);
    await waitFor(() => fresh.provider.doc.getText('t').length === body.length, { timeout: 60_000, what: '20 MB at a fresh client on instance 2' });
    expect(sameState(writer.provider.doc, fresh.provider.doc)).toBe(true);
    const stored = await fx.stored(docId);
    expect(stored.getText('t').length).toBe(body.length);
    const big = await fx.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${fx.schema}.doc_updates WHERE doc_id = $1 AND length(data) > $2`, [docId, 10 * MB]);
    expect(big.rows[0]!.n).toBe(1);
  }, 120_000);

  it("a stock client's 3 MB edit is closed 4413 and does not reconnect; the other instance's clients go on", async () => {
    const [one, two] = instances as [ClusterInstance, ClusterInstance];
    const owner = await fx.user();
    const docId = await fx.doc(owner);
    const a = provider(one.url, docId, await fx.token(owner, docId));
    const b = provider(two.url, docId, await fx.token(owner, docId));
    const c = provider(two.url, docId, await fx.token(owner, docId));
    clients.push(a, b, c);
    await Promise.all([synced(a), synced(b), synced(c)]);
    const closed: { code: number }[] = [];
    a.on('closed', (e) => closed.push(e));
    a.doc.getText('t').insert(0, text(3 * MB));
    await waitFor(() => closed[0], { what: 'closed permanently' });
    expect(closed[0]!.code).toBe(CloseCode.MESSAGE_TOO_LARGE);
    b.doc.getText('t').insert(0, 'fine');
    await waitFor(() => c.doc.getText('t').toString() === 'fine', { what: 'others unaffected' });
    expect(a.wsconnected || a.wsconnecting).toBe(false);
  }, 30_000);
});
