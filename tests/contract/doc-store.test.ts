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

const adapters: [string, () => Promise<{ store: DocStore; reopen: () => Promise<DocStore>; done: () => Promise<void> }>][] = [
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

function materialize(s: { snapshot: Uint8Array | null; updates: Uint8Array[] }): string {
  const d = new Y.Doc();
  if (s.snapshot) Y.applyUpdate(d, s.snapshot);
  for (const u of s.updates) Y.applyUpdate(d, u);
  return d.getText('t').toString();
}

describe.each(adapters)('DocStore contract: %s', (_name, make) => {
  let ctx: Awaited<ReturnType<typeof make>>;
  beforeAll(async () => {
    ctx = await make();
  });
  afterAll(async () => {
    await ctx.done();
  });

  it('a document never written loads empty', async () => {
    expect(await ctx.store.load('never')).toEqual({ snapshot: null, updates: [], lastSeq: 0 });
  });

  it('appended updates load back in order, from another handle too', async () => {
    const ups = edits(5);
    await ctx.store.append('a', 1, ups.slice(0, 2));
    await ctx.store.append('a', 3, ups.slice(2));
    const other = await ctx.reopen();
    for (const s of [ctx.store, other]) {
      const loaded = await s.load('a');
      expect(loaded.lastSeq).toBe(5);
      expect(loaded.updates.map((u) => Buffer.from(u).toString('hex'))).toEqual(ups.map((u) => Buffer.from(u).toString('hex')));
    }
  });

  it('documents are independent', async () => {
    await ctx.store.append('b', 1, edits(2, 'b'));
    expect(materialize(await ctx.store.load('b'))).toBe('b0 b1 ');
    expect(materialize(await ctx.store.load('a'))).toBe('x0 x1 x2 x3 x4 ');
  });

  it('an append that reuses a sequence number fails and changes nothing (one writer per document)', async () => {
    await expect(ctx.store.append('a', 5, edits(2, 'dup'))).rejects.toThrow();
    expect((await ctx.store.load('a')).lastSeq).toBe(5);
    expect(materialize(await ctx.store.load('a'))).toBe('x0 x1 x2 x3 x4 ');
  });

  it('compaction replaces the folded prefix with a snapshot; later updates stay; content is unchanged', async () => {
    const ups = edits(8, 'c');
    await ctx.store.append('c', 1, ups);
    const d = new Y.Doc();
    for (const u of ups.slice(0, 6)) Y.applyUpdate(d, u);
    await ctx.store.compact('c', Y.encodeStateAsUpdate(d), 6);
    const loaded = await ctx.store.load('c');
    expect(loaded.snapshot).not.toBeNull();
    expect(loaded.updates).toHaveLength(2);
    expect(loaded.lastSeq).toBe(8);
    expect(materialize(loaded)).toBe('c0 c1 c2 c3 c4 c5 c6 c7 ');
    // Appends continue after the compacted range; a second compaction replaces the first.
    await ctx.store.append('c', 9, edits(1, 'z'));
    await ctx.store.compact('c', Y.encodeStateAsUpdate(d), 6);
    expect((await ctx.store.load('c')).lastSeq).toBe(9);
  });

  it('a compacted document with no later updates reports the snapshot position as lastSeq', async () => {
    const ups = edits(3, 'e');
    await ctx.store.append('e', 1, ups);
    const d = new Y.Doc();
    ups.forEach((u) => Y.applyUpdate(d, u));
    await ctx.store.compact('e', Y.encodeStateAsUpdate(d), 3);
    const loaded = await ctx.store.load('e');
    expect(loaded.lastSeq).toBe(3);
    expect(loaded.updates).toHaveLength(0);
    expect(materialize(loaded)).toBe('e0 e1 e2 ');
  });

  it('delete removes the log and the snapshot of one document only', async () => {
    await ctx.store.append('gone', 1, edits(3, 'g'));
    await ctx.store.compact('gone', Y.encodeStateAsUpdate(new Y.Doc()), 2);
    await ctx.store.delete('gone');
    expect(await ctx.store.load('gone')).toEqual({ snapshot: null, updates: [], lastSeq: 0 });
    expect(materialize(await ctx.store.load('b'))).toBe('b0 b1 ');
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
      const appends = ['g1', 'g2', 'g3'].map((id) => store.append(id, 1, edits(2, id)));
      // Nothing is committed until the turn's appends are all in.
      expect(version()).toBe(before);
      await Promise.all(appends);
      expect(version()).toBe(before + 1);
      for (const id of ['g1', 'g2', 'g3']) expect(materialize(await store.load(id))).toBe(`${id}0 ${id}1 `);
      // A bad entry (reused sequence numbers) fails alone; the others in its turn still commit.
      const mixed = [store.append('g1', 1, edits(1, 'dup')), store.append('g4', 1, edits(1, 'g4'))];
      await expect(mixed[0]).rejects.toThrow();
      await expect(mixed[1]).resolves.toBeUndefined();
      expect(materialize(await store.load('g4'))).toBe('g40 ');
    } finally {
      watcher.close();
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
