// Issue 11, the lower app items, over the real route handlers and a real SQLite database: no open
// redirect after sign-in; Origin null and other sites refused (sign-out too); scrypt at OWASP's
// cost with old hashes still verifying; tandem.db readable by its owner only; no framing; idle
// sessions end and "sign out everywhere" works; anonymous requests get 401 before any validation.
import Database from 'better-sqlite3';
import { chmodSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as logout from '../../app/api/auth/logout/route';
import * as me from '../../app/api/me/route';
import * as docs from '../../app/api/docs/route';
import * as doc from '../../app/api/docs/[id]/route';
import * as access from '../../app/api/docs/[id]/access/route';
import * as grants from '../../app/api/docs/[id]/access/grants/[email]/route';
import * as general from '../../app/api/docs/[id]/access/general/route';
import * as token from '../../app/api/docs/[id]/token/route';
import * as audit from '../../app/api/admin/audit/route';
import * as sessions from '../../app/api/admin/sessions/route';
import * as session from '../../app/api/admin/sessions/[connId]/route';
import * as resend from '../../app/api/auth/verify/resend/route';
import { getApp } from '../../app/_server/context';
import { parseAppConfig } from '../../app/_server/config';
import { openDb } from '../../app/_server/stores/sqlite';
import { hashPassword, verifyPassword } from '../../app/_server/passwords';
import { safeNextPath } from '../../lib/api-schemas';
// @ts-expect-error next.config.js is plain JavaScript without declarations
import nextConfig from '../../next.config.js';
import { call, expectError, signUp, useTempDataDir } from '../helpers/app';

let env: ReturnType<typeof useTempDataDir>;

beforeAll(() => {
  env = useTempDataDir();
  getApp();
});
afterAll(async () => {
  await getApp().close();
  env.cleanup();
});

describe('lower items', () => {
  it('?next= after sign-in stays on this site: /\\host, //host, tabs and other schemes fall back to /', () => {
    for (const bad of ['/\\evil.example', '/\\/evil.example', '//evil.example', '/\t/evil.example', 'https://evil.example', 'javascript:alert(1)', '', null]) {
      expect(safeNextPath(bad), String(bad)).toBe('/');
    }
    expect(safeNextPath('/d/abc123?x=1#h')).toBe('/d/abc123?x=1#h');
  });

  it('Origin: null is another site for cookie writes, and sign-out refuses other sites too', async () => {
    const s = await signUp('Origin');
    const cookie = `tandem_session=${s.token}`;
    expectError(await call(docs.POST, { method: 'POST', cookie, origin: 'null', body: { title: 'x' } }), 403);
    expectError(await call(logout.POST, { method: 'POST', cookie, origin: 'null' }), 403);
    expectError(await call(logout.POST, { method: 'POST', cookie, origin: 'https://evil.example' }), 403);
    expect((await call(me.GET, { cookie })).status).toBe(200); // still signed in
    expect((await call(logout.POST, { method: 'POST', cookie, origin: 'http://localhost:3000' })).status).toBe(200);
    expectError(await call(me.GET, { cookie }), 401);
  });

  it('scrypt defaults to N=2^17 (OWASP); hashes keep their parameters, so older cheaper ones still verify', async () => {
    expect(parseAppConfig({}).PASSWORD_SCRYPT_LOG2N).toBeGreaterThanOrEqual(17);
    expect(parseAppConfig({ PASSWORD_SCRYPT_LOG2N: '14' }).PASSWORD_SCRYPT_LOG2N).toBe(14);
    const old = await hashPassword('old password', 15);
    expect(old).toMatch(/^scrypt\$32768\$8\$1\$/);
    expect(await verifyPassword('old password', old)).toBe(true);
    const now = await hashPassword('new password', 17);
    expect(now).toMatch(/^scrypt\$131072\$8\$1\$/);
    expect(await verifyPassword('new password', now)).toBe(true);
  });

  it('tandem.db (and its WAL) is readable by its owner only, also when an older version left it world-readable', () => {
    const file = join(env.dir, 'tandem.db');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(`${file}-wal`).mode & 0o077).toBe(0);
    chmodSync(file, 0o644);
    openDb(file, 'NORMAL').close();
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('no page may be framed: CSP frame-ancestors and X-Frame-Options on every path', async () => {
    const rules = await (nextConfig as { headers(): Promise<{ source: string; headers: { key: string; value: string }[] }[]> }).headers();
    const all = rules.find((r) => r.source === '/:path*')!;
    const h = Object.fromEntries(all.headers.map((x) => [x.key.toLowerCase(), x.value]));
    expect(h['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(h['x-frame-options']).toBe('DENY');
  });

  it('a session idle for SESSION_IDLE_SECONDS ends; the lifetime is at most 14 days by default; sign out everywhere ends every session', async () => {
    const cfg = parseAppConfig({});
    expect(cfg.SESSION_TTL_SECONDS).toBeLessThanOrEqual(14 * 24 * 3600);
    expect(cfg.SESSION_IDLE_SECONDS).toBeLessThanOrEqual(3 * 24 * 3600);
    const s = await signUp('Idle');
    const rw = new Database(join(env.dir, 'tandem.db'));
    rw.prepare('UPDATE sessions SET last_seen_at = ? WHERE user_id = ?').run(Date.now() - cfg.SESSION_IDLE_SECONDS * 1000 - 1000, s.user.id);
    rw.close();
    expectError(await call(me.GET, { token: s.token }), 401);
    const a = await signUp('Everywhere');
    const { login } = { login: await import('../../app/api/auth/login/route') };
    const b = await call(login.POST, { method: 'POST', body: { email: a.email, password: a.password } });
    const out = await call(logout.POST, { method: 'POST', token: a.token, path: '/api/auth/logout?everywhere=1' });
    expect(out.body).toEqual({ ok: true, ended: 2 });
    expectError(await call(me.GET, { token: a.token }), 401);
    expectError(await call(me.GET, { token: b.body.token }), 401);
  });

  it('every authenticated endpoint answers an anonymous request 401, before looking at a bad body, id or query', async () => {
    const bad = { method: 'POST', rawBody: '{not json', params: { id: '../../etc', email: 'not-an-email', connId: '!!' }, path: '/?limit=-5&all=nope' };
    const cases: [string, (o: object) => Promise<{ status: number }>][] = [
      ['GET /api/me', (o) => call(me.GET, o)],
      ['GET /api/docs', (o) => call(docs.GET, o)],
      ['POST /api/docs', (o) => call(docs.POST, o)],
      ['GET /api/docs/:id', (o) => call(doc.GET, o)],
      ['PATCH /api/docs/:id', (o) => call(doc.PATCH, { ...o, method: 'PATCH' })],
      ['DELETE /api/docs/:id', (o) => call(doc.DELETE, { ...o, method: 'DELETE' })],
      ['GET /api/docs/:id/access', (o) => call(access.GET, o)],
      ['PUT grants', (o) => call(grants.PUT, { ...o, method: 'PUT' })],
      ['DELETE grants', (o) => call(grants.DELETE, { ...o, method: 'DELETE' })],
      ['PUT general', (o) => call(general.PUT, { ...o, method: 'PUT' })],
      ['POST token', (o) => call(token.POST, o)],
      ['GET audit', (o) => call(audit.GET, o)],
      ['GET admin sessions', (o) => call(sessions.GET, o)],
      ['DELETE admin session', (o) => call(session.DELETE, { ...o, method: 'DELETE' })],
      ['POST verify/resend', (o) => call(resend.POST, o)],
    ];
    for (const [name, run] of cases) expect((await run(bad)).status, name).toBe(401);
  });
});
