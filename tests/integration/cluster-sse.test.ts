// The SSE + POST transport scaled out (issue 15): two collab-server processes on PostgreSQL + Redis
// behind nginx with the shipped template.
//   SSE client → nginx (/collab/sse/<doc>, hash of doc id) → instance A → Redis/log → instance B → WebSocket client
// and back. Through nginx: a retried POST applies, counts and audits once; a stream resumed with
// Last-Event-ID misses nothing; a viewer's POSTed write is refused; revocation closes the stream
// within 1 s. A POST that lands on an instance without the session gets 404 (the client opens a
// new session there).
import { afterEach, describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import type { WebsocketProvider } from 'y-websocket';
import { CollabClient } from '../../lib/collab-client';
import { encode } from '../../lib/protocol';
import { useCluster } from '../helpers/cluster';
import { provider, sameState, synced, waitFor } from '../helpers/fixture';
import { RawSse } from '../helpers/raw-sse';

const c = useCluster({ instances: 2, nginx: true, env: { REFUSAL_AUDIT_INTERVAL_MS: '200', CLUSTER_POLL_MS: '500' } });

const open: { close(): void }[] = [];
const providers: WebsocketProvider[] = [];
afterEach(() => {
  for (const x of open.splice(0)) x.close();
  for (const p of providers.splice(0)) p.destroy();
});

const httpBase = () => c.nginxUrl!.replace(/^ws:/, 'http:');
async function sse(user: string, docId: string, base = httpBase()): Promise<RawSse> {
  const s = new RawSse(base, docId, await c.token(user, docId));
  open.push(s);
  await s.open();
  await waitFor(() => s.of('sync-step1').length, { what: 'server step 1 over SSE' });
  return s;
}
/** The instance holding `docId`'s sessions of `user`. */
async function instanceOf(docId: string, user: string): Promise<number> {
  return waitFor(async () => {
    for (const inst of c.instances) if ((await c.sessions(inst.index)).some((s) => s.docId === docId && s.userId === user)) return inst.index + 1;
    return 0;
  }, { what: 'the session is listed' }).then((n) => n - 1);
}
const storedCount = async (docId: string) => (await c.pool.query<{ n: number }>('SELECT COUNT(*)::int AS n FROM doc_updates WHERE doc_id = $1', [docId])).rows[0]!.n;
const refusals = async (docId: string, actor: string) =>
  (await c.pool.query<{ detail: string }>("SELECT detail FROM audit WHERE doc_id = $1 AND actor_id = $2 AND action = 'write.refused'", [docId, actor])).rows;
const text = (d: Y.Doc) => d.getText('t').toString();

describe('SSE transport on the scale-out cluster, through nginx', () => {
  it('an SSE client on one instance and a WebSocket client on another co-edit and converge', async () => {
    const a = await c.user();
    const b = await c.user();
    const docId = await c.doc(a);
    await c.grant(docId, b, 'editor');
    const s = await sse(b, docId);
    const home = await instanceOf(docId, b);
    const other = c.instances[(home + 1) % c.instances.length]!;
    const ws = provider(other.url, docId, await c.token(a, docId));
    providers.push(ws);
    await synced(ws);
    for (let i = 0; i < 10; i++) {
      ws.doc.getText('t').insert(0, 'w');
      s.doc.getText('t').insert(0, 's');
    }
    await waitFor(() => sameState(ws.doc, s.doc) && text(s.doc).length === 20, { timeout: 15_000, what: 'SSE (instance A) and WebSocket (instance B) converge' });
    expect((await c.sessions(other.index)).some((x) => x.docId === docId && x.userId === a)).toBe(true);
    // A POST that reaches an instance without the session: 404, the client opens a new session there.
    const stray = new RawSse(other.httpUrl, docId, s.token);
    stray.sid = s.sid;
    expect((await stray.post([encode.update(new Uint8Array([0, 0]))])).status).toBe(404);
  });

  it("the app's client over SSE through nginx (/collab/sse/<doc>) and a stock WebSocket client converge", async () => {
    const a = await c.user();
    const docId = await c.doc(a);
    const doc = new Y.Doc();
    const cl = await CollabClient.connect({ docId, doc, disableBc: true, transport: 'sse', getToken: async () => ({ token: await c.token(a, docId), url: c.nginxUrl!, expiresAt: Date.now() + 300_000 }) });
    open.push({ close: () => cl.destroy() });
    const ws = provider(c.nginxUrl!, docId, await c.token(a, docId));
    providers.push(ws);
    await synced(ws);
    await waitFor(() => cl.provider.synced, { what: 'the SSE client synced through nginx' });
    expect(cl.status.transport).toBe('sse');
    for (let i = 0; i < 10; i++) {
      doc.getText('t').insert(0, 's');
      ws.doc.getText('t').insert(0, 'w');
    }
    await waitFor(() => sameState(doc, ws.doc) && text(doc).length === 20, { timeout: 15_000, what: 'converged through nginx' });
  });

  it('a retried POST applies, counts and audits once; a resumed stream misses nothing', async () => {
    const owner = await c.user();
    const viewer = await c.user();
    const docId = await c.doc(owner);
    await c.grant(docId, viewer, 'viewer');
    const s = await sse(owner, docId);
    const d = new Y.Doc();
    d.getText('t').insert(0, 'ONCE');
    const frame = encode.update(Y.encodeStateAsUpdate(d));
    const id = s.nextId++;
    expect((await s.post([frame], id)).status).toBe(200);
    expect(await s.post([frame], id)).toEqual({ status: 200, next: id + 1 });
    await waitFor(async () => (await storedCount(docId)) >= 1, { what: 'stored' });
    expect(await storedCount(docId)).toBe(1);

    const v = await sse(viewer, docId);
    const w = new Y.Doc();
    w.getText('t').insert(0, 'VIEWER');
    const vf = encode.update(Y.encodeStateAsUpdate(w));
    const vid = v.nextId++;
    await v.post([vf], vid);
    await v.post([vf], vid);
    const denied = await waitFor(() => v.of('auth')[0], { what: 'permission-denied over the stream' });
    expect(denied.reason).toMatch(/read-only/);
    await waitFor(async () => (await refusals(docId, viewer)).length, { what: 'refusal audited' });
    const rows = await refusals(docId, viewer);
    expect(rows).toHaveLength(1);
    expect(JSON.parse(rows[0]!.detail).count).toBe(1);
    expect(await storedCount(docId)).toBe(1);

    // Resume: cut the viewer's stream, the owner edits from a WebSocket, resume with Last-Event-ID.
    const ws = provider(c.nginxUrl!, docId, await c.token(owner, docId));
    providers.push(ws);
    await synced(ws);
    await waitFor(() => text(v.doc) === 'ONCE', { timeout: 30_000, what: 'viewer has the first edit' });
    const last = v.events.at(-1)!.id;
    v.drop();
    await waitFor(() => v.ended, { what: 'stream cut' });
    for (let i = 0; i < 5; i++) ws.doc.getText('t').insert(ws.doc.getText('t').length, `${i}`);
    await waitFor(async () => (await storedCount(docId)) >= 6, { what: 'edits stored' });
    expect((await v.open(last)).resumed).toBe(true);
    await waitFor(() => sameState(v.doc, ws.doc), { what: 'the resumed stream carries every edit' });
    const ids = v.events.map((e) => e.id);
    expect(ids).toEqual(ids.map((_, i) => ids[0]! + i));
  });

  it('revoking access closes the SSE stream with 4403 within 1 s', async () => {
    const owner = await c.user();
    const other = await c.user();
    const docId = await c.doc(owner);
    await c.grant(docId, other, 'editor');
    const s = await sse(other, docId);
    const t0 = Date.now();
    await c.grant(docId, other, null);
    await waitFor(() => s.closeInfo, { timeout: 1000, interval: 10, what: 'close event within 1 s' });
    expect(s.closeInfo!.code).toBe(4403);
    expect(Date.now() - t0).toBeLessThan(1000);
  });
});
