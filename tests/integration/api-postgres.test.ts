// The app's real route handlers in scale-out mode: DATABASE_URL (a schema of its own, dropped after)
// and REDIS_URL (a key prefix of its own) set, nothing in DATA_DIR's SQLite. Sign-up migrates the
// schema on the first request; documents, access changes, the feed, audit and the sign-in throttle
// all land in PostgreSQL/Redis.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import * as login from '../../app/api/auth/login/route';
import * as docs from '../../app/api/docs/route';
import * as doc from '../../app/api/docs/[id]/route';
import * as grants from '../../app/api/docs/[id]/access/grants/[email]/route';
import * as audit from '../../app/api/admin/audit/route';
import { getApp } from '../../app/_server/context';
import { call, expectError, setupAdmin, signUp, useTempDataDir } from '../helpers/app';

const PG_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const schema = `t_${randomBytes(6).toString('hex')}`;
const prefix = `test:${randomBytes(6).toString('hex')}:`;

let env: ReturnType<typeof useTempDataDir>;
let db: pg.Client;

beforeAll(async () => {
  env = useTempDataDir({ DATABASE_URL: PG_URL, DATABASE_SCHEMA: schema, REDIS_URL, REDIS_PREFIX: prefix, INSTANCE_ID: 'app-test' });
  db = new pg.Client({ connectionString: PG_URL, application_name: 'tandem-test-api-postgres' });
  await db.connect();
});
afterAll(async () => {
  await getApp().close();
  await db.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await db.end();
  const r = new Redis(REDIS_URL);
  const keys = await r.keys(`${prefix}*`);
  if (keys.length) await r.del(...keys);
  r.disconnect();
  env.cleanup();
});

it('sign-up, documents, sharing, deletion and the audit log run on PostgreSQL; no SQLite file is made', async () => {
  const admin = await setupAdmin('Admin', 'admin@example.test');
  expect(admin.user.isAdmin).toBe(true);
  const bea = await signUp('Bea', 'bea@example.test');
  expect(bea.user.isAdmin).toBe(false);
  expect(getApp().engine).toBe('postgres');
  expect(existsSync(join(env.dir, 'tandem.db'))).toBe(false);

  const created = await call(docs.POST, { method: 'POST', token: admin.token, body: { title: 'On Postgres' } });
  expect(created.status).toBe(201);
  const id = created.body.doc.id as string;
  expect((await call(grants.PUT, { method: 'PUT', token: admin.token, params: { id, email: 'BEA@example.test' }, body: { role: 'editor' } })).body.version).toBe(2);
  const listed = await call(docs.GET, { token: bea.token });
  expect(listed.body.docs.map((d: { id: string; role: string }) => [d.id, d.role])).toEqual([[id, 'editor']]);

  expect((await call(doc.DELETE, { method: 'DELETE', token: admin.token, params: { id } })).status).toBe(200);
  const feed = await db.query(`SELECT version, deleted FROM "${schema}".acl_changes WHERE doc_id = $1 ORDER BY seq`, [id]);
  expect(feed.rows).toEqual([
    { version: 2, deleted: 0 },
    { version: 3, deleted: 1 },
  ]);
  const log = await call(audit.GET, { token: admin.token, path: `/api/admin/audit?docId=${id}` });
  expect(log.body.entries.map((e: { action: string }) => e.action)).toEqual(['doc.delete', 'access.grant']);
  const apps = await db.query(`SELECT COUNT(*)::int AS n FROM pg_stat_activity WHERE application_name = 'tandem-app-test'`);
  expect(apps.rows[0].n).toBeGreaterThan(0);
});

it('the sign-in throttle counts in Redis under REDIS_PREFIX: 30 parallel wrong passwords, 10 checked, 20 refused', async () => {
  const s = await signUp('Cal', 'cal@example.test', 'cal-password');
  const rs = await Promise.all(Array.from({ length: 30 }, (_, i) => call(login.POST, { method: 'POST', body: { email: s.email, password: `guess-${i}` } })));
  expect(rs.filter((r) => r.status === 401)).toHaveLength(10);
  const refused = rs.filter((r) => r.status === 429);
  expect(refused).toHaveLength(20);
  expectError(refused[0]!, 429);
  const r = new Redis(REDIS_URL);
  const keys = await r.keys(`${prefix}login:*`);
  r.disconnect();
  expect(keys).toHaveLength(1);
});
