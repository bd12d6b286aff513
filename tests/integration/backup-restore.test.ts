// `npm run backup` while clients type, `npm run restore` into a fresh place, and the restored
// instance serves every document with the content it had at backup time (compared as Y.Doc state):
// - SQLite: collab-server child process on DATA_DIR; the backup (online backup API) restored into a
//   fresh DATA_DIR and served by a new collab-server;
// - PostgreSQL: an instance on this run's schema; the backup (pg_dump) restored into a fresh schema
//   and served by a new instance there.
// "At backup time" is checked without trusting the backup: each document has one typist, so its
// history is linear, and the backup's text must be one of the texts a reader saw along the way.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import pg from 'pg';
import * as Y from 'yjs';
import type { WebsocketProvider } from 'y-websocket';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, createFixture, provider, sameState, spawnServer, synced, waitFor } from '../helpers/fixture';
import { createPgFixture, PG_URL, startPgInstance } from '../helpers/pg-fixture';

const run = promisify(execFile);
const open: WebsocketProvider[] = [];
const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const p of open) p.destroy();
  for (const c of cleanups.reverse()) await c();
});

const ops = (script: 'backup' | 'restore', args: string[], env: Record<string, string>) =>
  run(process.execPath, ['--import', 'tsx', join(ROOT, `collab-server/ops/${script}.ts`), ...args], { cwd: ROOT, env: { ...process.env, ...env } });

interface Typing {
  docId: string;
  /** Every text a reader of this document saw. */
  seen: Set<string>;
  stop(): void;
}

/** One typist per document (inserting a character every 4 ms) and a reader recording what it sees. */
async function type(url: string, docId: string, token: () => Promise<string>): Promise<Typing> {
  const writer = provider(url, docId, await token());
  const reader = provider(url, docId, await token());
  open.push(writer, reader);
  await Promise.all([synced(writer), synced(reader)]);
  const seen = new Set<string>(['']);
  reader.doc.on('update', () => seen.add(reader.doc.getText('t').toString()));
  let n = 0;
  const timer = setInterval(() => writer.doc.getText('t').insert(n, String.fromCharCode(97 + (n++ % 26))), 4);
  return { docId, seen, stop: () => clearInterval(timer) };
}

const storedFrom = (rows: { data: Buffer }[]) => {
  const d = new Y.Doc();
  for (const r of rows) Y.applyUpdate(d, new Uint8Array(r.data));
  return d;
};

describe('backup and restore', () => {
  it('SQLite: a backup taken while 3 documents are typed into, restored into a fresh DATA_DIR, serves each at its backup-time state', async () => {
    const fx = await createFixture();
    cleanups.push(() => fx.cleanup());
    const srv = await spawnServer(fx);
    cleanups.push(async () => {
      srv.proc.kill('SIGTERM');
      await srv.exited;
    });
    const owner = fx.user();
    const typing = await Promise.all([0, 1, 2].map(() => fx.doc(owner)).map((docId) => type(srv.url, docId, () => fx.token(owner, docId))));
    await waitFor(() => typing.every((t) => [...t.seen].some((s) => s.length > 40)), { what: 'some typing' });

    const out = join(mkdtempSync(join(tmpdir(), 'tandem-backup-')), 'b1');
    cleanups.push(() => rmSync(join(out, '..'), { recursive: true, force: true }));
    const b = await ops('backup', ['--out', out], { DATA_DIR: fx.dir });
    expect(b.stdout).toMatch(/backup of sqlite taken at .*: \d+ documents/);
    // Typing went on during and after the backup.
    await waitFor(() => typing.every((t) => [...t.seen].some((s) => s.length > 120)), { what: 'typing after the backup' });
    for (const t of typing) t.stop();

    // What the backup holds, per document: one of the states the reader saw, not a torn mix.
    const copy = new Database(join(out, 'tandem.db'), { readonly: true });
    const atBackup = new Map<string, Y.Doc>();
    for (const t of typing) {
      const snap = copy.prepare('SELECT data FROM doc_snapshots WHERE doc_id = ?').all(t.docId) as { data: Buffer }[];
      const log = copy.prepare('SELECT data FROM doc_updates WHERE doc_id = ? ORDER BY seq').all(t.docId) as { data: Buffer }[];
      const d = storedFrom([...snap, ...log]);
      const text = d.getText('t').toString();
      expect(text.length).toBeGreaterThan(40);
      expect(t.seen.has(text), `backup of ${t.docId} is a state a reader saw`).toBe(true);
      atBackup.set(t.docId, d);
    }
    copy.close();

    // Restore into a fresh data directory and serve it with a new collab-server.
    const fresh = mkdtempSync(join(tmpdir(), 'tandem-restored-'));
    cleanups.push(() => rmSync(fresh, { recursive: true, force: true }));
    const r = await ops('restore', [out], { DATA_DIR: fresh });
    expect(r.stdout).toMatch(/restored 3 documents/);
    await expect(ops('restore', [out], { DATA_DIR: fresh })).rejects.toThrow(/exists: restore into a fresh DATA_DIR/);
    const restored = await spawnServer({ dir: fresh });
    cleanups.push(async () => {
      restored.proc.kill('SIGTERM');
      await restored.exited;
    });
    for (const t of typing) {
      const p = provider(restored.url, t.docId, await fx.token(owner, t.docId));
      open.push(p);
      await synced(p);
      expect(sameState(p.doc, atBackup.get(t.docId)!), `restored ${t.docId} = backup-time state`).toBe(true);
    }
  });

  it('PostgreSQL: a pg_dump taken while 3 documents are typed into, restored into a fresh schema, serves each at its backup-time state', async () => {
    const fx = await createPgFixture();
    cleanups.push(() => fx.cleanup());
    const inst = await startPgInstance(fx, 'live', { redisUrl: false });
    cleanups.push(() => inst.close());
    const owner = await fx.user();
    const docs = await Promise.all([0, 1, 2].map(() => fx.doc(owner)));
    const typing = await Promise.all(docs.map((docId) => type(inst.url, docId, () => fx.token(owner, docId))));
    await waitFor(() => typing.every((t) => [...t.seen].some((s) => s.length > 40)), { what: 'some typing' });

    const out = join(mkdtempSync(join(tmpdir(), 'tandem-backup-')), 'pg');
    cleanups.push(() => rmSync(join(out, '..'), { recursive: true, force: true }));
    const env = { DATABASE_URL: PG_URL, DATA_DIR: fx.dir };
    const b = await ops('backup', ['--out', out], { ...env, DATABASE_SCHEMA: fx.schema });
    expect(b.stdout).toMatch(new RegExp(`backup of postgres schema ${fx.schema} taken at`));
    await waitFor(() => typing.every((t) => [...t.seen].some((s) => s.length > 120)), { what: 'typing after the backup' });
    for (const t of typing) t.stop();

    const schema = `t_${randomBytes(5).toString('hex')}`;
    const admin = new pg.Pool({ connectionString: PG_URL, max: 1, application_name: `tandem-test-${schema}` });
    cleanups.push(async () => {
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await admin.end();
    });
    const r = await ops('restore', [out], { ...env, DATABASE_SCHEMA: schema });
    expect(r.stdout).toMatch(new RegExp(`restored 3 documents .* into schema ${schema}`));
    await expect(ops('restore', [out], { ...env, DATABASE_SCHEMA: schema })).rejects.toThrow(/exists: restore into a fresh schema/);

    const atBackup = new Map<string, Y.Doc>();
    for (const t of typing) {
      const snap = (await admin.query<{ data: Buffer }>(`SELECT data FROM ${schema}.doc_snapshots WHERE doc_id = $1`, [t.docId])).rows;
      const log = (await admin.query<{ data: Buffer }>(`SELECT data FROM ${schema}.doc_updates WHERE doc_id = $1 ORDER BY seq`, [t.docId])).rows;
      const d = storedFrom([...snap, ...log]);
      const text = d.getText('t').toString();
      expect(text.length).toBeGreaterThan(40);
      expect(t.seen.has(text), `backup of ${t.docId} is a state a reader saw`).toBe(true);
      atBackup.set(t.docId, d);
    }
    const restored = await startPgInstance({ ...fx, schema, prefix: `${fx.prefix}restored:` }, 'restored', { redisUrl: false });
    cleanups.push(() => restored.close());
    for (const t of typing) {
      const p = provider(restored.url, t.docId, await fx.token(owner, t.docId));
      open.push(p);
      await synced(p);
      expect(sameState(p.doc, atBackup.get(t.docId)!), `restored ${t.docId} = backup-time state`).toBe(true);
    }
  });
});
