// One contract, both engines: the app's stores (users, sessions, documents, access changes, audit)
// on SQLite (a temporary directory) and on PostgreSQL (a schema of its own per run, dropped after);
// and the sign-in throttle in memory and in Redis (a key prefix of its own per run).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPgStores, createSqliteStores, type Stores } from '../../app/_server/stores';
import { openDb } from '../../app/_server/stores/sqlite';
import { openPg, type PgDb } from '../../app/_server/stores/pg';
import { createMemoryLoginThrottle, createRedisLoginThrottle, type LoginThrottle } from '../../app/_server/login-throttle';
import { TandemError } from '../../lib/errors';

const PG_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const APP_NAME = 'tandem-contract-app-stores';
const TTL = 3600;
const IDLE = 600;

/** Raw SQL beside the stores, as collab-server or an operator would run it (`?` placeholders). */
interface Raw {
  run(sql: string, ...params: unknown[]): Promise<void>;
  all<T>(sql: string, ...params: unknown[]): Promise<T[]>;
}

/** A fresh, empty database with `instances` app instances' stores on it (separate handles). */
interface Env {
  stores: Stores[];
  raw: Raw;
}

interface Engine {
  open(instances?: number): Promise<Env>;
  cleanup(): Promise<void>;
}

function sqliteEngine(): Engine {
  const dirs: string[] = [];
  const handles: Database.Database[] = [];
  return {
    async open(instances = 1) {
      const dir = mkdtempSync(join(tmpdir(), 'tandem-app-stores-'));
      dirs.push(dir);
      const file = join(dir, 'tandem.db');
      const stores = Array.from({ length: instances }, () => {
        const db = openDb(file, 'NORMAL');
        handles.push(db);
        return createSqliteStores(db, { sessionTtlSeconds: TTL, sessionIdleSeconds: IDLE });
      });
      const db = new Database(file);
      handles.push(db);
      return {
        stores,
        raw: {
          run: async (sql, ...p) => void db.prepare(sql).run(...p),
          all: async <T,>(sql: string, ...p: unknown[]) => db.prepare(sql).all(...p) as T[],
        },
      };
    },
    async cleanup() {
      for (const h of handles) h.close();
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    },
  };
}

/** The BIGINT → number parser the app's pools use, for the raw pool too. */
const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text') => (oid === 20 ? Number : pg.types.getTypeParser(oid, format))) as pg.CustomTypesConfig['getTypeParser'],
};

function postgresEngine(): Engine {
  const schemas: string[] = [];
  const pools: { close(): Promise<void> }[] = [];
  return {
    async open(instances = 1) {
      const schema = `t_${randomBytes(6).toString('hex')}`;
      schemas.push(schema);
      const dbs: PgDb[] = Array.from({ length: instances }, () => openPg({ connectionString: PG_URL, schema, applicationName: APP_NAME, max: 4 }));
      pools.push(...dbs);
      const stores = dbs.map((d) => createPgStores(d, { sessionTtlSeconds: TTL, sessionIdleSeconds: IDLE }));
      // The stores migrate on their first query; raw SQL may come first, so migrate now.
      await Promise.all(dbs.map((d) => d.ready()));
      const pool = new pg.Pool({ connectionString: PG_URL, application_name: APP_NAME, max: 2, options: `-c search_path=${schema}`, types });
      pools.push({ close: () => pool.end() });
      const numbered = (sql: string) => {
        let n = 0;
        return sql.replace(/\?/g, () => `$${++n}`);
      };
      return {
        stores,
        raw: {
          run: async (sql, ...p) => void (await pool.query(numbered(sql), p)),
          all: async <T,>(sql: string, ...p: unknown[]) => (await pool.query(numbered(sql), p)).rows as T[],
        },
      };
    },
    async cleanup() {
      for (const p of pools) await p.close();
      const c = new pg.Client({ connectionString: PG_URL, application_name: APP_NAME });
      await c.connect();
      for (const s of schemas) await c.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
      await c.end();
    },
  };
}

const tandemError = (code: string) => (err: unknown) => err instanceof TandemError && err.code === code;
async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err, `expected a ${code} error`).not.toBeNull();
  expect(tandemError(code)(err), String(err)).toBe(true);
}

const engines: [string, () => Engine][] = [
  ['sqlite', sqliteEngine],
  ['postgres', postgresEngine],
];

describe.each(engines)('app stores contract: %s', (engine, makeEngine) => {
  const eng = makeEngine();
  let env: Env;
  let s: Stores;
  let n = 0;
  const user = (name = `U${++n}`) => s.users.create(`${name.toLowerCase()}.${n}@example.test`, name, 'hash');
  beforeAll(async () => {
    env = await eng.open();
    s = env.stores[0]!;
  });
  afterAll(() => eng.cleanup());

  describe('users', () => {
    it('no account becomes admin by being first; unverified unless created verified; lookups by id and by email in any case', async () => {
      const a = await s.users.create('first@example.test', 'First', 'h1');
      const b = await s.users.create('second@example.test', 'Second', 'h2', { verified: true });
      expect(a).toMatchObject({ email: 'first@example.test', name: 'First', password_hash: 'h1', is_admin: 0, email_verified: 0 });
      expect(b).toMatchObject({ is_admin: 0, email_verified: 1 });
      expect(await s.users.hasAdmin()).toBe(false);
      expect(typeof a.created_at).toBe('number');
      expect(await s.users.byId(a.id)).toEqual(a);
      expect(await s.users.byEmail('FIRST@Example.TEST')).toEqual(a);
      expect(await s.users.byEmail('nobody@example.test')).toBeUndefined();
      expect(await s.users.byId('nope')).toBeUndefined();
    });

    it('an email is taken case-insensitively: conflict naming the field', async () => {
      await s.users.create('case@example.test', 'Case', 'h');
      const err = await s.users.create('CASE@example.test', 'Other', 'h').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TandemError);
      expect(err).toMatchObject({ code: 'conflict', field: 'email' });
    });

    it('the first admin: exactly one when setups race from two app instances; the stored setup token goes with it', async () => {
      const fresh = await eng.open(2);
      expect(await fresh.stores[0]!.settings.putIfAbsent('setup_token', 'tok-a')).toBe('tok-a');
      // First writer wins across instances: every instance prints and accepts the same token.
      expect(await fresh.stores[1]!.settings.putIfAbsent('setup_token', 'tok-b')).toBe('tok-a');
      const rs = await Promise.allSettled(
        Array.from({ length: 12 }, (_, i) => fresh.stores[i % 2]!.users.createFirstAdmin(`racer${i}@example.test`, `Racer ${i}`, 'h')),
      );
      const made = rs.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<{ is_admin: number; email_verified: number }>).value);
      expect(made).toHaveLength(1);
      expect(made[0]).toMatchObject({ is_admin: 1, email_verified: 1 });
      for (const r of rs.filter((r) => r.status === 'rejected')) expect((r as PromiseRejectedResult).reason).toMatchObject({ code: 'forbidden' });
      expect(await fresh.raw.all('SELECT COUNT(*) AS n FROM users WHERE is_admin = 1')).toEqual([{ n: 1 }]);
      expect(await fresh.stores[1]!.users.hasAdmin()).toBe(true);
      expect(await fresh.stores[1]!.settings.get('setup_token')).toBeUndefined();
    });

    it('markVerified sets the flag, and with a replacement also the password and name', async () => {
      const u = await user();
      expect((await s.users.markVerified(u.id))?.email_verified).toBe(1);
      const v = await s.users.markVerified(u.id, { passwordHash: 'new-hash', name: 'Renamed' });
      expect(v).toMatchObject({ email_verified: 1, password_hash: 'new-hash', name: 'Renamed' });
    });

    it('the same email signed up twice at once from two instances: one account, one conflict', async () => {
      const fresh = await eng.open(2);
      const rs = await Promise.allSettled([fresh.stores[0]!.users.create('twice@example.test', 'A', 'h'), fresh.stores[1]!.users.create('TWICE@example.test', 'B', 'h')]);
      expect(rs.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const failed = rs.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      expect(failed.reason).toMatchObject({ code: 'conflict' });
    });
  });

  describe('sessions', () => {
    it('a session finds its user until it is destroyed; only a hash of the token is stored', async () => {
      const u = await user();
      const t = await s.sessions.create(u.id);
      expect(t.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(t.expiresAt).toBeGreaterThan(Date.now() + (TTL - 5) * 1000);
      expect((await s.sessions.user(t.token))?.id).toBe(u.id);
      const rows = await env.raw.all<{ token_hash: string }>('SELECT token_hash FROM sessions WHERE user_id = ?', u.id);
      expect(rows).toHaveLength(1);
      expect(rows[0]!.token_hash).not.toContain(t.token);
      await s.sessions.destroy(t.token);
      expect(await s.sessions.user(t.token)).toBeUndefined();
    });

    it('an expired session finds nobody and is purged at the next sign-in; malformed tokens never match', async () => {
      const u = await user();
      const t = await s.sessions.create(u.id);
      await env.raw.run('UPDATE sessions SET expires_at = ? WHERE user_id = ?', Date.now() - 1, u.id);
      expect(await s.sessions.user(t.token)).toBeUndefined();
      await s.sessions.create((await user()).id);
      expect(await env.raw.all('SELECT token_hash FROM sessions WHERE user_id = ?', u.id)).toEqual([]);
      expect(await s.sessions.user('short')).toBeUndefined();
      expect(await s.sessions.user('x'.repeat(43))).toBeUndefined();
    });

    it('a session unused for the idle time ends; use keeps it alive', async () => {
      const u = await user();
      const t = await s.sessions.create(u.id);
      const idleAgo = Date.now() - IDLE * 1000 - 1;
      // Used recently: alive, and using it moves last_seen_at forward.
      await env.raw.run('UPDATE sessions SET last_seen_at = ? WHERE user_id = ?', Date.now() - (IDLE - 30) * 1000, u.id);
      expect((await s.sessions.user(t.token))?.id).toBe(u.id);
      const [row] = await env.raw.all<{ last_seen_at: number }>('SELECT last_seen_at FROM sessions WHERE user_id = ?', u.id);
      expect(row!.last_seen_at).toBeGreaterThan(Date.now() - 5000);
      await env.raw.run('UPDATE sessions SET last_seen_at = ? WHERE user_id = ?', idleAgo, u.id);
      expect(await s.sessions.user(t.token)).toBeUndefined();
      // A row from before the column existed (NULL) counts from its creation.
      const t2 = await s.sessions.create(u.id);
      await env.raw.run('UPDATE sessions SET last_seen_at = NULL, created_at = ? WHERE user_id = ?', idleAgo, u.id);
      expect(await s.sessions.user(t2.token)).toBeUndefined();
    });

    it('destroyAll ends every session of one user and no one else’s', async () => {
      const u = await user();
      const other = await user();
      const ts = [await s.sessions.create(u.id), await s.sessions.create(u.id)];
      const keep = await s.sessions.create(other.id);
      expect(await s.sessions.destroyAll(u.id)).toBe(2);
      for (const t of ts) expect(await s.sessions.user(t.token)).toBeUndefined();
      expect((await s.sessions.user(keep.token))?.id).toBe(other.id);
    });
  });

  describe('email verifications', () => {
    it('a link is consumed once; expired and unknown links find nothing; clearEmail drops the rest', async () => {
      const a = await s.verifications.create({ email: 'new@example.test', name: 'New', passwordHash: 'h' }, 60_000);
      const b = await s.verifications.create({ email: 'NEW@example.test', name: 'Other', passwordHash: 'h2' }, 60_000);
      expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(await s.verifications.consume(a)).toMatchObject({ email: 'new@example.test', name: 'New', password_hash: 'h', user_id: null });
      expect(await s.verifications.consume(a)).toBeUndefined();
      await s.verifications.clearEmail('new@example.test');
      expect(await s.verifications.consume(b)).toBeUndefined();
      const old = await s.verifications.create({ email: 'late@example.test', userId: (await user()).id }, -1);
      expect(await s.verifications.consume(old)).toBeUndefined();
      expect(await s.verifications.consume('x'.repeat(43))).toBeUndefined();
      // Only hashes are stored.
      expect(await env.raw.all('SELECT 1 FROM email_verifications WHERE token_hash = ?', b)).toEqual([]);
    });
  });

  describe('documents', () => {
    it('create, load with its ACL, rename', async () => {
      const o = await user('Owner');
      const d = await s.docs.create(o.id, 'Plans');
      expect(d).toMatchObject({ title: 'Plans', owner_id: o.id, general_access: null, acl_version: 1, last_edit_at: null, owner_name: 'Owner', owner_email: o.email });
      expect(d.created_at).toBe(d.updated_at);
      const l = (await s.docs.load(d.id))!;
      expect(l.row).toEqual(d);
      expect(l.acl).toEqual({ docId: d.id, version: 1, ownerId: o.id, generalAccess: null, grants: new Map() });
      const r = await s.docs.rename(d.id, 'Better plans');
      expect(r).toMatchObject({ id: d.id, title: 'Better plans' });
      expect(r!.updated_at).toBeGreaterThanOrEqual(d.updated_at);
      expect(await s.docs.load('missing')).toBeUndefined();
      expect(await s.docs.rename('missing', 'x')).toBeUndefined();
    });

    it('the list holds my documents and those shared with me, with my role; all=true lists everything', async () => {
      const a = await user();
      const b = await user();
      const mine = await s.docs.create(a.id, 'Mine');
      const viewed = await s.docs.create(b.id, 'Viewed');
      const edited = await s.docs.create(b.id, 'Edited');
      const open = await s.docs.create(b.id, 'Open to all');
      const hidden = await s.docs.create(b.id, 'Hidden');
      await s.access.putGrant(b.id, viewed.id, { userId: a.id, email: a.email }, 'viewer');
      await s.access.putGrant(b.id, edited.id, { userId: a.id, email: a.email }, 'editor');
      await s.access.setGeneral(b.id, open.id, 'editor');
      const p = { userId: a.id, isAdmin: false };
      const roles = Object.fromEntries((await s.docs.list(p, {})).map((d) => [d.id, d.role]));
      expect(roles).toEqual({ [mine.id]: 'owner', [viewed.id]: 'viewer', [edited.id]: 'editor' });
      const all = (await s.docs.list({ userId: a.id, isAdmin: true }, { all: true })).map((d) => d.id);
      expect(all).toEqual(expect.arrayContaining([hidden.id, open.id, mine.id]));
      const listedAll = (await s.docs.list({ userId: a.id, isAdmin: true }, { all: true })).find((d) => d.id === hidden.id);
      expect(listedAll).toMatchObject({ role: 'owner', ownerEmail: b.email });
    });

    it('search is case-insensitive and %, _ and \\ are literal', async () => {
      const a = await user();
      const pct = await s.docs.create(a.id, 'Budget 100% final');
      const us = await s.docs.create(a.id, 'snake_case notes');
      const bs = await s.docs.create(a.id, 'back\\slash');
      const plain = await s.docs.create(a.id, 'Budget 1000 draft');
      const p = { userId: a.id, isAdmin: false };
      const ids = async (q: string) => (await s.docs.list(p, { q })).map((d) => d.id).sort();
      expect(await ids('BUDGET')).toEqual([pct.id, plain.id].sort());
      expect(await ids('100%')).toEqual([pct.id]);
      expect(await ids('%')).toEqual([pct.id]);
      expect(await ids('_')).toEqual([us.id]);
      expect(await ids('e_c')).toEqual([us.id]);
      expect(await ids('\\')).toEqual([bs.id]);
      expect(await ids('nothing like it')).toEqual([]);
    });

    it("newest edit first: collab-server's doc_heads.last_edit_at, else the document's own updated_at", async () => {
      const a = await user();
      const old = await s.docs.create(a.id, 'Old but edited');
      const fresh = await s.docs.create(a.id, 'Fresh');
      const future = Date.now() + 60_000;
      // As collab-server writes it when it stores an edit (the app never writes doc_heads).
      await env.raw.run('INSERT INTO doc_heads (doc_id, last_seq, last_edit_at) VALUES (?, ?, ?)', old.id, 7, future);
      const l = await s.docs.list({ userId: a.id, isAdmin: false }, {});
      expect(l.map((d) => d.id)).toEqual([old.id, fresh.id]);
      expect(l[0]!.lastEditAt).toBe(future);
      expect(l[1]!.lastEditAt).toBeNull();
      expect((await s.docs.load(old.id))!.row.last_edit_at).toBe(future);
    });

    it('a document opened through general access stays in the visitor\'s list while general access lets them read it', async () => {
      const a = await user();
      const b = await user();
      const open = await s.docs.create(b.id, 'Open to all');
      await s.access.setGeneral(b.id, open.id, 'viewer');
      const p = { userId: a.id, isAdmin: false };
      expect((await s.docs.list(p, {})).map((d) => d.id)).toEqual([]);
      await s.docs.recordVisit(open.id, a.id);
      await s.docs.recordVisit(open.id, a.id); // a second visit just moves the time
      expect((await s.docs.list(p, {})).map((d) => [d.id, d.role])).toEqual([[open.id, 'viewer']]);
      await s.access.setGeneral(b.id, open.id, 'editor');
      expect((await s.docs.list(p, {})).map((d) => d.role)).toEqual(['editor']);
      // Restricted again: the visit no longer lists it.
      await s.access.setGeneral(b.id, open.id, null);
      expect(await s.docs.list(p, {})).toEqual([]);
    });

    it('sorts by last edit, title (case-insensitive) or creation; q matches content from doc_text as well as titles', async () => {
      const a = await user();
      const p = { userId: a.id, isAdmin: false };
      const t0 = Date.now();
      const beta = await s.docs.create(a.id, 'beta');
      const alpha = await s.docs.create(a.id, 'Alpha');
      const gamma = await s.docs.create(a.id, 'Gamma');
      // Distinct creation times, and an edit that puts beta first (as collab-server writes them).
      await env.raw.run('UPDATE docs SET created_at = ?, updated_at = ? WHERE id = ?', t0 - 3000, t0 - 3000, beta.id);
      await env.raw.run('UPDATE docs SET created_at = ?, updated_at = ? WHERE id = ?', t0 - 2000, t0 - 2000, alpha.id);
      await env.raw.run('UPDATE docs SET created_at = ?, updated_at = ? WHERE id = ?', t0 - 1000, t0 - 1000, gamma.id);
      await env.raw.run('INSERT INTO doc_heads (doc_id, last_seq, last_edit_at) VALUES (?, ?, ?)', beta.id, 3, t0);
      const ids = async (o: { q?: string; sort?: 'edited' | 'title' | 'created' }) => (await s.docs.list(p, o)).map((d) => d.title);
      expect(await ids({})).toEqual(['beta', 'Gamma', 'Alpha']);
      expect(await ids({ sort: 'edited' })).toEqual(['beta', 'Gamma', 'Alpha']);
      expect(await ids({ sort: 'title' })).toEqual(['Alpha', 'beta', 'Gamma']);
      expect(await ids({ sort: 'created' })).toEqual(['Gamma', 'Alpha', 'beta']);
      // collab-server's plain-text extract (the app only reads doc_text).
      await env.raw.run('INSERT INTO doc_text (doc_id, text, updated_at) VALUES (?, ?, ?)', gamma.id, 'Quarterly REVENUE 50% up\nnext line', t0);
      expect(await ids({ q: 'revenue' })).toEqual(['Gamma']);
      expect(await ids({ q: '50%' })).toEqual(['Gamma']);
      expect(await ids({ q: 'alp', sort: 'title' })).toEqual(['Alpha']);
      expect(await ids({ q: 'nowhere' })).toEqual([]);
    });
  });

  describe('access changes', () => {
    const feed = (docId: string) => env.raw.all<{ version: number; deleted: number }>('SELECT version, deleted FROM acl_changes WHERE doc_id = ? ORDER BY seq', docId);
    const audits = async (docId: string) =>
      (await env.raw.all<{ action: string; actor_id: string; target: string | null; detail: string }>('SELECT action, actor_id, target, detail FROM audit WHERE doc_id = ? ORDER BY id', docId)).map(
        (r) => ({ ...r, detail: JSON.parse(r.detail) }),
      );
    const version = async (docId: string) => (await env.raw.all<{ acl_version: number }>('SELECT acl_version FROM docs WHERE id = ?', docId))[0]?.acl_version;

    it('grant, change, general, revoke: each bumps the version once with exactly one feed row and one audit row', async () => {
      const o = await user();
      const u = await user();
      const t = { userId: u.id, email: u.email };
      const d = await s.docs.create(o.id, 'Shared');
      const steps: [() => Promise<unknown>, string, string | null, unknown][] = [
        [() => s.access.putGrant(o.id, d.id, t, 'viewer'), 'access.grant', u.email, { oldRole: null, newRole: 'viewer' }],
        [() => s.access.putGrant(o.id, d.id, t, 'editor'), 'access.grant', u.email, { oldRole: 'viewer', newRole: 'editor' }],
        [() => s.access.setGeneral(o.id, d.id, 'viewer'), 'access.general', null, { oldRole: null, newRole: 'viewer' }],
        [() => s.access.deleteGrant(o.id, d.id, t), 'access.revoke', u.email, { oldRole: 'editor', newRole: null }],
      ];
      for (const [i, [step, action, target, detail]] of steps.entries()) {
        await step();
        expect(await version(d.id)).toBe(i + 2);
        expect(await feed(d.id)).toHaveLength(i + 1);
        expect((await feed(d.id)).at(-1)).toEqual({ version: i + 2, deleted: 0 });
        expect(await audits(d.id)).toHaveLength(i + 1);
        expect((await audits(d.id)).at(-1)).toEqual({ action, actor_id: o.id, target, detail });
      }
      const v = await s.access.view(d.id);
      expect(v).toEqual({ version: 5, generalAccess: 'viewer', owner: { userId: o.id, email: o.email, name: o.name }, grants: [], invitations: [] });
    });

    it('an invitation grants nothing (no version, no feed row) until accepted, which turns it into one grant with its feed row', async () => {
      const o = await user();
      const d = await s.docs.create(o.id, 'Invited');
      const email = `invitee.${n}@example.test`;
      let v = await s.access.putInvitation(o.id, d.id, email.toUpperCase(), 'editor');
      expect(v.invitations).toEqual([{ email, role: 'editor', createdAt: expect.any(Number) }]);
      expect(v.grants).toEqual([]);
      expect(await version(d.id)).toBe(1);
      expect(await feed(d.id)).toEqual([]);
      expect((await audits(d.id)).map((a) => a.action)).toEqual(['access.invite']);
      await rejectsWith(s.access.putInvitation(o.id, d.id, o.email, 'viewer'), 'bad_request');
      await rejectsWith(s.access.deleteInvitation(o.id, d.id, 'nobody@example.test'), 'not_found');
      const u = await s.users.create(email, 'Invitee', 'h', { verified: true });
      expect(await s.access.acceptInvitations(u.id, email)).toBe(1);
      v = await s.access.view(d.id);
      expect(v.invitations).toEqual([]);
      expect(v.grants).toEqual([{ userId: u.id, email, name: 'Invitee', role: 'editor' }]);
      expect(await feed(d.id)).toEqual([{ version: 2, deleted: 0 }]);
      expect((await audits(d.id)).at(-1)).toMatchObject({ action: 'access.grant', actor_id: o.id, target: email });
      expect(await s.access.acceptInvitations(u.id, email)).toBe(0);
      // Withdrawn before acceptance: nothing to accept; a grant supersedes a pending invitation.
      const d2 = await s.docs.create(o.id, 'Withdrawn');
      await s.access.putInvitation(o.id, d2.id, email, 'viewer');
      expect((await s.access.deleteInvitation(o.id, d2.id, email)).invitations).toEqual([]);
      await s.access.putInvitation(o.id, d2.id, email, 'viewer');
      expect((await s.access.putGrant(o.id, d2.id, { userId: u.id, email }, 'viewer')).invitations).toEqual([]);
      // A deleted document takes its invitations with it.
      const d3 = await s.docs.create(o.id, 'Gone');
      await s.access.putInvitation(o.id, d3.id, 'later@example.test', 'viewer');
      await s.access.deleteDoc(o.id, d3.id);
      expect(await env.raw.all('SELECT 1 FROM invitations WHERE doc_id = ?', d3.id)).toEqual([]);
    });

    it('a change that changes nothing writes nothing; errors write nothing', async () => {
      const o = await user();
      const u = await user();
      const t = { userId: u.id, email: u.email };
      const d = await s.docs.create(o.id, 'Quiet');
      const v1 = await s.access.putGrant(o.id, d.id, t, 'viewer');
      expect(v1.grants).toEqual([{ userId: u.id, email: u.email, name: u.name, role: 'viewer' }]);
      expect((await s.access.putGrant(o.id, d.id, t, 'viewer')).version).toBe(2);
      expect((await s.access.setGeneral(o.id, d.id, null)).version).toBe(2);
      await rejectsWith(s.access.putGrant(o.id, d.id, { userId: o.id, email: o.email }, 'editor'), 'bad_request');
      await rejectsWith(s.access.deleteGrant(o.id, d.id, { userId: o.id, email: o.email }), 'not_found');
      await rejectsWith(s.access.putGrant(o.id, 'missing', t, 'editor'), 'not_found');
      await rejectsWith(s.access.setGeneral(o.id, 'missing', 'viewer'), 'not_found');
      await rejectsWith(s.access.deleteDoc(o.id, 'missing'), 'not_found');
      await rejectsWith(s.access.view('missing'), 'not_found');
      expect(await feed(d.id)).toHaveLength(1);
      expect(await audits(d.id)).toHaveLength(1);
      expect(await feed('missing')).toEqual([]);
    });

    it('deleting a document: docs row and grants gone, one feed row with deleted = 1, one audit row; the content is left to collab-server', async () => {
      const o = await user();
      const u = await user();
      const d = await s.docs.create(o.id, 'Doomed');
      await s.access.putGrant(o.id, d.id, { userId: u.id, email: u.email }, 'editor');
      // As collab-server stores content (its tables; the app must never write or delete them).
      await env.raw.run('INSERT INTO doc_updates (doc_id, seq, data) VALUES (?, 1, ?)', d.id, Buffer.from([0, 0]));
      await env.raw.run('INSERT INTO doc_snapshots (doc_id, upto_seq, data, updated_at) VALUES (?, 1, ?, 0)', d.id, Buffer.from([0, 0]));
      await s.access.deleteDoc(o.id, d.id);
      expect(await s.docs.load(d.id)).toBeUndefined();
      expect(await env.raw.all('SELECT user_id FROM grants WHERE doc_id = ?', d.id)).toEqual([]);
      expect(await feed(d.id)).toEqual([
        { version: 2, deleted: 0 },
        { version: 3, deleted: 1 },
      ]);
      expect((await audits(d.id)).at(-1)).toEqual({ action: 'doc.delete', actor_id: o.id, target: null, detail: { title: 'Doomed' } });
      expect(await audits(d.id)).toHaveLength(2);
      expect(await env.raw.all('SELECT seq FROM doc_updates WHERE doc_id = ?', d.id)).toEqual([{ seq: 1 }]);
      expect(await env.raw.all('SELECT upto_seq FROM doc_snapshots WHERE doc_id = ?', d.id)).toEqual([{ upto_seq: 1 }]);
    });

    it('concurrent changes to one document from two instances: every version once, feed in version order', async () => {
      const two = await eng.open(2);
      const [s1, s2] = two.stores as [Stores, Stores];
      const o = await s1.users.create('conc-owner@example.test', 'Owner', 'h');
      const d = await s1.docs.create(o.id, 'Busy');
      const people = await Promise.all(Array.from({ length: 10 }, (_, i) => s1.users.create(`conc${i}@example.test`, `P${i}`, 'h')));
      await Promise.all(people.map((p, i) => (i % 2 ? s1 : s2).access.putGrant(o.id, d.id, { userId: p.id, email: p.email }, 'viewer')));
      const f = await two.raw.all<{ version: number }>('SELECT version FROM acl_changes WHERE doc_id = ? ORDER BY seq', d.id);
      expect(f.map((r) => r.version)).toEqual(Array.from({ length: 10 }, (_, i) => i + 2));
      expect((await s2.access.view(d.id)).version).toBe(11);
      expect(await two.raw.all('SELECT COUNT(*) AS n FROM audit WHERE doc_id = ?', d.id)).toEqual([{ n: 10 }]);
    });
  });

  describe('audit', () => {
    it('newest first, filtered by action and document, paged with before, with the actor’s email', async () => {
      const a = await user();
      const d1 = await s.docs.create(a.id, 'One');
      const d2 = await s.docs.create(a.id, 'Two');
      const t0 = Date.now();
      await s.audit.record({ actorId: a.id, action: 'x.first', docId: d1.id, target: 't', detail: { n: 1 } });
      await s.audit.record({ actorId: null, action: 'x.second', docId: d2.id });
      await s.audit.record({ actorId: a.id, action: 'x.first', docId: d2.id, detail: 'plain' }, 1234);
      const first = await s.audit.list({ action: 'x.first', limit: 10 });
      expect(first.map((e) => [e.docId, e.detail])).toEqual([
        [d2.id, 'plain'],
        [d1.id, { n: 1 }],
      ]);
      expect(first[0]).toMatchObject({ at: 1234, actorId: a.id, actorEmail: a.email, action: 'x.first', target: null });
      expect(first[1]!.at).toBeGreaterThanOrEqual(t0);
      expect(first[1]!.target).toBe('t');
      expect((await s.audit.list({ docId: d2.id, limit: 10 })).map((e) => e.action)).toEqual(['x.first', 'x.second']);
      const second = (await s.audit.list({ action: 'x.second', limit: 10 }))[0]!;
      expect(second).toMatchObject({ actorId: null, actorEmail: null, detail: null });
      const page1 = await s.audit.list({ limit: 2 });
      expect(page1).toHaveLength(2);
      expect(page1[0]!.id).toBeGreaterThan(page1[1]!.id);
      const page2 = await s.audit.list({ limit: 2, before: page1[1]!.id });
      expect(page2.every((e) => e.id < page1[1]!.id)).toBe(true);
      expect(page2[0]!.action).toBe('x.first');
    });
  });

  if (engine === 'postgres') {
    it('migration: several instances starting at once on a new schema all come up, and again on the migrated one', async () => {
      const schema = `t_${randomBytes(6).toString('hex')}`;
      const dbs = Array.from({ length: 4 }, () => openPg({ connectionString: PG_URL, schema, applicationName: APP_NAME, max: 1 }));
      try {
        await Promise.all(dbs.map((d) => d.ready()));
        const again = openPg({ connectionString: PG_URL, schema, applicationName: APP_NAME, max: 1 });
        dbs.push(again);
        await again.ready();
        const r = await again.query<{ n: number }>(`SELECT COUNT(*)::int AS n FROM information_schema.tables WHERE table_schema = $1`, [schema]);
        expect(r.rows[0]!.n).toBeGreaterThanOrEqual(11);
      } finally {
        await dbs[0]!.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        for (const d of dbs) await d.close();
      }
    });
  }
});

// ---- sign-in throttle ---------------------------------------------------------------------------

const LIMITS = { maxFailures: 10, windowMs: 60_000 };
const prefix = `test:${randomBytes(6).toString('hex')}:`;
const redisClients: Redis[] = [];
const redisThrottle = (onError: (err: unknown) => void = (err) => { throw err; }) => {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1, lazyConnect: true });
  redisClients.push(redis);
  return createRedisLoginThrottle({ ...LIMITS, redis, prefix, onError });
};

afterAll(async () => {
  const c = new Redis(REDIS_URL);
  const keys = await c.keys(`${prefix}*`);
  if (keys.length) await c.del(...keys);
  c.disconnect();
  for (const r of redisClients) r.disconnect();
});

/** Two throttles that should share one count (two app instances), and one that stands alone. */
const throttles: [string, () => { a: LoginThrottle; b: LoginThrottle }][] = [
  ['memory', () => {
    const t = createMemoryLoginThrottle(LIMITS);
    return { a: t, b: t };
  }],
  ['redis', () => ({ a: redisThrottle(), b: redisThrottle() })],
];

describe.each(throttles)('login throttle contract: %s', (_name, make) => {
  let email = 0;
  const fresh = () => `person${++email}.${randomBytes(3).toString('hex')}@example.test`;

  it('10 attempts pass, the 11th waits until the oldest leaves the window; other emails are unaffected', async () => {
    const { a, b } = make();
    const e = fresh();
    const t0 = 1_000_000;
    for (let i = 0; i < 10; i++) expect((await (i % 2 ? a : b).attempt(e, t0 + i * 1000)).ok).toBe(true);
    expect(await a.attempt(e.toUpperCase(), t0 + 10_000)).toEqual({ ok: false, retryAfter: 50 });
    expect((await b.attempt(fresh(), t0 + 10_000)).ok).toBe(true);
    // A refused attempt is not counted; once the oldest leaves the window, one more may try.
    expect((await a.attempt(e, t0 + 60_000)).ok).toBe(true);
    expect(await a.attempt(e, t0 + 60_001)).toEqual({ ok: false, retryAfter: 1 });
  });

  it('a success clears the count; a cancelled attempt does not count', async () => {
    const { a, b } = make();
    const e = fresh();
    for (let i = 0; i < 9; i++) await a.attempt(e);
    const last = await b.attempt(e);
    expect(last.ok).toBe(true);
    await b.cancel(e, (last as { id: string }).id);
    expect((await a.attempt(e)).ok).toBe(true);
    expect((await a.attempt(e)).ok).toBe(false);
    await b.succeed(e);
    for (let i = 0; i < 10; i++) expect((await a.attempt(e)).ok).toBe(true);
  });

  it('200 parallel attempts from two instances: exactly 10 pass', async () => {
    const { a, b } = make();
    const e = fresh();
    const rs = await Promise.all(Array.from({ length: 200 }, (_, i) => (i % 2 ? a : b).attempt(e)));
    expect(rs.filter((r) => r.ok)).toHaveLength(10);
    expect(rs.filter((r) => !r.ok).every((r) => !r.ok && r.retryAfter > 0)).toBe(true);
  });
});

describe('login throttle on Redis', () => {
  it('keeps no email in Redis: keys are under the prefix and hashed', async () => {
    const t = redisThrottle();
    await t.attempt('visible@example.test');
    const c = new Redis(REDIS_URL);
    redisClients.push(c);
    const keys = await c.keys(`${prefix}*`);
    expect(keys.length).toBeGreaterThan(0);
    expect(keys.every((k) => /^test:[0-9a-f]+:login:[0-9a-f]{64}$/.test(k))).toBe(true);
  });

  it('while Redis is unreachable, counts in memory and reports the error', async () => {
    const errors: unknown[] = [];
    const dead = new Redis('redis://127.0.0.1:1', { maxRetriesPerRequest: 0, lazyConnect: true, retryStrategy: () => null });
    dead.on('error', () => {});
    redisClients.push(dead);
    const t = createRedisLoginThrottle({ ...LIMITS, redis: dead, prefix, onError: (err) => errors.push(err) });
    const e = 'offline@example.test';
    for (let i = 0; i < 10; i++) expect((await t.attempt(e)).ok).toBe(true);
    expect((await t.attempt(e)).ok).toBe(false);
    expect(errors.length).toBeGreaterThan(0);
  });
});
