// Accounts over the real route handlers and a real SQLite database: sign-up (the first account is
// the instance admin), sign-in, cookie and bearer sessions, sign-out, and how passwords are stored.
import crypto from 'node:crypto';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import * as signup from '../../app/api/auth/signup/route';
import * as login from '../../app/api/auth/login/route';
import * as logout from '../../app/api/auth/logout/route';
import * as me from '../../app/api/me/route';
import * as docs from '../../app/api/docs/route';
import { hashPassword, verifyPassword } from '../../app/_server/passwords';
import { getApp } from '../../app/_server/context';
import { call, expectError, signUp, useTempDataDir } from '../helpers/app';

let env: ReturnType<typeof useTempDataDir>;
let db: Database.Database;

beforeAll(() => {
  env = useTempDataDir();
  getApp(); // creates tandem.db, so the test can read it alongside
  db = new Database(join(env.dir, 'tandem.db'), { readonly: true });
});
afterAll(async () => {
  db?.close();
  await getApp().close();
  env.cleanup();
});

const cookieOf = (h: Headers) => (h.get('set-cookie') ?? '').split(';')[0]!;

describe('accounts', () => {
  it('no account becomes instance admin by signing up, not even the first', async () => {
    const first = await signUp('Ada', 'ada@example.test');
    const second = await signUp('Bob', 'bob@example.test');
    // Being first no longer makes an admin: that takes the setup token (api-first-admin.test.ts).
    expect(first.user.isAdmin).toBe(false);
    expect(second.user.isAdmin).toBe(false);
    expect(db.prepare('SELECT email, is_admin FROM users ORDER BY created_at, rowid').all()).toEqual([
      { email: 'ada@example.test', is_admin: 0 },
      { email: 'bob@example.test', is_admin: 0 },
    ]);
  });

  it('sign-up sets an httpOnly SameSite session cookie that /api/me accepts', async () => {
    const r = await call(signup.POST, { method: 'POST', body: { email: 'Cleo@Example.TEST ', name: ' Cleo ', password: 'longenough' } });
    expect(r.status).toBe(201);
    expect(r.body.user).toMatchObject({ email: 'cleo@example.test', name: 'Cleo', isAdmin: false });
    const setCookie = r.headers.get('set-cookie')!;
    expect(setCookie).toMatch(/^tandem_session=[\w-]{43};/);
    expect(setCookie).toContain('HttpOnly');
    expect(setCookie).toContain('SameSite=Lax');
    expect(setCookie).toContain('Path=/');
    expect(setCookie).not.toContain('Secure'); // plain http here; https requests get Secure (below)
    const m = await call(me.GET, { cookie: cookieOf(r.headers) });
    expect(m.status).toBe(200);
    expect(m.body.user.email).toBe('cleo@example.test');
    expect(m.headers.get('cache-control')).toBe('no-store');
  });

  it('a request that arrived over https gets a Secure cookie', async () => {
    const r = await call(signup.POST, {
      method: 'POST',
      body: { email: 'https@example.test', name: 'H', password: 'longenough' },
      headers: { 'x-forwarded-proto': 'https' },
    });
    expect(r.headers.get('set-cookie')).toContain('; Secure');
  });

  it('the session token also works as Authorization: Bearer (for scripts)', async () => {
    const s = await signUp('Scripter');
    const m = await call(me.GET, { token: s.token });
    expect(m.status).toBe(200);
    expect(m.body.user.id).toBe(s.user.id);
    // Stored hashed: the database never holds the token itself.
    const rows = db.prepare('SELECT token_hash FROM sessions WHERE user_id = ?').all(s.user.id) as { token_hash: string }[];
    expect(rows).toHaveLength(1);
    expect(rows[0]!.token_hash).toBe(crypto.createHash('sha256').update(s.token).digest('hex'));
  });

  it('login with the right password starts a new session; wrong password or unknown email → 401', async () => {
    const s = await signUp('Dana', 'dana@example.test', 'dana-password');
    const ok = await call(login.POST, { method: 'POST', body: { email: 'DANA@example.test', password: 'dana-password' } });
    expect(ok.status).toBe(200);
    expect(ok.body.user.id).toBe(s.user.id);
    expect(ok.body.token).not.toBe(s.token);
    expect((await call(me.GET, { cookie: cookieOf(ok.headers) })).body.user.id).toBe(s.user.id);
    const wrong = await call(login.POST, { method: 'POST', body: { email: 'dana@example.test', password: 'not-her-password' } });
    expectError(wrong, 401);
    expect(wrong.headers.get('set-cookie')).toBeNull();
    const unknown = await call(login.POST, { method: 'POST', body: { email: 'nobody@example.test', password: 'dana-password' } });
    expectError(unknown, 401);
    // Same answer for both, so the response does not tell whether an account exists.
    expect(unknown.body).toEqual(wrong.body);
  });

  it('after 10 wrong passwords for one email, sign-in for it answers 429 with Retry-After; other emails are unaffected', async () => {
    const s = await signUp('Gil', 'gil@example.test', 'gus-password');
    const other = await signUp('Hal', 'hal.throttle@example.test', 'hal-password');
    // A success in between clears the count.
    for (let i = 0; i < 9; i++) expectError(await call(login.POST, { method: 'POST', body: { email: s.email, password: `guess-${i}` } }), 401);
    expect((await call(login.POST, { method: 'POST', body: { email: s.email, password: 'gus-password' } })).status).toBe(200);
    for (let i = 0; i < 10; i++) expectError(await call(login.POST, { method: 'POST', body: { email: s.email, password: `guess-${i}` } }), 401);
    // Now even the right password waits: a guesser cannot tell a hit from a miss.
    const limited = await call(login.POST, { method: 'POST', body: { email: 'GIL@example.test', password: 'gus-password' } });
    expectError(limited, 429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await call(login.POST, { method: 'POST', body: { email: other.email, password: 'hal-password' } })).status).toBe(200);
  });

  it('200 parallel wrong passwords for one email: exactly 10 are checked (401), the rest answer 429', async () => {
    const s = await signUp('Ivy', 'ivy.parallel@example.test', 'ivy-password');
    const rs = await Promise.all(Array.from({ length: 200 }, (_, i) => call(login.POST, { method: 'POST', body: { email: s.email, password: `guess-${i}` } })));
    expect(rs.filter((r) => r.status === 401)).toHaveLength(10);
    expect(rs.filter((r) => r.status === 429)).toHaveLength(190);
  });

  it('logout ends exactly the presented session and clears the cookie', async () => {
    const s = await signUp('Eve');
    const other = await call(login.POST, { method: 'POST', body: { email: s.email, password: s.password } });
    const out = await call(logout.POST, { method: 'POST', token: s.token });
    expect(out.status).toBe(200);
    expect(out.headers.get('set-cookie')).toMatch(/^tandem_session=; .*Max-Age=0/);
    expectError(await call(me.GET, { token: s.token }), 401);
    expect((await call(me.GET, { token: other.body.token })).status).toBe(200);
    // Signing out again (no or dead session) is harmless.
    expect((await call(logout.POST, { method: 'POST', token: s.token })).status).toBe(200);
    expect((await call(logout.POST, { method: 'POST' })).status).toBe(200);
  });

  it('no session, a made-up token, or an expired session → 401', async () => {
    expectError(await call(me.GET), 401);
    expectError(await call(me.GET, { token: 'x'.repeat(43) }), 401);
    expectError(await call(me.GET, { cookie: 'tandem_session=garbage' }), 401);
    const s = await signUp('Expiring');
    const rw = new Database(join(env.dir, 'tandem.db'));
    rw.prepare('UPDATE sessions SET expires_at = ? WHERE user_id = ?').run(Date.now() - 1, s.user.id);
    rw.close();
    expectError(await call(me.GET, { token: s.token }), 401);
  });

  it('a cookie-authenticated write from another site is refused; same-origin and bearer writes pass', async () => {
    const s = await signUp('Csrf');
    const cookie = `tandem_session=${s.token}`;
    expectError(await call(docs.POST, { method: 'POST', cookie, origin: 'https://evil.example', body: { title: 'x' } }), 403);
    expect((await call(docs.POST, { method: 'POST', cookie, origin: 'http://localhost:3000', body: { title: 'x' } })).status).toBe(201);
    expect((await call(docs.POST, { method: 'POST', token: s.token, origin: 'https://evil.example', body: { title: 'x' } })).status).toBe(201);
  });

  it('bad sign-up and login bodies → 400 naming the field', async () => {
    const good = { email: 'fresh@example.test', name: 'Fresh', password: 'longenough' };
    expectError(await call(signup.POST, { method: 'POST', body: { ...good, email: 'not-an-email' } }), 400, 'email');
    expectError(await call(signup.POST, { method: 'POST', body: { ...good, name: '   ' } }), 400, 'name');
    expectError(await call(signup.POST, { method: 'POST', body: { ...good, password: 'short' } }), 400, 'password');
    expectError(await call(signup.POST, { method: 'POST', body: { ...good, password: 'x'.repeat(201) } }), 400, 'password');
    expectError(await call(signup.POST, { method: 'POST', body: { email: good.email, name: good.name } }), 400, 'password');
    expectError(await call(signup.POST, { method: 'POST', rawBody: '{"email":' }), 400);
    expectError(await call(signup.POST, { method: 'POST', rawBody: JSON.stringify(good), headers: { 'content-type': 'text/plain' } }), 400);
    expectError(await call(signup.POST, { method: 'POST', body: [1, 2] }), 400);
    expectError(await call(signup.POST, { method: 'POST', rawBody: JSON.stringify({ ...good, name: 'x'.repeat(70_000) }) }), 413);
    expectError(await call(login.POST, { method: 'POST', body: { email: 'fresh@example.test' } }), 400, 'password');
    expectError(await call(login.POST, { method: 'POST', body: { password: 'x' } }), 400, 'email');
    // Nothing was created by any of them.
    expect(db.prepare('SELECT COUNT(*) AS n FROM users WHERE email = ?').get('fresh@example.test')).toEqual({ n: 0 });
  });

  it('signing up twice with one email (any case) → 409 on the email field', async () => {
    await signUp('Gus', 'gus@example.test');
    expectError(await call(signup.POST, { method: 'POST', body: { email: 'GUS@example.test', name: 'Gus 2', password: 'longenough' } }), 409, 'email');
  });
});

describe('password storage', () => {
  it('stores an scrypt hash with its parameters and a random salt, never the password', async () => {
    const s = await signUp('Hash', 'hash@example.test', 'my secret words');
    const { password_hash } = db.prepare('SELECT password_hash FROM users WHERE id = ?').get(s.user.id) as { password_hash: string };
    expect(password_hash).toMatch(/^scrypt\$16384\$8\$1\$[\w-]{22}\$[\w-]{43}$/);
    expect(password_hash).not.toContain('my secret words');
    const again = await hashPassword('my secret words', 14);
    expect(again).not.toBe(password_hash); // a fresh salt every time
    expect(await verifyPassword('my secret words', password_hash)).toBe(true);
    expect(await verifyPassword('my secret word', password_hash)).toBe(false);
  });

  it('compares with crypto.timingSafeEqual, and a malformed stored hash simply does not match', async () => {
    const h = await hashPassword('pw-pw-pw-pw', 14);
    const spy = vi.spyOn(crypto, 'timingSafeEqual');
    try {
      expect(await verifyPassword('pw-pw-pw-pw', h)).toBe(true);
      expect(await verifyPassword('wrong-wrong', h)).toBe(false);
      expect(spy).toHaveBeenCalledTimes(2);
    } finally {
      spy.mockRestore();
    }
    for (const bad of ['', 'plain', 'scrypt$16384$8$1$$', 'scrypt$3$8$1$c2FsdA$a2V5', 'scrypt$1099511627776$8$1$c2FsdA$a2V5', 'bcrypt$x$y$z$a$b']) {
      expect(await verifyPassword('pw-pw-pw-pw', bad)).toBe(false);
    }
  });

  it('an unknown email costs a full scrypt check too (no account probing by response time)', async () => {
    const s = await signUp('Timing', 'timing@example.test', 'timing-password');
    const time = async (email: string) => {
      const t0 = performance.now();
      const r = await call(login.POST, { method: 'POST', body: { email, password: 'wrong-password' } });
      expect(r.status).toBe(401);
      return performance.now() - t0;
    };
    await time('warmup@example.test'); // the decoy hash is created on first use
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const known: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 5; i++) {
      known.push(await time(s.email));
      unknown.push(await time(`nobody${i}@example.test`));
    }
    console.log(`login 401 median: known email ${median(known).toFixed(1)} ms, unknown email ${median(unknown).toFixed(1)} ms`);
    expect(median(unknown)).toBeGreaterThan(median(known) * 0.5);
  });
});
