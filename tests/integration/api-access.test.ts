// Access lists over the real route handlers: every change (grant put/delete, general access, doc
// delete) is one transaction that bumps docs.acl_version, appends the acl_changes row collab-server
// tails and writes the audit row; collab tokens; the admin audit log; the JWKS.
import Database from 'better-sqlite3';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { createLocalJWKSet } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as docs from '../../app/api/docs/route';
import * as doc from '../../app/api/docs/[id]/route';
import * as access from '../../app/api/docs/[id]/access/route';
import * as grants from '../../app/api/docs/[id]/access/grants/[email]/route';
import * as general from '../../app/api/docs/[id]/access/general/route';
import * as token from '../../app/api/docs/[id]/token/route';
import * as audit from '../../app/api/admin/audit/route';
import * as jwks from '../../app/.well-known/jwks.json/route';
import { getApp } from '../../app/_server/context';
import { importPublicKey, readPublicKeyFile } from '../../lib/keys';
import { verifyCollabToken } from '../../lib/token';
import { call, expectError, type CallResult, setupAdmin, signUp, useTempDataDir } from '../helpers/app';

let env: ReturnType<typeof useTempDataDir>;
let db: Database.Database;
let admin: Awaited<ReturnType<typeof setupAdmin>>;

beforeAll(async () => {
  // A non-default lifetime, to see COLLAB_TOKEN_TTL_SECONDS honoured.
  env = useTempDataDir({ COLLAB_TOKEN_TTL_SECONDS: '120' });
  admin = await setupAdmin('Admin', 'admin@example.test');
  db = new Database(join(env.dir, 'tandem.db'));
});
afterAll(async () => {
  db.close();
  await getApp().close();
  env.cleanup();
});

const create = async (tok: string, title = 'Doc') => {
  const r = await call(docs.POST, { method: 'POST', token: tok, body: { title } });
  expect(r.status).toBe(201);
  return r.body.doc.id as string;
};
const putGrant = (tok: string, id: string, email: string, role: unknown) => call(grants.PUT, { method: 'PUT', token: tok, params: { id, email }, body: { role } });
const delGrant = (tok: string, id: string, email: string) => call(grants.DELETE, { method: 'DELETE', token: tok, params: { id, email } });
const putGeneral = (tok: string, id: string, role: unknown) => call(general.PUT, { method: 'PUT', token: tok, params: { id }, body: { role } });

const version = (id: string) => (db.prepare('SELECT acl_version FROM docs WHERE id = ?').get(id) as { acl_version: number } | undefined)?.acl_version;
const feed = (id: string) => db.prepare('SELECT doc_id, version, at FROM acl_changes WHERE doc_id = ? ORDER BY seq').all(id) as { doc_id: string; version: number; at: number }[];
const audits = (id: string) =>
  (db.prepare('SELECT at, actor_id, action, doc_id, target, detail FROM audit WHERE doc_id = ? ORDER BY id').all(id) as { at: number; actor_id: string; action: string; doc_id: string; target: string | null; detail: string }[]).map(
    (r) => ({ ...r, detail: JSON.parse(r.detail) }),
  );

describe('access list', () => {
  it('GET returns {version, generalAccess, grants: [{userId, email, name, role}]}', async () => {
    const o = await signUp('Owner');
    const b = await signUp('Bea', 'bea@example.test');
    const id = await create(o.token);
    await putGrant(o.token, id, 'BEA@example.test', 'viewer');
    const r = await call(access.GET, { token: o.token, params: { id } });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      version: 2,
      generalAccess: null,
      owner: { userId: o.user.id, email: o.email, name: 'Owner' },
      grants: [{ userId: b.user.id, email: 'bea@example.test', name: 'Bea', role: 'viewer' }],
      invitations: [],
    });
  });

  it('each change bumps the version once and writes exactly one acl_changes row and one audit row, in step', async () => {
    const o = await signUp('Olga');
    const u = await signUp('Uma');
    const id = await create(o.token);
    expect(version(id)).toBe(1);
    expect(feed(id)).toEqual([]);

    const t0 = Date.now();
    const steps: [() => Promise<CallResult>, string, string | null, unknown][] = [
      [() => putGrant(o.token, id, u.email, 'viewer'), 'access.grant', u.email, { oldRole: null, newRole: 'viewer' }],
      [() => putGrant(o.token, id, encodeURIComponent(u.email), 'editor'), 'access.grant', u.email, { oldRole: 'viewer', newRole: 'editor' }],
      [() => putGeneral(o.token, id, 'viewer'), 'access.general', null, { oldRole: null, newRole: 'viewer' }],
      [() => putGeneral(o.token, id, null), 'access.general', null, { oldRole: 'viewer', newRole: null }],
      [() => delGrant(o.token, id, u.email), 'access.revoke', u.email, { oldRole: 'editor', newRole: null }],
    ];
    for (const [i, [run, action, target, detail]] of steps.entries()) {
      const r = await run();
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      const v = i + 2;
      expect(r.body.version).toBe(v);
      expect(version(id)).toBe(v);
      const f = feed(id);
      expect(f).toHaveLength(i + 1);
      expect(f[i]).toMatchObject({ doc_id: id, version: v });
      expect(f[i]!.at).toBeGreaterThanOrEqual(t0);
      const a = audits(id);
      expect(a).toHaveLength(i + 1);
      expect(a[i]).toEqual({ at: f[i]!.at, actor_id: o.user.id, action, doc_id: id, target, detail });
    }
    expect((await call(access.GET, { token: o.token, params: { id } })).body).toMatchObject({ version: 6, generalAccess: null, grants: [] });
  });

  it('a change that changes nothing (same role again) bumps nothing and writes no rows', async () => {
    const o = await signUp();
    const u = await signUp();
    const id = await create(o.token);
    await putGrant(o.token, id, u.email, 'editor');
    await putGeneral(o.token, id, 'viewer');
    const before = [version(id), feed(id).length, audits(id).length];
    expect((await putGrant(o.token, id, u.email, 'editor')).status).toBe(200);
    expect((await putGeneral(o.token, id, 'viewer')).status).toBe(200);
    expect([version(id), feed(id).length, audits(id).length]).toEqual(before);
  });

  it('the change, the version bump, the feed row and the audit row commit together or not at all', async () => {
    const o = await signUp();
    const u = await signUp('Boom', 'boom@example.test');
    const id = await create(o.token);
    // Make the audit insert (the last statement of the transaction) fail for this one target.
    db.exec(`CREATE TRIGGER fail_audit BEFORE INSERT ON audit WHEN NEW.target = 'boom@example.test' BEGIN SELECT RAISE(ABORT, 'audit unavailable'); END`);
    try {
      const r = await putGrant(o.token, id, u.email, 'editor');
      expectError(r, 500);
      expect(r.body.message).toBe('internal error'); // no SQL details leak to the client
    } finally {
      db.exec('DROP TRIGGER fail_audit');
    }
    expect(version(id)).toBe(1);
    expect(feed(id)).toEqual([]);
    expect(db.prepare('SELECT * FROM grants WHERE doc_id = ?').all(id)).toEqual([]);
    expect((await putGrant(o.token, id, u.email, 'editor')).status).toBe(200);
    expect(feed(id)).toHaveLength(1);
  });

  it('deleting a document removes it and its grants, feeds version+1 with deleted = 1 and a doc.delete audit row, and leaves its content to collab-server', async () => {
    const o = await signUp();
    const u = await signUp();
    const id = await create(o.token, 'Doomed');
    await putGrant(o.token, id, u.email, 'editor');
    db.prepare('INSERT INTO doc_updates (doc_id, seq, data) VALUES (?, 1, ?)').run(id, Buffer.from([0, 0]));
    db.prepare('INSERT INTO doc_snapshots (doc_id, upto_seq, data, updated_at) VALUES (?, 1, ?, 0)').run(id, Buffer.from([0, 0]));
    const r = await call(doc.DELETE, { method: 'DELETE', token: o.token, params: { id } });
    expect(r.status).toBe(200);
    for (const t of ['docs WHERE id', 'grants WHERE doc_id']) {
      expect(db.prepare(`SELECT COUNT(*) AS n FROM ${t} = ?`).get(id), t).toEqual({ n: 0 });
    }
    // The update log and snapshot are collab-server's: it purges them when it reads the deleted = 1 row.
    for (const t of ['doc_updates WHERE doc_id', 'doc_snapshots WHERE doc_id']) {
      expect(db.prepare(`SELECT COUNT(*) AS n FROM ${t} = ?`).get(id), t).toEqual({ n: 1 });
    }
    const f = db.prepare('SELECT version, deleted FROM acl_changes WHERE doc_id = ? ORDER BY seq').all(id);
    expect(f).toEqual([
      { version: 2, deleted: 0 },
      { version: 3, deleted: 1 },
    ]);
    expect(audits(id).at(-1)).toMatchObject({ actor_id: o.user.id, action: 'doc.delete', target: null, detail: { title: 'Doomed' } });
  });

  it('400s name the field: bad role, the owner as grantee, a bad email, a bad id', async () => {
    const o = await signUp();
    const u = await signUp();
    const id = await create(o.token);
    expectError(await putGrant(o.token, id, u.email, 'owner'), 400, 'role');
    expectError(await putGrant(o.token, id, u.email, undefined), 400, 'role');
    expectError(await call(grants.PUT, { method: 'PUT', token: o.token, params: { id, email: u.email } }), 400);
    expectError(await putGrant(o.token, id, 'not-an-email', 'viewer'), 400, 'email');
    expectError(await putGrant(o.token, id, o.email, 'viewer'), 400, 'email');
    expectError(await delGrant(o.token, id, 'nope'), 400, 'email');
    expectError(await putGrant(o.token, 'bad id', u.email, 'viewer'), 400, 'id');
    expectError(await putGeneral(o.token, id, 'owner'), 400, 'role');
    expectError(await putGeneral(o.token, id, undefined), 400, 'role');
    expectError(await call(access.GET, { token: o.token, params: { id: '../etc' } }), 400, 'id');
    expectError(await call(token.POST, { method: 'POST', token: o.token, params: { id: '' } }), 400, 'id');
    expect(version(id)).toBe(1);
  });

  it('401 without a session on every access endpoint', async () => {
    const o = await signUp();
    const u = await signUp();
    const id = await create(o.token);
    expectError(await call(access.GET, { params: { id } }), 401);
    expectError(await putGrant('', id, u.email, 'viewer'), 401);
    expectError(await delGrant('', id, u.email), 401);
    expectError(await putGeneral('', id, 'viewer'), 401);
    expectError(await call(token.POST, { method: 'POST', params: { id } }), 401);
    expect(version(id)).toBe(1);
  });

  it('sharing with an address that has no account answers 200 with an invitation, like any share (no 404 that tells accounts apart); deleting what is not there is 404', async () => {
    const o = await signUp();
    const u = await signUp();
    const id = await create(o.token);
    const r = await putGrant(o.token, id, 'ghost@example.test', 'viewer');
    expect(r.status).toBe(200);
    expect(r.body.invitations).toEqual([{ email: 'ghost@example.test', role: 'viewer', createdAt: expect.any(Number) }]);
    // An invitation grants nothing: no version bump, no feed row for collab-server.
    expect(version(id)).toBe(1);
    expect(feed(id)).toEqual([]);
    expect((await delGrant(o.token, id, 'ghost@example.test')).body.invitations).toEqual([]);
    expectError(await delGrant(o.token, id, 'ghost@example.test'), 404, 'email');
    expectError(await delGrant(o.token, id, u.email), 404, 'email');
    expect(version(id)).toBe(1);
  });
});

describe('collab tokens', () => {
  it('POST /token mints an EdDSA token for (me, doc) that verifies with the key in <DATA_DIR>/keys', async () => {
    const o = await signUp('Tess');
    const id = await create(o.token);
    const r = await call(token.POST, { method: 'POST', token: o.token, params: { id }, path: `/api/docs/${id}/token` });
    expect(r.status).toBe(200);
    expect(r.body.url).toBe('ws://localhost:1234');
    expect(r.body.role).toBe('owner');
    const claims = await verifyCollabToken(r.body.token, await importPublicKey(readPublicKeyFile(join(env.dir, 'keys'))));
    expect(claims).toMatchObject({ sub: o.user.id, doc: id, name: 'Tess' });
    expect(r.body.expiresAt).toBe(claims.exp * 1000);
    // COLLAB_TOKEN_TTL_SECONDS=120 in this file.
    expect(r.body.expiresAt - Date.now()).toBeGreaterThan(110_000);
    expect(r.body.expiresAt - Date.now()).toBeLessThanOrEqual(120_000);
    expect(statSync(join(env.dir, 'keys', 'collab-token.key')).mode & 0o777).toBe(0o600);
  });

  it('the WebSocket URL follows the host the request came in on', async () => {
    const o = await signUp();
    const id = await create(o.token);
    const r = await call(token.POST, { method: 'POST', token: o.token, params: { id }, headers: { host: 'tandem.example:3000' } });
    expect(r.body.url).toBe('ws://tandem.example:1234');
  });

  it('a viewer gets a token too (collab-server makes the socket read-only) with role viewer', async () => {
    const o = await signUp();
    const v = await signUp();
    const id = await create(o.token);
    await putGrant(o.token, id, v.email, 'viewer');
    const r = await call(token.POST, { method: 'POST', token: v.token, params: { id } });
    expect(r.status).toBe(200);
    expect(r.body.role).toBe('viewer');
  });

  it('GET /.well-known/jwks.json publishes the public key the tokens verify with', async () => {
    const o = await signUp();
    const id = await create(o.token);
    const r = await call(jwks.GET);
    expect(r.status).toBe(200);
    expect(r.headers.get('cache-control')).toContain('max-age');
    expect(r.body.keys).toHaveLength(1);
    expect(r.body.keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' });
    expect(r.body.keys[0].d).toBeUndefined();
    const t = await call(token.POST, { method: 'POST', token: o.token, params: { id } });
    const claims = await verifyCollabToken(t.body.token, createLocalJWKSet(r.body));
    expect(claims.doc).toBe(id);
  });
});

describe('admin audit log', () => {
  it('lists permission changes and refused writes newest first, filtered by action, docId and limit', async () => {
    const o = await signUp();
    const u = await signUp();
    const id = await create(o.token);
    await putGrant(o.token, id, u.email, 'viewer');
    await putGeneral(o.token, id, 'viewer');
    // What collab-server writes when it drops a viewer's update (collab-server/audit.ts, same table).
    db.prepare('INSERT INTO audit (at, actor_id, action, doc_id, target, detail) VALUES (?, ?, ?, ?, NULL, ?)').run(
      Date.now(),
      u.user.id,
      'write.refused',
      id,
      JSON.stringify({ reason: 'read-only: you are a viewer of this document' }),
    );
    const r = await call(audit.GET, { token: admin.token, path: `/api/admin/audit?docId=${id}` });
    expect(r.status).toBe(200);
    expect(r.body.entries.map((e: { action: string }) => e.action)).toEqual(['write.refused', 'access.general', 'access.grant']);
    expect(r.body.entries[2]).toMatchObject({ actorId: o.user.id, actorEmail: o.email, docId: id, target: u.email, detail: { oldRole: null, newRole: 'viewer' } });
    expect(r.body.entries[0]).toMatchObject({ actorId: u.user.id, detail: { reason: expect.stringContaining('viewer') } });
    const refused = await call(audit.GET, { token: admin.token, path: `/api/admin/audit?action=write.refused&docId=${id}` });
    expect(refused.body.entries).toHaveLength(1);
    const page = await call(audit.GET, { token: admin.token, path: `/api/admin/audit?docId=${id}&limit=2` });
    expect(page.body.entries).toHaveLength(2);
    const next = await call(audit.GET, { token: admin.token, path: `/api/admin/audit?docId=${id}&limit=2&before=${page.body.nextBefore}` });
    expect(next.body.entries.map((e: { action: string }) => e.action)).toEqual(['access.grant']);
  });

  it('401 without a session, 403 for non-admins, 400 for bad filters', async () => {
    const u = await signUp();
    expectError(await call(audit.GET), 401);
    expectError(await call(audit.GET, { token: u.token }), 403);
    expectError(await call(audit.GET, { token: admin.token, path: '/api/admin/audit?limit=abc' }), 400, 'limit');
    expectError(await call(audit.GET, { token: admin.token, path: '/api/admin/audit?limit=0' }), 400, 'limit');
    expectError(await call(audit.GET, { token: admin.token, path: '/api/admin/audit?limit=5000' }), 400, 'limit');
    expectError(await call(audit.GET, { token: admin.token, path: '/api/admin/audit?docId=a%20b' }), 400, 'docId');
  });
});
