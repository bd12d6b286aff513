// A deleted document's content is purged by collab-server — the owner of the update log — on both
// engines, whether or not the document is loaded anywhere, and even when no collab-server was
// running at the time of the deletion (a durable cursor over the app's feed).
import { afterAll, describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { createPostgresDocStoreOnPool } from '../../collab-server/persistence/postgres';
import { createSqliteDocStore } from '../../collab-server/persistence/sqlite';
import type { DocStore } from '../../collab-server/persistence/doc-store';
import { createFixture, startServer, waitFor, type Fixture } from '../helpers/fixture';
import { createPgFixture, startPgInstance, type PgFixture } from '../helpers/pg-fixture';

const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

function update(text: string): Uint8Array {
  const d = new Y.Doc();
  d.getText('t').insert(0, text);
  return Y.encodeStateAsUpdate(d);
}

/** The app's deletion, as the app's AccessStore writes it: docs row gone + a feed row with deleted = 1. */
interface Engine {
  store: DocStore;
  newDoc(): Promise<string>;
  deleteAsApp(docId: string): Promise<void>;
  start(): Promise<{ close(): Promise<void> }>;
}

async function sqliteEngine(): Promise<Engine> {
  const fx: Fixture = await createFixture();
  cleanups.push(() => fx.cleanup());
  const owner = fx.user();
  return {
    store: createSqliteDocStore(fx.db),
    newDoc: async () => fx.doc(owner),
    async deleteAsApp(docId) {
      const v = (fx.db.prepare('SELECT acl_version FROM docs WHERE id = ?').get(docId) as { acl_version: number }).acl_version;
      fx.db.prepare('DELETE FROM docs WHERE id = ?').run(docId);
      fx.db.prepare('INSERT INTO acl_changes (doc_id, version, at, deleted) VALUES (?, ?, ?, 1)').run(docId, v + 1, Date.now());
    },
    start: () => startServer(fx),
  };
}

async function postgresEngine(): Promise<Engine> {
  const fx: PgFixture = await createPgFixture();
  cleanups.push(() => fx.cleanup());
  const owner = await fx.user();
  const s = `"${fx.schema}"`;
  return {
    store: createPostgresDocStoreOnPool(fx.pool, fx.schema),
    newDoc: () => fx.doc(owner),
    async deleteAsApp(docId) {
      const r = await fx.pool.query<{ acl_version: number }>(`DELETE FROM ${s}.docs WHERE id = $1 RETURNING acl_version`, [docId]);
      await fx.pool.query(`INSERT INTO ${s}.acl_changes (doc_id, version, at, deleted) VALUES ($1, $2, $3, 1)`, [docId, r.rows[0]!.acl_version + 1, Date.now()]);
    },
    start: () => startPgInstance(fx, 'collab-1', { redisUrl: false }),
  };
}

describe.each([
  ['SQLite', sqliteEngine],
  ['PostgreSQL', postgresEngine],
])('%s', (_name, make) => {
  it('a document deleted while not loaded anywhere loses its log and snapshot', async () => {
    const e = await make();
    const srv = await e.start();
    cleanups.push(() => srv.close());
    const docId = await e.newDoc();
    await e.store.append(docId, [update('secret')], new Map([[1, 'u']]));
    await e.store.compact(docId, update('secret'), 1);
    await e.store.append(docId, [update('more')]);
    await e.deleteAsApp(docId);
    await waitFor(async () => (await e.store.heads([docId])).size === 0 && (await e.store.load(docId)).snapshot === null, { what: 'content purged' });
    expect(await e.store.load(docId)).toEqual({ snapshot: null, updates: [], lastSeq: 0, clientIds: new Map() });
  });

  it('a document deleted while no collab-server ran is purged when one starts', async () => {
    const e = await make();
    // Start once so the purge cursor exists and is past everything so far.
    const first = await e.start();
    await first.close();
    const docId = await e.newDoc();
    await e.store.append(docId, [update('left behind')]);
    await e.deleteAsApp(docId);
    expect((await e.store.heads([docId])).size).toBe(1);
    const srv = await e.start();
    cleanups.push(() => srv.close());
    await waitFor(async () => (await e.store.heads([docId])).size === 0, { what: 'purged at start' });
    expect((await e.store.load(docId)).updates).toEqual([]);
  });
});
