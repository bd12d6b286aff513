// Documents over the real route handlers: create, list (mine and shared with me, with my role and
// last edit, title search), read, rename, delete — and one user can never read or change another's
// document or its access list without a grant.
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as docs from '../../app/api/docs/route';
import * as doc from '../../app/api/docs/[id]/route';
import * as access from '../../app/api/docs/[id]/access/route';
import * as grants from '../../app/api/docs/[id]/access/grants/[email]/route';
import * as general from '../../app/api/docs/[id]/access/general/route';
import * as token from '../../app/api/docs/[id]/token/route';
import { getApp } from '../../app/_server/context';
import { call, expectError, type CallResult, setupAdmin, signUp, useTempDataDir } from '../helpers/app';

let env: ReturnType<typeof useTempDataDir>;
let db: Database.Database;
let admin: Awaited<ReturnType<typeof signUp>>;

beforeAll(async () => {
  env = useTempDataDir();
  admin = await setupAdmin('Admin', 'admin@example.test');
  db = new Database(join(env.dir, 'tandem.db'), { readonly: true });
});
afterAll(async () => {
  db.close();
  await getApp().close();
  env.cleanup();
});

const create = async (tok: string, title: string) => {
  const r = await call(docs.POST, { method: 'POST', token: tok, body: { title } });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body.doc as { id: string; title: string; role: string };
};
const list = async (tok: string, q?: string) => {
  const r = await call(docs.GET, { token: tok, path: q === undefined ? '/api/docs' : `/api/docs?q=${encodeURIComponent(q)}` });
  expect(r.status).toBe(200);
  return r.body.docs as { id: string; title: string; role: string; lastEditAt: number | null; ownerEmail: string }[];
};
const grant = (owner: string, id: string, email: string, role: string) =>
  call(grants.PUT, { method: 'PUT', token: owner, params: { id, email }, body: { role } });

describe('documents', () => {
  it('creating a document makes the caller its owner', async () => {
    const a = await signUp('Ann');
    const r = await call(docs.POST, { method: 'POST', token: a.token, body: { title: '  Plans  ' } });
    expect(r.status).toBe(201);
    expect(r.headers.get('location')).toBe(`/api/docs/${r.body.doc.id}`);
    expect(r.body.doc).toMatchObject({ title: 'Plans', role: 'owner', ownerId: a.user.id, ownerEmail: a.email, generalAccess: null, lastEditAt: null });
    expect(db.prepare('SELECT owner_id, acl_version FROM docs WHERE id = ?').get(r.body.doc.id)).toEqual({ owner_id: a.user.id, acl_version: 1 });
    // The title may be left out.
    expect((await call(docs.POST, { method: 'POST', token: a.token, body: {} })).body.doc.title).toBe('Untitled document');
  });

  it('the list holds my documents and those shared with me, each with my role and last edit; ?q= searches titles', async () => {
    const a = await signUp('Alma');
    const b = await signUp('Bert');
    const mine = await create(a.token, 'Alma roadmap');
    const shared = await create(b.token, 'Bert budget 100%');
    const notShared = await create(b.token, 'Bert diary');
    expect((await grant(b.token, shared.id, a.email, 'editor')).status).toBe(200);
    // collab-server stamps doc_heads.last_edit_at when it stores edits (the app only reads it).
    const rw = new Database(join(env.dir, 'tandem.db'));
    rw.prepare('INSERT INTO doc_heads (doc_id, last_seq, last_edit_at) VALUES (?, 1, ?)').run(shared.id, Date.now() + 60_000);
    rw.close();
    const l = await list(a.token);
    expect(l.map((d) => [d.id, d.role])).toEqual([
      [shared.id, 'editor'],
      [mine.id, 'owner'],
    ]);
    expect(l[0]!.lastEditAt).toBeGreaterThan(Date.now());
    expect(l[0]!.ownerEmail).toBe(b.email);
    expect(l.map((d) => d.id)).not.toContain(notShared.id);
    expect((await list(a.token, 'ROADMAP')).map((d) => d.id)).toEqual([mine.id]);
    expect((await list(a.token, 'budget')).map((d) => d.id)).toEqual([shared.id]);
    // LIKE wildcards are literal characters in a search.
    expect((await list(a.token, '100%')).map((d) => d.id)).toEqual([shared.id]);
    expect((await list(a.token, '%')).map((d) => d.id)).toEqual([shared.id]);
    expect(await list(a.token, '_')).toEqual([]);
  });

  it('general access alone does not put a document in everyone\'s list, but lets them open it', async () => {
    const a = await signUp('Gail');
    const b = await signUp('Gino');
    const d = await create(a.token, 'Public notes');
    expect((await call(general.PUT, { method: 'PUT', token: a.token, params: { id: d.id }, body: { role: 'viewer' } })).status).toBe(200);
    expect((await list(b.token)).map((x) => x.id)).not.toContain(d.id);
    const r = await call(doc.GET, { token: b.token, params: { id: d.id } });
    expect(r.status).toBe(200);
    expect(r.body.doc.role).toBe('viewer');
  });

  it('a document opened through general access (a collab token minted) appears in the visitor\'s list until access is restricted again', async () => {
    const a = await signUp('Gwen');
    const b = await signUp('Gus');
    const c = await signUp('Gil');
    const d = await create(a.token, 'Open handbook');
    const closed = await create(a.token, 'Closed handbook');
    expect((await call(general.PUT, { method: 'PUT', token: a.token, params: { id: d.id }, body: { role: 'editor' } })).status).toBe(200);
    expect((await call(token.POST, { method: 'POST', token: b.token, params: { id: d.id } })).status).toBe(200);
    // A refused token records nothing.
    expectError(await call(token.POST, { method: 'POST', token: b.token, params: { id: closed.id } }), 403);
    expect((await list(b.token)).map((x) => [x.id, x.role])).toEqual([[d.id, 'editor']]);
    expect((await list(b.token, 'handbook')).map((x) => x.id)).toEqual([d.id]);
    expect((await list(c.token)).map((x) => x.id)).not.toContain(d.id);
    // The owner's own token is not a visit (their list is unchanged: owned documents only).
    expect((await call(token.POST, { method: 'POST', token: a.token, params: { id: d.id } })).status).toBe(200);
    expect(db.prepare('SELECT user_id FROM doc_visits WHERE doc_id = ?').all(d.id)).toEqual([{ user_id: b.user.id }]);
    expect((await call(general.PUT, { method: 'PUT', token: a.token, params: { id: d.id }, body: { role: null } })).status).toBe(200);
    expect((await list(b.token)).map((x) => x.id)).not.toContain(d.id);
  });

  it('?sort= orders by title or creation (last edit by default); an unknown sort is a 400 naming the field', async () => {
    const a = await signUp('Sol');
    const z = await create(a.token, 'zebra notes');
    const m = await create(a.token, 'Mango notes');
    const titles = async (sort: string) => {
      const r = await call(docs.GET, { token: a.token, path: `/api/docs?sort=${sort}` });
      expect(r.status).toBe(200);
      return (r.body.docs as { id: string }[]).map((x) => x.id);
    };
    expect(await titles('title')).toEqual([m.id, z.id]);
    expect(db.prepare('SELECT id FROM docs WHERE owner_id = ? ORDER BY created_at DESC, id').all(a.user.id).map((r: any) => r.id)).toEqual(await titles('created'));
    expectError(await call(docs.GET, { token: a.token, path: '/api/docs?sort=size' }), 400, 'sort');
  });

  it('instance admins may list every document with ?all=1; others get 403', async () => {
    const a = await signUp('Hal');
    const d = await create(a.token, 'Hal private');
    const all = await call(docs.GET, { token: admin.token, path: '/api/docs?all=1' });
    expect(all.status).toBe(200);
    expect(all.body.docs.find((x: { id: string }) => x.id === d.id)?.role).toBe('owner');
    expect((await list(admin.token)).map((x) => x.id)).not.toContain(d.id);
    expectError(await call(docs.GET, { token: a.token, path: '/api/docs?all=1' }), 403);
  });

  it('editors rename, viewers may not; the owner deletes', async () => {
    const o = await signUp('Ola');
    const e = await signUp('Eli');
    const v = await signUp('Vic');
    const d = await create(o.token, 'Draft');
    await grant(o.token, d.id, e.email, 'editor');
    await grant(o.token, d.id, v.email, 'viewer');
    const renamed = await call(doc.PATCH, { method: 'PATCH', token: e.token, params: { id: d.id }, body: { title: 'Final' } });
    expect(renamed.status).toBe(200);
    expect(renamed.body.doc).toMatchObject({ title: 'Final', role: 'editor' });
    expectError(await call(doc.PATCH, { method: 'PATCH', token: v.token, params: { id: d.id }, body: { title: 'Hacked' } }), 403);
    expect((await call(doc.GET, { token: v.token, params: { id: d.id } })).body.doc.title).toBe('Final');
    expectError(await call(doc.DELETE, { method: 'DELETE', token: e.token, params: { id: d.id } }), 403);
    expect((await call(doc.DELETE, { method: 'DELETE', token: o.token, params: { id: d.id } })).status).toBe(200);
    expectError(await call(doc.GET, { token: o.token, params: { id: d.id } }), 404);
    expect(await list(e.token)).toEqual([]);
  });

  it('400: bad document id, bad title, bad query — each naming the field', async () => {
    const a = await signUp('Bad');
    const d = await create(a.token, 'x');
    expectError(await call(docs.POST, { method: 'POST', token: a.token, body: { title: '' } }), 400, 'title');
    expectError(await call(docs.POST, { method: 'POST', token: a.token, body: { title: 7 } }), 400, 'title');
    expectError(await call(docs.POST, { method: 'POST', token: a.token, body: { title: 'x'.repeat(201) } }), 400, 'title');
    expectError(await call(docs.GET, { token: a.token, path: `/api/docs?q=${'x'.repeat(201)}` }), 400, 'q');
    expectError(await call(docs.GET, { token: a.token, path: '/api/docs?all=yes' }), 400, 'all');
    expectError(await call(doc.GET, { token: a.token, params: { id: 'not a valid id!' } }), 400, 'id');
    expectError(await call(doc.PATCH, { method: 'PATCH', token: a.token, params: { id: d.id }, body: { title: '   ' } }), 400, 'title');
    expectError(await call(doc.PATCH, { method: 'PATCH', token: a.token, params: { id: d.id }, body: {} }), 400, 'title');
    expectError(await call(doc.DELETE, { method: 'DELETE', token: a.token, params: { id: 'x'.repeat(65) } }), 400, 'id');
  });

  it('401 on every document endpoint without a session', async () => {
    const a = await signUp('NoSession');
    const d = await create(a.token, 'x');
    expectError(await call(docs.GET), 401);
    expectError(await call(docs.POST, { method: 'POST', body: { title: 'x' } }), 401);
    expectError(await call(doc.GET, { params: { id: d.id } }), 401);
    expectError(await call(doc.PATCH, { method: 'PATCH', params: { id: d.id }, body: { title: 'y' } }), 401);
    expectError(await call(doc.DELETE, { method: 'DELETE', params: { id: d.id } }), 401);
    expect(db.prepare('SELECT title FROM docs WHERE id = ?').get(d.id)).toEqual({ title: 'x' });
  });

  it('404 for a document that does not exist, on every document endpoint', async () => {
    const a = await signUp('Lost');
    const id = 'no-such-document';
    expectError(await call(doc.GET, { token: a.token, params: { id } }), 404);
    expectError(await call(doc.PATCH, { method: 'PATCH', token: a.token, params: { id }, body: { title: 'y' } }), 404);
    expectError(await call(doc.DELETE, { method: 'DELETE', token: a.token, params: { id } }), 404);
    expectError(await call(access.GET, { token: a.token, params: { id } }), 404);
    expectError(await call(grants.PUT, { method: 'PUT', token: a.token, params: { id, email: a.email }, body: { role: 'viewer' } }), 404);
    expectError(await call(grants.DELETE, { method: 'DELETE', token: a.token, params: { id, email: a.email } }), 404);
    expectError(await call(general.PUT, { method: 'PUT', token: a.token, params: { id }, body: { role: null } }), 404);
    expectError(await call(token.POST, { method: 'POST', token: a.token, params: { id } }), 404);
  });
});

describe('one user can never read or change another\'s document or its access list without a grant', () => {
  // Expected status per caller role, for each endpoint. Denied calls must also change nothing.
  type Who = 'stranger' | 'viewer' | 'editor' | 'owner' | 'admin';
  const matrix: { name: string; allowed: Who[]; mutates: boolean; run: (tok: string, id: string, target: string) => Promise<CallResult> }[] = [
    { name: 'GET /api/docs/:id', allowed: ['viewer', 'editor', 'owner', 'admin'], mutates: false, run: (t, id) => call(doc.GET, { token: t, params: { id } }) },
    { name: 'POST /api/docs/:id/token', allowed: ['viewer', 'editor', 'owner', 'admin'], mutates: false, run: (t, id) => call(token.POST, { method: 'POST', token: t, params: { id } }) },
    { name: 'GET /api/docs/:id/access', allowed: ['editor', 'owner', 'admin'], mutates: false, run: (t, id) => call(access.GET, { token: t, params: { id } }) },
    { name: 'PATCH /api/docs/:id', allowed: ['editor', 'owner', 'admin'], mutates: true, run: (t, id) => call(doc.PATCH, { method: 'PATCH', token: t, params: { id }, body: { title: 'changed' } }) },
    {
      name: 'PUT /api/docs/:id/access/grants/:email',
      allowed: ['owner', 'admin'],
      mutates: true,
      run: (t, id, email) => call(grants.PUT, { method: 'PUT', token: t, params: { id, email }, body: { role: 'editor' } }),
    },
    { name: 'DELETE /api/docs/:id/access/grants/:email', allowed: ['owner', 'admin'], mutates: true, run: (t, id, email) => call(grants.DELETE, { method: 'DELETE', token: t, params: { id, email } }) },
    { name: 'PUT /api/docs/:id/access/general', allowed: ['owner', 'admin'], mutates: true, run: (t, id) => call(general.PUT, { method: 'PUT', token: t, params: { id }, body: { role: 'editor' } }) },
    { name: 'DELETE /api/docs/:id', allowed: ['owner', 'admin'], mutates: true, run: (t, id) => call(doc.DELETE, { method: 'DELETE', token: t, params: { id } }) },
  ];
  const whos: Who[] = ['stranger', 'viewer', 'editor', 'owner', 'admin'];

  /** A fresh document with an owner, a viewer, an editor, a stranger, and a third user holding a viewer grant. */
  async function setup() {
    const owner = await signUp();
    const viewer = await signUp();
    const editor = await signUp();
    const stranger = await signUp();
    const target = await signUp();
    const d = await create(owner.token, 'Secret plans');
    await grant(owner.token, d.id, viewer.email, 'viewer');
    await grant(owner.token, d.id, editor.email, 'editor');
    await grant(owner.token, d.id, target.email, 'viewer');
    const tokens: Record<Who, string> = { stranger: stranger.token, viewer: viewer.token, editor: editor.token, owner: owner.token, admin: admin.token };
    return { id: d.id, tokens, target: target.email, stranger };
  }
  const snapshot = (id: string) => ({
    doc: db.prepare('SELECT * FROM docs WHERE id = ?').get(id),
    grants: db.prepare('SELECT * FROM grants WHERE doc_id = ? ORDER BY user_id').all(id),
    feed: db.prepare('SELECT * FROM acl_changes WHERE doc_id = ?').all(id),
  });

  for (const ep of matrix) {
    it(`${ep.name}: ${ep.allowed.join(', ')} may; the others get 403 and change nothing`, async () => {
      const shared = await setup();
      for (const who of whos) {
        // Denied calls change nothing (asserted), so they can share one document.
        const s = ep.mutates && ep.allowed.includes(who) ? await setup() : shared;
        const before = snapshot(s.id);
        const r = await ep.run(s.tokens[who], s.id, s.target);
        if (ep.allowed.includes(who)) {
          expect(r.status, `${who}: ${JSON.stringify(r.body)}`).toBe(200);
        } else {
          expectError(r, 403);
          expect(snapshot(s.id), `${who} changed something`).toEqual(before);
        }
      }
    });
  }

  it('a stranger cannot grant themselves access, and never sees the document in lists or searches', async () => {
    const s = await setup();
    const self = await call(grants.PUT, { method: 'PUT', token: s.stranger.token, params: { id: s.id, email: s.stranger.email }, body: { role: 'editor' } });
    expectError(self, 403);
    expectError(await call(general.PUT, { method: 'PUT', token: s.stranger.token, params: { id: s.id }, body: { role: 'editor' } }), 403);
    expect(await list(s.stranger.token, 'Secret')).toEqual([]);
    expectError(await call(doc.GET, { token: s.stranger.token, params: { id: s.id } }), 403);
    // The refusal does not leak the title or the access list.
    expect(JSON.stringify(self.body)).not.toMatch(/Secret|@example/);
  });
});
