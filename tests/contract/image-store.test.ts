// One contract, both engines: the document image store (doc_images) on SQLite (a temporary
// directory) and on PostgreSQL (a schema of its own per run, dropped after); and the collab-token
// revocation the app writes on sign-out (users.tokens_not_before).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPgStores, createSqliteStores, type Stores } from '../../app/_server/stores';
import { openDb } from '../../app/_server/stores/sqlite';
import { openPg } from '../../app/_server/stores/pg';
import { sniffImageType } from '../../lib/image-types';

const PG_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const APP_NAME = 'tandem-contract-image-store';
const opts = { sessionTtlSeconds: 3600, sessionIdleSeconds: 600 };

interface Engine {
  stores: Stores;
  /** tokens_not_before of a user, read as collab-server reads it. */
  notBefore(userId: string): Promise<number>;
  close(): Promise<void>;
}

async function sqlite(): Promise<Engine> {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-images-'));
  const db = openDb(join(dir, 'tandem.db'), 'NORMAL');
  return {
    stores: createSqliteStores(db, opts),
    notBefore: async (id) => (db.prepare('SELECT tokens_not_before AS n FROM users WHERE id = ?').get(id) as { n: number }).n,
    close: async () => {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function postgres(): Promise<Engine> {
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const db = openPg({ connectionString: PG_URL, schema, applicationName: APP_NAME, max: 4 });
  await db.ready();
  return {
    stores: createPgStores(db, opts),
    notBefore: async (id) => Number((await db.query<{ n: string }>(`SELECT tokens_not_before AS n FROM ${schema}.users WHERE id = $1`, [id])).rows[0]!.n),
    close: async () => {
      await db.close();
      const c = new pg.Client({ connectionString: PG_URL, application_name: APP_NAME });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await c.end();
    },
  };
}

const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8cfc0f01f0005000201ff2a3fd8a90000000049454e44ae426082', 'hex');

describe.each([
  ['sqlite', sqlite],
  ['postgres', postgres],
] as const)('image store contract: %s', (_name, open) => {
  let e: Engine;
  let n = 0;
  const user = () => e.stores.users.create(`img${++n}.${Date.now()}@example.test`, 'Img', 'hash');
  beforeAll(async () => {
    e = await open();
  });
  afterAll(() => e?.close());

  it('stores an image for its document, returns the same bytes and type, and keeps one row for the same bytes', async () => {
    const o = await user();
    const d = await e.stores.docs.create(o.id, 'With image');
    const a = await e.stores.images.put(d.id, { mime: 'image/png', data: PNG, createdBy: o.id });
    expect(a.bytes).toBe(PNG.byteLength);
    const got = (await e.stores.images.get(d.id, a.id))!;
    expect(got.mime).toBe('image/png');
    expect(Buffer.compare(Buffer.from(got.data), PNG)).toBe(0);
    expect(got.bytes).toBe(PNG.byteLength);
    // The same bytes pasted twice: one stored image.
    expect((await e.stores.images.put(d.id, { mime: 'image/png', data: PNG, createdBy: o.id })).id).toBe(a.id);
  });

  it('an image belongs to its document: not found through another document, gone when its document is deleted', async () => {
    const o = await user();
    const d1 = await e.stores.docs.create(o.id, 'One');
    const d2 = await e.stores.docs.create(o.id, 'Two');
    const a = await e.stores.images.put(d1.id, { mime: 'image/png', data: PNG, createdBy: o.id });
    expect(await e.stores.images.get(d2.id, a.id)).toBeUndefined();
    // Same bytes in another document: its own row.
    const b = await e.stores.images.put(d2.id, { mime: 'image/png', data: PNG, createdBy: o.id });
    expect(b.id).not.toBe(a.id);
    await e.stores.access.deleteDoc(o.id, d1.id);
    expect(await e.stores.images.get(d1.id, a.id)).toBeUndefined();
    expect(await e.stores.images.get(d2.id, b.id)).toBeDefined();
  });

  it('sign-out voids collab tokens from before this second, and never moves the mark back', async () => {
    const u = await user();
    expect(await e.notBefore(u.id)).toBe(0);
    await e.stores.users.revokeCollabTokens(u.id, 1_700_000_123_456);
    expect(await e.notBefore(u.id)).toBe(1_700_000_123_000);
    await e.stores.users.revokeCollabTokens(u.id, 1_600_000_000_000);
    expect(await e.notBefore(u.id)).toBe(1_700_000_123_000);
  });
});

describe('sniffImageType', () => {
  it('knows PNG, JPEG, GIF, WebP by their bytes and refuses anything else (SVG included)', () => {
    expect(sniffImageType(PNG)).toBe('image/png');
    expect(sniffImageType(Buffer.from([0xff, 0xd8, 0xff, 0xe0]))).toBe('image/jpeg');
    expect(sniffImageType(Buffer.from('GIF89a'))).toBe('image/gif');
    expect(sniffImageType(Buffer.from('RIFF\0\0\0\0WEBPVP8 '))).toBe('image/webp');
    expect(sniffImageType(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>'))).toBeNull();
    expect(sniffImageType(Buffer.from('<html>'))).toBeNull();
  });
});
