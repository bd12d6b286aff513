/**
 * The version-history behaviours, written once and run on each engine (tests/integration/
 * versions.test.ts on SQLite, versions-postgres.test.ts on PostgreSQL + Redis with two
 * collab-server instances): the app's real route handlers, real collab-servers with the version
 * capture, stock y-websocket providers.
 */
import { expect, it } from 'vitest';
import * as Y from 'yjs';
import type { WebsocketProvider } from 'y-websocket';
import { getSchema } from '@tiptap/core';
import { prosemirrorJSONToYXmlFragment, yXmlFragmentToProsemirrorJSON, ySyncPluginKey } from '@tiptap/y-tiptap';
import * as docsRoute from '../../app/api/docs/route';
import * as grantsRoute from '../../app/api/docs/[id]/access/grants/[email]/route';
import * as versionsRoute from '../../app/api/docs/[id]/versions/route';
import * as versionRoute from '../../app/api/docs/[id]/versions/[vid]/route';
import * as diffRoute from '../../app/api/docs/[id]/versions/[vid]/diff/route';
import * as restoreRoute from '../../app/api/docs/[id]/versions/[vid]/restore/route';
import * as auditRoute from '../../app/api/admin/audit/route';
import { contentExtensions } from '../../lib/editor-extensions';
import { CONTENT_FIELD, fragmentText, replaceFragment } from '../../lib/versions';
import type { VersionView } from '../../lib/version-api';
import { call, collabToken, expectError, setupAdmin, signUp } from './app';
import { provider, sameState, synced, waitFor } from './fixture';

export interface VersionEnv {
  /** WebSocket URL of the collab-server the i-th client should use (several instances: spread them). */
  wsUrl(i: number): string;
  /** Stop and start the collab-server(s) (same storage). */
  restart(): Promise<void>;
  /** Rows in the document's update log (0 once compacted). */
  logRows(docId: string): Promise<number>;
  /** Providers opened by a test, destroyed after the file. */
  providers: WebsocketProvider[];
}

const schema = getSchema(contentExtensions());

type Session = Awaited<ReturnType<typeof signUp>>;

interface Writer {
  doc: Y.Doc;
  p: WebsocketProvider;
  frag: Y.XmlFragment;
  add(text: string): void;
  text(): string;
}

async function connect(env: VersionEnv, who: Session, docId: string, i: number): Promise<Writer> {
  const t = await collabToken(who.token, docId);
  const doc = new Y.Doc();
  const p = provider(env.wsUrl(i), docId, t.token, doc);
  env.providers.push(p);
  await synced(p);
  const frag = doc.getXmlFragment(CONTENT_FIELD);
  return {
    doc,
    p,
    frag,
    add(text) {
      const para = new Y.XmlElement('paragraph');
      para.insert(0, [new Y.XmlText(text)]);
      frag.insert(frag.length, [para]);
    },
    text: () => fragmentText(frag),
  };
}

const frozen = (d: Y.Doc) => {
  const c = new Y.Doc();
  Y.applyUpdate(c, Y.encodeStateAsUpdate(d));
  return c;
};

async function listVersions(token: string, id: string): Promise<VersionView[]> {
  const r = await call(versionsRoute.GET, { token, params: { id } });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.versions;
}

let admin: Session | null = null;

async function setup() {
  admin ??= await setupAdmin('Admin');
  const ada = await signUp('Ada Owner');
  const bob = await signUp('Bob Editor');
  const eve = await signUp('Eve Editor');
  const cy = await signUp('Cy Viewer');
  const dee = await signUp('Dee Stranger');
  const created = await call(docsRoute.POST, { method: 'POST', token: ada.token, body: { title: 'History' } });
  expect(created.status).toBe(201);
  const id = created.body.doc.id as string;
  for (const [who, role] of [[bob, 'editor'], [eve, 'editor'], [cy, 'viewer']] as const) {
    const r = await call(grantsRoute.PUT, { method: 'PUT', token: ada.token, params: { id, email: who.email }, body: { role } });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
  }
  return { ada, bob, eve, cy, dee, id };
}

/** Register the shared behaviours (call inside a describe whose beforeAll builds `env()`). */
export function versionBehaviours(env: () => VersionEnv): void {
  it('named and automatic versions are listed with their authors; a preview is exactly the historical content', async () => {
    const { ada, bob, cy, id } = await setup();
    const a = await connect(env(), ada, id, 0);
    const b = await connect(env(), bob, id, 1);
    a.add('Ada wrote the first line.');
    b.add('Bob added a second one.');
    await waitFor(() => sameState(a.doc, b.doc) && a.text().includes('Bob'), { what: 'writers converged' });
    const atAuto = frozen(a.doc);
    // Quiet for VERSION_QUIET_MS: an automatic version, naming both writers.
    const autos = await waitFor(async () => {
      const l = await listVersions(cy.token, id);
      return l.length >= 1 ? l : null;
    }, { timeout: 15_000, what: 'an automatic version' });
    expect(autos[0]!.kind).toBe('auto');
    expect(autos[0]!.contributors.map((c) => c.name).sort()).toEqual(['Ada Owner', 'Bob Editor']);
    expect(autos[0]!.createdBy).toBeNull();

    // A named version by Bob, then more edits.
    b.add('Bob: the named state ends here.');
    await waitFor(() => a.text().includes('named state'), { what: 'sync' });
    await waitFor(async () => (await call(diffRoute.GET, { token: cy.token, params: { id, vid: autos[0]!.id }, path: '/x?against=current' })).body.added > 0, { what: 'edit stored' });
    const atNamed = frozen(b.doc);
    const named = await call(versionsRoute.POST, { method: 'POST', token: bob.token, params: { id }, body: { name: 'Draft 1' } });
    expect(named.status, JSON.stringify(named.body)).toBe(201);
    expect(named.body.version).toMatchObject({ kind: 'named', name: 'Draft 1', createdBy: { name: 'Bob Editor' } });
    expect(named.body.version.contributors.map((c: { name: string }) => c.name)).toContain('Bob Editor');
    a.add('Ada kept going after the name.');

    const list = await listVersions(cy.token, id);
    expect(list.map((v) => v.name)).toContain('Draft 1');
    expect(list[0]!.n).toBeGreaterThan(list[list.length - 1]!.n); // newest first

    // Previews equal the Y.Docs frozen independently at those moments: editor JSON, text, HTML.
    for (const [vid, want] of [[autos[0]!.id, atAuto], [named.body.version.id as string, atNamed]] as const) {
      const r = await call(versionRoute.GET, { token: cy.token, params: { id, vid } });
      expect(r.status).toBe(200);
      expect(r.body.json).toEqual(yXmlFragmentToProsemirrorJSON(want.getXmlFragment(CONTENT_FIELD)));
      expect(r.body.text).toBe(fragmentText(want.getXmlFragment(CONTENT_FIELD)));
      expect(r.body.html).toContain('<p>Ada wrote the first line.</p>');
    }
    const preview = await call(versionRoute.GET, { token: cy.token, params: { id, vid: autos[0]!.id } });
    expect(preview.body.html).not.toContain('named state');
  });

  it('a viewer may list, preview and compare but gets 403 on name, restore and delete; no access is 404 everywhere', async () => {
    const { ada, bob, cy, dee, id } = await setup();
    const a = await connect(env(), ada, id, 0);
    a.add('Version one text.');
    await waitFor(async () => (await listVersions(ada.token, id)).length > 0 || null, { timeout: 15_000, what: 'auto version' });
    const named = await call(versionsRoute.POST, { method: 'POST', token: ada.token, params: { id }, body: { name: 'Kept' } });
    const vid = named.body.version.id as string;
    a.add('Later text.');
    await waitFor(async () => (await call(diffRoute.GET, { token: cy.token, params: { id, vid }, path: '/x?against=current' })).body.added > 0 || null, { what: 'edit stored' });

    // Viewer: reads.
    expect((await call(versionsRoute.GET, { token: cy.token, params: { id } })).status).toBe(200);
    expect((await call(versionRoute.GET, { token: cy.token, params: { id, vid } })).status).toBe(200);
    const diff = await call(diffRoute.GET, { token: cy.token, params: { id, vid }, path: '/x?against=current' });
    expect(diff.status).toBe(200);
    expect(diff.body.changes.filter((c: { op: string }) => c.op === 'added').map((c: { text: string }) => c.text).join('')).toContain('Later');
    // Viewer: no writes.
    expectError(await call(versionsRoute.POST, { method: 'POST', token: cy.token, params: { id }, body: { name: 'x' } }), 403);
    expectError(await call(restoreRoute.POST, { method: 'POST', token: cy.token, params: { id, vid } }), 403);
    expectError(await call(versionRoute.PATCH, { method: 'PATCH', token: cy.token, params: { id, vid }, body: { name: 'y' } }), 403);
    expectError(await call(versionRoute.DELETE, { method: 'DELETE', token: cy.token, params: { id, vid } }), 403);
    // Editors may name but not delete; a named version cannot be deleted even by the owner.
    expectError(await call(versionRoute.DELETE, { method: 'DELETE', token: bob.token, params: { id, vid } }), 403);
    expectError(await call(versionRoute.DELETE, { method: 'DELETE', token: ada.token, params: { id, vid } }), 409);
    // No access: 404 on every endpoint, before anything else is looked at.
    const stranger = [
      call(versionsRoute.GET, { token: dee.token, params: { id } }),
      call(versionsRoute.POST, { method: 'POST', token: dee.token, params: { id }, body: { name: 'x' } }),
      call(versionRoute.GET, { token: dee.token, params: { id, vid } }),
      call(versionRoute.PATCH, { method: 'PATCH', token: dee.token, params: { id, vid }, body: { name: 'x' } }),
      call(versionRoute.DELETE, { method: 'DELETE', token: dee.token, params: { id, vid } }),
      call(diffRoute.GET, { token: dee.token, params: { id, vid } }),
      call(restoreRoute.POST, { method: 'POST', token: dee.token, params: { id, vid } }),
    ];
    for (const r of await Promise.all(stranger)) expectError(r, 404);
    // Order of checks: bad input 400, no session 401, unknown version 404.
    expectError(await call(versionsRoute.POST, { method: 'POST', token: cy.token, params: { id }, body: { name: '' } }), 400, 'name');
    expectError(await call(versionsRoute.GET, { params: { id } }), 401);
    expectError(await call(versionRoute.GET, { token: cy.token, params: { id, vid: 'nope' } }), 404);
    // The owner deletes an unnamed version; it is gone from the list.
    const unnamed = (await listVersions(ada.token, id)).find((v) => v.name === null)!;
    expect((await call(versionRoute.DELETE, { method: 'DELETE', token: ada.token, params: { id, vid: unnamed.id } })).status).toBe(200);
    expect((await listVersions(ada.token, id)).map((v) => v.id)).not.toContain(unnamed.id);
  });

  it('restore while two others type: all converge on the restored content plus later edits; the restorer undoes it for everyone', async () => {
    const { ada, bob, eve, id } = await setup();
    const a = await connect(env(), ada, id, 0);
    const b = await connect(env(), bob, id, 1);
    const e = await connect(env(), eve, id, 2);
    a.add('ALPHA one');
    a.add('ALPHA two');
    await waitFor(() => b.text().includes('ALPHA two') && e.text().includes('ALPHA two'), { what: 'sync' });
    const v = await call(versionsRoute.POST, { method: 'POST', token: ada.token, params: { id }, body: { name: 'Alpha' } });
    await waitFor(async () => (await call(versionRoute.GET, { token: ada.token, params: { id, vid: v.body.version.id } })).body.text.includes('ALPHA two') || null, { what: 'named' });
    const vid = v.body.version.id as string;
    // The document moves on: ALPHA two is replaced by BETA.
    a.frag.delete(1, 1);
    a.add('BETA three');
    await waitFor(() => b.text().includes('BETA') && e.text().includes('BETA') && !b.text().includes('ALPHA two'), { what: 'beta synced' });

    // Bob and Eve type (a paragraph each every 15 ms) while Ada restores.
    let typing = true;
    let nb = 0;
    let ne = 0;
    const loop = async (w: Writer, tag: string, next: () => number) => {
      while (typing) {
        w.add(`${tag}-${next()}`);
        await new Promise((r) => setTimeout(r, 15));
      }
    };
    const typers = Promise.all([loop(b, 'bob', () => nb++), loop(e, 'eve', () => ne++)]);
    await waitFor(() => nb > 5 && ne > 5, { what: 'typing started' });

    // Ada restores as the editor does: the version's content as her own edit (the collaboration
    // UndoManager tracks ySyncPluginKey), then tells the API, which records it once stored.
    const preview = await call(versionRoute.GET, { token: ada.token, params: { id, vid } });
    const versionDoc = new Y.Doc();
    prosemirrorJSONToYXmlFragment(schema, preview.body.json, versionDoc.getXmlFragment(CONTENT_FIELD));
    const undo = new Y.UndoManager(a.frag, { trackedOrigins: new Set([ySyncPluginKey]) });
    a.doc.transact(() => replaceFragment(a.frag, versionDoc.getXmlFragment(CONTENT_FIELD)), ySyncPluginKey);
    const stateVector = Buffer.from(Y.encodeStateVector(a.doc)).toString('base64');
    const restored = await call(restoreRoute.POST, { method: 'POST', token: ada.token, params: { id, vid }, body: { applied: { stateVector } } });
    expect(restored.status, JSON.stringify(restored.body)).toBe(200);
    expect(restored.body.version).toMatchObject({ kind: 'restore', restoredFrom: vid, createdBy: { name: 'Ada Owner' } });

    // Typing goes on a little after the restore, then stops.
    const after = { b: nb, e: ne };
    await waitFor(() => nb > after.b + 5 && ne > after.e + 5, { what: 'typing after the restore' });
    typing = false;
    await typers;
    const lastB = `bob-${nb - 1}`;
    const lastE = `eve-${ne - 1}`;
    await waitFor(() => sameState(a.doc, b.doc) && sameState(a.doc, e.doc), { timeout: 15_000, what: 'all three converged after the restore' });
    const t = a.text();
    expect(t).toContain('ALPHA one\nALPHA two');
    expect(t).not.toContain('BETA');
    expect(t).toContain(lastB);
    expect(t).toContain(lastE);
    // Bob's and Eve's lines from before the restore were part of what it replaced.
    expect(t).not.toContain('bob-0\n');

    // Ada's undo reverts her restore for everyone; what Bob and Eve typed after it stays.
    undo.undo();
    await waitFor(() => b.text().includes('BETA') && e.text().includes('BETA'), { timeout: 15_000, what: 'undo reached the others' });
    await waitFor(() => sameState(a.doc, b.doc) && sameState(a.doc, e.doc), { timeout: 15_000, what: 'converged after undo' });
    const u = a.text();
    expect(u).toContain('BETA three');
    expect(u).not.toContain('ALPHA two');
    expect(u).toContain(lastB);
    expect(u).toContain(lastE);

    // Audited.
    const audit = await call(auditRoute.GET, { token: admin!.token, path: `/api/admin/audit?action=version.restore&docId=${id}` });
    expect(audit.status).toBe(200);
    expect(audit.body.entries[0]).toMatchObject({ action: 'version.restore', target: vid, actorId: ada.user.id });
  });

  it('a REST restore (no editor) is written by collab-server and reaches every connected client', async () => {
    const { ada, bob, eve, id } = await setup();
    const b = await connect(env(), bob, id, 1);
    const e = await connect(env(), eve, id, 0);
    b.add('GAMMA original');
    await waitFor(() => e.text().includes('GAMMA'), { what: 'sync' });
    const v = await call(versionsRoute.POST, { method: 'POST', token: bob.token, params: { id }, body: { name: 'Gamma' } });
    e.add('DELTA later');
    b.frag.delete(0, 1);
    await waitFor(() => !e.text().includes('GAMMA') && b.text().includes('DELTA'), { what: 'moved on' });
    await waitFor(async () => (await call(diffRoute.GET, { token: ada.token, params: { id, vid: v.body.version.id }, path: '/x?against=current' })).body.removed > 0 || null, { what: 'stored' });
    const r = await call(restoreRoute.POST, { method: 'POST', token: ada.token, params: { id, vid: v.body.version.id } });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    await waitFor(() => b.text() === 'GAMMA original' && e.text() === 'GAMMA original', { timeout: 15_000, what: 'restore reached both clients' });
    await waitFor(() => sameState(b.doc, e.doc), { what: 'converged' });
    // The clients keep editing the restored text (its items are the server's).
    e.frag.delete(0, 1);
    e.add('EPSILON after');
    await waitFor(() => b.text() === 'EPSILON after', { what: 'edit after a server restore' });
  });

  it('a version outlives compaction and a collab-server restart', async () => {
    const { ada, cy, id } = await setup();
    const a = await connect(env(), ada, id, 0);
    for (let i = 0; i < 30; i++) a.add(`line ${i}`);
    const want = frozen(a.doc);
    const v = await waitFor(async () => (await listVersions(cy.token, id))[0] ?? null, { timeout: 15_000, what: 'auto version' });
    a.p.destroy(); // last client leaves: the document unloads and is compacted
    await waitFor(async () => (await env().logRows(id)) === 0 || null, { timeout: 20_000, what: 'log compacted' });
    await env().restart();
    const r = await call(versionRoute.GET, { token: cy.token, params: { id, vid: v.id } });
    expect(r.status).toBe(200);
    expect(r.body.json).toEqual(yXmlFragmentToProsemirrorJSON(want.getXmlFragment(CONTENT_FIELD)));
    // And the document still works after the restart.
    const b = await connect(env(), ada, id, 1);
    expect(b.text()).toBe(fragmentText(want.getXmlFragment(CONTENT_FIELD)));
  });
}
