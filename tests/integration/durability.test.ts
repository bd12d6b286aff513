// Every edit the server has broadcast survives the server being killed (SIGKILL) or stopped (SIGTERM).
import { afterEach, describe, expect, it } from 'vitest';
import pg from 'pg';
import * as Y from 'yjs';
import type { WebsocketProvider } from 'y-websocket';
import { createFixture, provider, sameState, spawnServer, synced, waitFor, type ChildServer } from '../helpers/fixture';
import { createPgFixture, PG_URL } from '../helpers/pg-fixture';
import { rawClient } from '../helpers/raw';
import { CloseCode } from '../../lib/close-codes';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Where the server keeps everything: the SQLite fixture, or (env) this run's PostgreSQL schema. */
async function seeded(engine: 'sqlite' | 'postgres') {
  if (engine === 'sqlite') {
    const fx = await createFixture();
    cleanups.push(() => fx.cleanup());
    const owner = fx.user();
    return { fx, env: {}, owner, docId: fx.doc(owner), token: (u: string, d: string) => fx.token(u, d), sqliteRows: (d: string) => (fx.db.prepare('SELECT COUNT(*) AS n FROM doc_updates WHERE doc_id = ?').get(d) as { n: number }).n };
  }
  const fx = await createPgFixture();
  cleanups.push(() => fx.cleanup());
  const owner = await fx.user();
  const env = { DATABASE_URL: PG_URL, DATABASE_SCHEMA: fx.schema };
  return { fx, env, owner, docId: await fx.doc(owner), token: (u: string, d: string) => fx.token(u, d), schema: fx.schema };
}

async function scenario(signal: 'SIGKILL' | 'SIGTERM', engine: 'sqlite' | 'postgres' = 'sqlite') {
  const { fx, env, owner, docId, ...seed } = await seeded(engine);
  let srv: ChildServer = await spawnServer(fx, env);
  cleanups.push(() => void srv.proc.kill('SIGKILL'));

  const writers: WebsocketProvider[] = [];
  for (let i = 0; i < 3; i++) writers.push(provider(srv.url, docId, await seed.token(owner, docId)));
  const observer = provider(srv.url, docId, await seed.token(owner, docId));
  const all = [...writers, observer];
  cleanups.push(() => all.forEach((p) => p.destroy()));
  await Promise.all(all.map((p) => synced(p)));

  // Edits from three writers; the observer only sees what the server broadcast.
  for (let k = 0; k < 60; k++) writers[k % 3]!.doc.getText('t').insert(0, `w${k % 3}:${k};`);
  writers[0]!.doc.getMap('m').set('last', 'x');
  await waitFor(() => writers.every((w) => sameState(w.doc, observer.doc)), { what: 'observer received every edit' });
  const broadcast = Y.encodeStateAsUpdate(observer.doc);

  let closeCodes: Promise<{ code: number; reason: string }> | null = null;
  if (signal === 'SIGTERM') {
    const probe = await rawClient(srv.url, docId, await seed.token(owner, docId));
    closeCodes = probe.closed;
  }
  srv.proc.kill(signal);
  const exitCode = await srv.exited;
  all.forEach((p) => p.destroy());
  if (signal === 'SIGTERM') {
    expect(exitCode).toBe(0);
    expect((await closeCodes!).code).toBe(CloseCode.SERVICE_RESTART);
  }

  srv = await spawnServer(fx, env);
  const fresh = provider(srv.url, docId, await seed.token(owner, docId));
  cleanups.push(() => fresh.destroy());
  await synced(fresh);
  const expected = new Y.Doc();
  Y.applyUpdate(expected, broadcast);
  await waitFor(() => sameState(fresh.doc, expected), { what: 'restarted server serves every broadcast edit' });
  expect(fresh.doc.getText('t').toString()).toBe(expected.getText('t').toString());
  expect(fresh.doc.getMap('m').get('last')).toBe('x');
  if ('schema' in seed) {
    // The log really lives in PostgreSQL (and no SQLite file was written).
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    const r = await c.query(`SELECT (SELECT COUNT(*) FROM "${seed.schema}".doc_updates WHERE doc_id = $1) + (SELECT COUNT(*) FROM "${seed.schema}".doc_snapshots WHERE doc_id = $1) AS n`, [docId]);
    await c.end();
    expect(Number(r.rows[0].n)).toBeGreaterThan(0);
    expect(existsSync(join(fx.dir, 'tandem.db'))).toBe(false);
  }
}

describe('durability across restarts', () => {
  it('a restarted server serves every edit it broadcast before SIGKILL', () => scenario('SIGKILL'));
  it('SIGTERM stores everything, closes sockets with 1012 and exits 0', () => scenario('SIGTERM'));
  // The same promise with the update log in PostgreSQL (this run's own schema).
  it('with the update log in PostgreSQL, SIGKILL loses no broadcast edit', () =>
    scenario('SIGKILL', 'postgres'));
});
