// Issue 11, item 7, over the real route handlers, a real SQLite database and real SMTP (a sink on
// port 0): a fresh instance has no admin until the one-time setup token is used; sign-up with
// EMAIL_VERIFICATION=required creates nothing until the mailed link is followed; a share to an
// address that is not verified waits as an invitation and becomes a grant on verification.
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as signup from '../../app/api/auth/signup/route';
import * as login from '../../app/api/auth/login/route';
import * as setup from '../../app/api/auth/setup/route';
import * as verify from '../../app/api/auth/verify/route';
import * as resend from '../../app/api/auth/verify/resend/route';
import * as docs from '../../app/api/docs/route';
import * as access from '../../app/api/docs/[id]/access/route';
import * as grants from '../../app/api/docs/[id]/access/grants/[email]/route';
import { getApp } from '../../app/_server/context';
import { hashPassword } from '../../app/_server/passwords';
import { call, expectError, useTempDataDir } from '../helpers/app';
import { linkToken, startSmtpSink, type SmtpSink } from '../helpers/smtp';
import { waitFor } from '../helpers/wait';

let env: ReturnType<typeof useTempDataDir>;
let smtp: SmtpSink;
let db: Database.Database;

beforeAll(async () => {
  smtp = await startSmtpSink();
  // The defaults under test: verification required, and no SETUP_TOKEN (one is generated).
  env = useTempDataDir({ EMAIL_VERIFICATION: 'required', SMTP_URL: smtp.url, SETUP_TOKEN: '', LOG_LEVEL: 'error' });
  getApp();
  db = new Database(join(env.dir, 'tandem.db'), { readonly: true });
});
afterAll(async () => {
  db?.close();
  await getApp().close();
  await smtp.close();
  env.cleanup();
});

const mailTo = async (email: string, n = 1) => {
  await waitFor(() => smtp.mails.filter((m) => m.to.includes(email)).length >= n, { what: `mail ${n} to ${email}` });
  return smtp.mails.filter((m) => m.to.includes(email))[n - 1]!;
};
const signUpBody = (email: string, name = 'Someone', password = 'a good long password') => ({ email, name, password });

/** An account made through the mailed link, signed in. */
async function verifiedAccount(email: string, name: string) {
  const before = smtp.mails.filter((m) => m.to.includes(email)).length;
  expect((await call(signup.POST, { method: 'POST', body: signUpBody(email, name) })).status).toBe(202);
  const token = linkToken(await mailTo(email, before + 1))!;
  const r = await call(verify.POST, { method: 'POST', body: { token } });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body as { token: string; user: { id: string; emailVerified: boolean }; invitationsApplied: number };
}

describe('the first admin', () => {
  it('a fresh instance has no admin; signing up first does not make one; only the setup token does, once', async () => {
    expect((await call(setup.GET)).body).toEqual({ needed: true });
    const early = await verifiedAccount('early@example.test', 'Early Bird');
    expect(db.prepare('SELECT COUNT(*) AS n FROM users WHERE is_admin = 1').get()).toEqual({ n: 0 });
    expect((await call(setup.GET)).body).toEqual({ needed: true });
    void early;
    // The generated token is kept in the database (every instance prints and accepts the same one).
    await getApp().announceSetup();
    const stored = (db.prepare("SELECT value FROM app_settings WHERE name = 'setup_token'").get() as { value: string }).value;
    expect(stored).toMatch(/^[A-Za-z0-9_-]{32}$/);
    const body = { email: 'root@example.test', name: 'Root', password: 'root password long' };
    expectError(await call(setup.POST, { method: 'POST', body: { ...body, setupToken: 'guess-guess-guess' } }), 403, 'setupToken');
    expect(db.prepare('SELECT COUNT(*) AS n FROM users WHERE is_admin = 1').get()).toEqual({ n: 0 });
    const ok = await call(setup.POST, { method: 'POST', body: { ...body, setupToken: stored } });
    expect(ok.status, JSON.stringify(ok.body)).toBe(201);
    expect(ok.body.user).toMatchObject({ email: 'root@example.test', isAdmin: true, emailVerified: true });
    expect(ok.headers.get('set-cookie')).toMatch(/^tandem_session=/);
    // Used up: the same token (or any) cannot make a second admin.
    expectError(await call(setup.POST, { method: 'POST', body: { ...body, email: 'root2@example.test', setupToken: stored } }), 403);
    expect((await call(setup.GET)).body).toEqual({ needed: false });
    expect(db.prepare("SELECT COUNT(*) AS n FROM app_settings WHERE name = 'setup_token'").get()).toEqual({ n: 0 });
    expect(db.prepare('SELECT email FROM users WHERE is_admin = 1').all()).toEqual([{ email: 'root@example.test' }]);
  });
});

describe('email verification (EMAIL_VERIFICATION=required)', () => {
  it('sign-up creates no account and mails a link; following it creates the verified account and signs in; the link works once', async () => {
    const email = 'newcomer@example.test';
    const r = await call(signup.POST, { method: 'POST', body: signUpBody(email, 'Newcomer', 'newcomer password') });
    expect(r.status).toBe(202);
    expect(r.body).toEqual({ verification: 'sent', email });
    expect(r.headers.get('set-cookie')).toBeNull();
    expect(db.prepare('SELECT COUNT(*) AS n FROM users WHERE email = ?').get(email)).toEqual({ n: 0 });
    expectError(await call(login.POST, { method: 'POST', body: { email, password: 'newcomer password' } }), 401);
    const token = linkToken(await mailTo(email))!;
    expect(token).toBeTruthy();
    const v = await call(verify.POST, { method: 'POST', body: { token } });
    expect(v.status).toBe(200);
    expect(v.body.user).toMatchObject({ email, name: 'Newcomer', emailVerified: true, isAdmin: false });
    expect((await call(login.POST, { method: 'POST', body: { email, password: 'newcomer password' } })).status).toBe(200);
    expectError(await call(verify.POST, { method: 'POST', body: { token } }), 400, 'token');
  });

  it('signing up with a taken address answers exactly like a new one (no enumeration) and changes nothing', async () => {
    await verifiedAccount('taken@example.test', 'Taken');
    const before = db.prepare('SELECT * FROM users WHERE email = ?').get('taken@example.test');
    const taken = await call(signup.POST, { method: 'POST', body: signUpBody('taken@example.test', 'Squatter', 'squatter password') });
    const fresh = await call(signup.POST, { method: 'POST', body: signUpBody('untaken@example.test', 'Fresh') });
    expect([taken.status, fresh.status]).toEqual([202, 202]);
    expect(Object.keys(taken.body)).toEqual(Object.keys(fresh.body));
    expect(taken.body.verification).toBe(fresh.body.verification);
    // The owner is told, with no link that would change the account.
    const mail = await mailTo('taken@example.test', 2);
    expect(linkToken(mail)).toBeNull();
    expect(mail.data).toMatch(/already has one/);
    expect(db.prepare('SELECT * FROM users WHERE email = ?').get('taken@example.test')).toEqual(before);
  });

  it('an unverified address receives no grant: the share waits as an invitation and applies when the address is verified', async () => {
    const owner = await verifiedAccount('owner@example.test', 'Owner');
    const docId = (await call(docs.POST, { method: 'POST', token: owner.token, body: { title: 'Board minutes' } })).body.doc.id as string;
    // boss@ has no account yet; someone claims it by signing up (pending) — and the owner shares with it.
    await call(signup.POST, { method: 'POST', body: signUpBody('boss@company.test', 'Not The Boss', 'attacker password') });
    const shared = await call(grants.PUT, { method: 'PUT', token: owner.token, params: { id: docId, email: 'boss@company.test' }, body: { role: 'editor' } });
    expect(shared.status).toBe(200);
    expect(shared.body.grants).toEqual([]);
    expect(shared.body.invitations).toEqual([{ email: 'boss@company.test', role: 'editor', createdAt: expect.any(Number) }]);
    expect(db.prepare('SELECT COUNT(*) AS n FROM grants WHERE doc_id = ?').get(docId)).toEqual({ n: 0 });
    expect(db.prepare('SELECT COUNT(*) AS n FROM acl_changes WHERE doc_id = ?').get(docId)).toEqual({ n: 0 });
    // A legacy account that never verified (made before verification existed) gets no grant either.
    const legacy = await getApp().users.create('legacy@example.test', 'Legacy', await hashPassword('legacy password', 14));
    const l = await call(grants.PUT, { method: 'PUT', token: owner.token, params: { id: docId, email: 'legacy@example.test' }, body: { role: 'viewer' } });
    expect(l.body.grants).toEqual([]);
    expect(l.body.invitations.map((i: { email: string }) => i.email)).toEqual(['boss@company.test', 'legacy@example.test']);
    // The real boss follows the link that reached the real mailbox: now, and only now, the grant.
    const mails = smtp.mails.filter((m) => m.to.includes('boss@company.test'));
    const boss = await call(verify.POST, { method: 'POST', body: { token: linkToken(mails.at(-1)!)! } });
    expect(boss.status).toBe(200);
    expect(boss.body.invitationsApplied).toBe(1);
    const list = await call(docs.GET, { token: boss.body.token });
    expect(list.body.docs.map((d: { id: string; role: string }) => [d.id, d.role])).toEqual([[docId, 'editor']]);
    const view = await call(access.GET, { token: owner.token, params: { id: docId } });
    expect(view.body.grants.map((g: { email: string }) => g.email)).toEqual(['boss@company.test']);
    expect(db.prepare('SELECT COUNT(*) AS n FROM acl_changes WHERE doc_id = ?').get(docId)).toEqual({ n: 1 });
    // The legacy account verifies through a link it asks for while signed in.
    const session = await call(login.POST, { method: 'POST', body: { email: 'legacy@example.test', password: 'legacy password' } });
    expect((await call(resend.POST, { method: 'POST', token: session.body.token })).status).toBe(202);
    const lv = await call(verify.POST, { method: 'POST', body: { token: linkToken(await mailTo('legacy@example.test'))! } });
    expect(lv.body.invitationsApplied).toBe(1);
    expect(lv.body.user.id).toBe(legacy.id);
    expect((await call(docs.GET, { token: lv.body.token })).body.docs.map((d: { id: string }) => d.id)).toEqual([docId]);
  });
});
