// One contract, every DocStore adapter: SQLite (embedded) and PostgreSQL (real server on 127.0.0.1).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import * as Y from 'yjs';
import type { DocStore } from '../../collab-server/persistence/doc-store';
import { createSqliteDocStore, openSqlite } from '../../collab-server/persistence/sqlite';
import { createPostgresDocStore } from '../../collab-server/persistence/postgres';

const PG_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
// Each run gets its own schema so concurrent runs cannot collide.
const pgSchema = `t_${process.pid}_${Date.now().toString(36)}`;

// text(docId): the doc_text row as the app reads it (collab-server writes it at compaction).
const adapters: [string, () => Promise<{ store: DocStore; reopen: () => Promise<DocStore>; text: (docId: string) => Promise<string | undefined>; done: () => Promise<void> }>][] = [
  [
    'sqlite',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'tandem-contract-'));
      const file = join(dir, 'tandem.db');
      const dbs = [openSqlite(file)];
      return {
        store: createSqliteDocStore(dbs[0]!),
        reopen: async () => {
          const db = openSqlite(file);
          dbs.push(db);
          return createSqliteDocStore(db);
        },
        text: async (docId) => (dbs[0]!.prepare('SELECT text FROM doc_text WHERE doc_id = ?').get(docId) as { text: string } | undefined)?.text,
        done: async () => {
          dbs.forEach((d) => d.close());
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  ],
  [
    'postgres',
    async () => {
      const stores: DocStore[] = [];
      const open = async () => {
        const s = await createPostgresDocStore({ connectionString: PG_URL, schema: pgSchema, poolSize: 2 });
        stores.push(s);
        return s;
      };
      return {
        store: await open(),
        reopen: open,
        text: async (docId) => {
          const c = new pg.Client({ connectionString: PG_URL });
          await c.connect();
          try {
            return (await c.query<{ text: string }>(`SELECT text FROM "${pgSchema}".doc_text WHERE doc_id = $1`, [docId])).rows[0]?.text;
          } finally {
            await c.end();
          }
        },
        done: async () => {
          for (const s of stores) await s.close();
          const c = new pg.Client({ connectionString: PG_URL });
          await c.connect();
          await c.query(`DROP SCHEMA IF EXISTS "${pgSchema}" CASCADE`);
          await c.end();
        },
      };
    },
  ],
];

function edits(n: number, prefix = 'x'): Uint8Array[] {
  const d = new Y.Doc();
  const out: Uint8Array[] = [];
  d.on('update', (u: Uint8Array) => out.push(u));
  for (let i = 0; i < n; i++) d.getText('t').insert(d.getText('t').length, `${prefix}${i} `);
  return out;
}

function materializeDoc(s: { snapshot: Uint8Array | null; updates: Uint8Array[] }): Y.Doc {
  const d = new Y.Doc();
  if (s.snapshot) Y.applyUpdate(d, s.snapshot);
  for (const u of s.updates) Y.applyUpdate(d, u);
  return d;
}
const materialize = (s: { snapshot: Uint8Array | null; updates: Uint8Array[] }) => materializeDoc(s).getText('t').toString();

describe.each(adapters)('DocStore contract: %s', (_name, make) => {
  let ctx: Awaited<ReturnType<typeof make>>;
  beforeAll(async () => {
    ctx = await make();
  });
  afterAll(async () => {
    await ctx.done();
  });

  it('a document never written loads empty', async () => {
    expect(await ctx.store.load('never')).toEqual({ snapshot: null, updates: [], lastSeq: 0, clientIds: new Map() });
    expect(await ctx.store.readSince('never', 0)).toEqual({ snapshot: null, updates: [] });
  });

  it('the store numbers appends 1, 2, 3…; they load back in order, from another handle too', async () => {
    const ups = edits(5);
    expect(await ctx.store.append('a', ups.slice(0, 2))).toBe(1);
    expect(await ctx.store.append('a', ups.slice(2))).toBe(3);
    const other = await ctx.reopen();
    for (const s of [ctx.store, other]) {
      const loaded = await s.load('a');
      expect(loaded.lastSeq).toBe(5);
      expect(loaded.updates.map((u) => Buffer.from(u).toString('hex'))).toEqual(ups.map((u) => Buffer.from(u).toString('hex')));
    }
  });

  it('documents are independent', async () => {
    expect(await ctx.store.append('b', edits(2, 'b'))).toBe(1);
    expect(materialize(await ctx.store.load('b'))).toBe('b0 b1 ');
    expect(materialize(await ctx.store.load('a'))).toBe('x0 x1 x2 x3 x4 ');
  });

  it('concurrent appends to one document through two handles (two instances) get one gap-free order', async () => {
    const other = await ctx.reopen();
    const mine = edits(20, 'm');
    const theirs = edits(20, 't');
    const firsts = await Promise.all([...mine.map((u) => ctx.store.append('conc', [u])), ...theirs.map((u) => other.append('conc', [u]))]);
    expect([...firsts].sort((x, y) => x - y)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    const loaded = await ctx.store.load('conc');
    expect(loaded.lastSeq).toBe(40);
    expect(loaded.updates).toHaveLength(40);
    // Each update is stored once, under the sequence number its append returned.
    const range = await other.readSince('conc', 0);
    const bySeq = new Map(range.updates.map((u) => [u.seq, Buffer.from(u.data).toString('hex')]));
    mine.forEach((u, i) => expect(bySeq.get(firsts[i]!)).toBe(Buffer.from(u).toString('hex')));
  });

  it('readSince returns the log after a position; heads reports each document’s last position', async () => {
    const r = await ctx.store.readSince('a', 3);
    expect(r.snapshot).toBeNull();
    expect(r.updates.map((u) => u.seq)).toEqual([4, 5]);
    expect(await ctx.store.heads(['a', 'b', 'never'])).toEqual(new Map([['a', 5], ['b', 2]]));
    expect(await ctx.store.heads([])).toEqual(new Map());
  });

  it('compaction replaces the folded prefix with a snapshot; later updates stay; content is unchanged', async () => {
    const ups = edits(8, 'c');
    await ctx.store.append('c', ups);
    const d = new Y.Doc();
    for (const u of ups.slice(0, 6)) Y.applyUpdate(d, u);
    expect(await ctx.store.compact('c', Y.encodeStateAsUpdate(d), 6)).toBe(true);
    const loaded = await ctx.store.load('c');
    expect(loaded.snapshot).not.toBeNull();
    expect(loaded.updates).toHaveLength(2);
    expect(loaded.lastSeq).toBe(8);
    expect(materialize(loaded)).toBe('c0 c1 c2 c3 c4 c5 c6 c7 ');
    // Appends continue after the compacted range.
    expect(await ctx.store.append('c', edits(1, 'z'))).toBe(9);
    expect((await ctx.store.load('c')).lastSeq).toBe(9);
  });

  it('a reader behind the snapshot gets the snapshot and the updates after it; one ahead of it only the updates', async () => {
    const behind = await ctx.store.readSince('c', 2);
    expect(behind.snapshot?.uptoSeq).toBe(6);
    expect(behind.updates.map((u) => u.seq)).toEqual([7, 8, 9]);
    const ahead = await ctx.store.readSince('c', 7);
    expect(ahead.snapshot).toBeNull();
    expect(ahead.updates.map((u) => u.seq)).toEqual([8, 9]);
  });

  it('a late compaction never moves the snapshot backwards', async () => {
    const before = await ctx.store.load('c');
    const full = materializeDoc(before);
    expect(await ctx.store.compact('c', Y.encodeStateAsUpdate(full), 8)).toBe(true);
    // Another instance, behind, compacts up to 6 afterwards: the newer snapshot stays.
    await ctx.store.compact('c', Y.encodeStateAsUpdate(new Y.Doc()), 6);
    const loaded = await ctx.store.load('c');
    expect(materialize(loaded)).toBe(materialize(before));
    expect(materialize(loaded)).toContain('c7');
    expect((await ctx.store.readSince('c', 0)).snapshot?.uptoSeq).toBe(8);
  });

  it('a compacted document with no later updates reports the snapshot position as lastSeq', async () => {
    const ups = edits(3, 'e');
    await ctx.store.append('e', ups);
    const d = new Y.Doc();
    ups.forEach((u) => Y.applyUpdate(d, u));
    await ctx.store.compact('e', Y.encodeStateAsUpdate(d), 3);
    const loaded = await ctx.store.load('e');
    expect(loaded.lastSeq).toBe(3);
    expect(loaded.updates).toHaveLength(0);
    expect(materialize(loaded)).toBe('e0 e1 e2 ');
  });

  it('records the first writer of each client id, loaded with the document', async () => {
    await ctx.store.append('ids', edits(1, 'i'), new Map([[11, 'alice'], [12, 'bob']]));
    // A later claim of the same id does not replace the first writer.
    await ctx.store.append('ids', edits(1, 'j'), new Map([[11, 'mallory']]));
    const other = await ctx.reopen();
    expect((await other.load('ids')).clientIds).toEqual(new Map([[11, 'alice'], [12, 'bob']]));
  });

  it('delete removes the log, the snapshot, the head and the client ids of one document only', async () => {
    await ctx.store.append('gone', edits(3, 'g'), new Map([[7, 'u']]));
    await ctx.store.compact('gone', Y.encodeStateAsUpdate(new Y.Doc()), 2);
    await ctx.store.delete('gone');
    expect(await ctx.store.load('gone')).toEqual({ snapshot: null, updates: [], lastSeq: 0, clientIds: new Map() });
    expect(await ctx.store.heads(['gone'])).toEqual(new Map());
    expect(materialize(await ctx.store.load('b'))).toBe('b0 b1 ');
    await expect(ctx.store.delete('gone')).resolves.toBeUndefined();
  });

  it('compaction with a text extract writes doc_text in the same step (replacing the last one); without one leaves it; delete removes it', async () => {
    await ctx.store.append('texty', edits(3, 't'));
    await ctx.store.compact('texty', Y.encodeStateAsUpdate(new Y.Doc()), 1, 'first words');
    expect(await ctx.text('texty')).toBe('first words');
    await ctx.store.compact('texty', Y.encodeStateAsUpdate(new Y.Doc()), 2, 'second words\nline two');
    expect(await ctx.text('texty')).toBe('second words\nline two');
    await ctx.store.compact('texty', Y.encodeStateAsUpdate(new Y.Doc()), 3);
    expect(await ctx.text('texty')).toBe('second words\nline two');
    await ctx.store.delete('texty');
    expect(await ctx.text('texty')).toBeUndefined();
  });

  it('cursors start at 0 and only move forward', async () => {
    expect(await ctx.store.getCursor('k')).toBe(0);
    await ctx.store.setCursor('k', 5);
    await ctx.store.setCursor('k', 3);
    expect(await (await ctx.reopen()).getCursor('k')).toBe(5);
  });

  it('answers ping', async () => {
    await expect(ctx.store.ping()).resolves.toBeUndefined();
  });
});

describe('SQLite group commit', () => {
  it('appends for several documents made in one turn commit as ONE transaction, each resolving after it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tandem-groupcommit-'));
    const db = openSqlite(join(dir, 'tandem.db'));
    const watcher = openSqlite(join(dir, 'tandem.db'));
    try {
      const store = createSqliteDocStore(db);
      // data_version, read on another connection, moves once per commit made by someone else.
      const version = () => watcher.pragma('data_version', { simple: true }) as number;
      const before = version();
      const appends = ['g1', 'g2', 'g3'].map((id) => store.append(id, edits(2, id)));
      // Nothing is committed until the turn's appends are all in.
      expect(version()).toBe(before);
      await Promise.all(appends);
      expect(version()).toBe(before + 1);
      for (const id of ['g1', 'g2', 'g3']) expect(materialize(await store.load(id))).toBe(`${id}0 ${id}1 `);
      // A bad entry (an update that is not bytes) fails alone; the others in its turn still commit.
      const mixed = [store.append('g1', [null as unknown as Uint8Array]), store.append('g4', edits(1, 'g4'))];
      await expect(mixed[0]).rejects.toThrow();
      await expect(mixed[1]).resolves.toBe(1);
      expect((await store.load('g1')).lastSeq).toBe(2);
      expect(materialize(await store.load('g4'))).toBe('g40 ');
    } finally {
      watcher.close();
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
