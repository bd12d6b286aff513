// Cluster-wide state across three collab-servers on one PostgreSQL + Redis, with the app's real
// route handlers on the same schema: an access change made through the app reaches sockets on
// every instance within 1 s; presence crosses instances (client A → instance 1 → Redis →
// instance 2 → client B); a client id held on one instance cannot be squatted from another.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import * as encoding from 'lib0/encoding';
import type { WebsocketProvider } from 'y-websocket';
import * as docs from '../../app/api/docs/route';
import * as grants from '../../app/api/docs/[id]/access/grants/[email]/route';
import { getApp } from '../../app/_server/context';
import { encode } from '../../lib/protocol';
import { provider, synced, waitFor } from '../helpers/fixture';
import { call, collabToken, expectNever, setAppEnv, signUp } from '../helpers/app';
import { createPgFixture, PG_URL, REDIS_URL, startPgInstance, type ClusterInstance, type PgFixture } from '../helpers/pg-fixture';
import { rawConnect, type RawClient } from '../helpers/raw-client';

let fx: PgFixture;
const instances: ClusterInstance[] = [];
const open: WebsocketProvider[] = [];
const raws: RawClient[] = [];
const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});

beforeAll(async () => {
  fx = await createPgFixture();
  for (const name of ['collab-1', 'collab-2', 'collab-3']) instances.push(await startPgInstance(fx, name));
  // The app in this process, on the same schema and key pair (DATA_DIR/keys) as the instances.
  setAppEnv(fx.dir, { DATABASE_URL: PG_URL, DATABASE_SCHEMA: fx.schema, REDIS_URL, REDIS_PREFIX: fx.prefix, COLLAB_PUBLIC_URL: instances[0]!.url });
});
afterAll(async () => {
  warn.mockRestore();
  for (const p of open) p.destroy();
  for (const r of raws) r.close();
  for (const i of instances) await i.close();
  await getApp().close();
  await fx?.cleanup();
});

async function sharedDoc(role: 'editor' | 'viewer') {
  const owner = await signUp('Owner');
  const member = await signUp('Member');
  const created = await call(docs.POST, { method: 'POST', token: owner.token, body: { title: 'Cluster ACL' } });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const docId = created.body.doc.id as string;
  const g = await call(grants.PUT, { method: 'PUT', token: owner.token, params: { id: docId, email: member.email }, body: { role } });
  expect(g.status, JSON.stringify(g.body)).toBe(200);
  return { owner, member, docId };
}

/** One stock client per instance for `session`, each recording how its socket closed. */
async function onEveryInstance(session: string, docId: string) {
  const out: { p: WebsocketProvider; closes: { code: number; at: number }[] }[] = [];
  for (const inst of instances) {
    const t = await collabToken(session, docId);
    const p = provider(inst.url, docId, t.token);
    open.push(p);
    const closes: { code: number; at: number }[] = [];
    p.on('connection-close', (ev) => {
      if (ev) closes.push({ code: ev.code, at: Date.now() });
    });
    await synced(p);
    out.push({ p, closes });
  }
  return out;
}

describe('cluster-wide access changes', () => {
  it('a revocation through the app closes the user’s sockets on all three instances within 1 s', async () => {
    const { owner, member, docId } = await sharedDoc('editor');
    const sockets = await onEveryInstance(member.token, docId);
    const r = await call(grants.DELETE, { method: 'DELETE', token: owner.token, params: { id: docId, email: member.email } });
    expect(r.status).toBe(200);
    const at = Date.now();
    await waitFor(() => sockets.every((s) => s.closes.length > 0), { timeout: 5000, what: 'every instance closed the socket' });
    for (const s of sockets) {
      expect(s.closes[0]!.code).toBe(4403);
      expect(s.closes[0]!.at - at).toBeLessThan(1000);
    }
  });

  it('a downgrade to viewer turns the user read-only on all three instances within 1 s', async () => {
    const { owner, member, docId } = await sharedDoc('editor');
    const watcherToken = await collabToken(owner.token, docId);
    const watcher = provider(instances[0]!.url, docId, watcherToken.token);
    open.push(watcher);
    await synced(watcher);
    const raw: RawClient[] = [];
    for (const inst of instances) {
      const c = await rawConnect(inst.url, docId, { token: (await collabToken(member.token, docId)).token });
      raws.push(c);
      raw.push(c);
    }
    const r = await call(grants.PUT, { method: 'PUT', token: owner.token, params: { id: docId, email: member.email }, body: { role: 'viewer' } });
    expect(r.status).toBe(200);
    const at = Date.now();
    // Within 1 s of the change a write on every instance is refused.
    await waitFor(async () => (await Promise.all(raw.map((c) => writeIsRefused(c, 'probe ')))).every(Boolean), {
      timeout: 1000,
      interval: 20,
      what: 'writes refused on every instance',
    });
    expect(Date.now() - at).toBeLessThan(1000);
    // …and a refused write reaches nobody.
    for (const [i, c] of raw.entries()) expect(await writeIsRefused(c, `after-${i} `)).toBe(true);
    await expectNever(() => watcher.doc.getText('t').toString().includes('after-'), 300, 'a refused write reached another client');
  });
});

describe('presence and client ids across instances', () => {
  it('presence set on instance 1 reaches a client on instance 2, with the token’s name', async () => {
    const { owner, member, docId } = await sharedDoc('editor');
    const a = provider(instances[0]!.url, docId, (await collabToken(owner.token, docId)).token);
    const b = provider(instances[1]!.url, docId, (await collabToken(member.token, docId)).token);
    open.push(a, b);
    await Promise.all([synced(a), synced(b)]);
    a.awareness.setLocalStateField('user', { name: 'spoofed name', color: '#f00' });
    const seen = await waitFor(() => b.awareness.getStates().get(a.awareness.clientID) as { user?: { name?: string } } | undefined, {
      what: 'A’s presence on instance 2',
    });
    expect(seen.user?.name).toBe('Owner');
  });

  it('a client id held on instance 1 cannot be squatted from instance 2: presence dropped, writes refused', async () => {
    const { owner, member, docId } = await sharedDoc('editor');
    const a = provider(instances[0]!.url, docId, (await collabToken(owner.token, docId)).token);
    open.push(a);
    await synced(a);
    a.awareness.setLocalStateField('user', { name: 'x' });
    a.doc.getText('t').insert(0, 'mine ');
    const victim = a.doc.clientID;
    // Instance 2 learns who holds the id (through Redis) before the squatter arrives.
    const watcher = provider(instances[1]!.url, docId, (await collabToken(owner.token, docId)).token);
    open.push(watcher);
    await waitFor(() => watcher.awareness.getStates().has(victim) && watcher.doc.getText('t').toString() === 'mine ', { what: 'instance 2 knows the holder' });
    const squatter = await rawConnect(instances[1]!.url, docId, { token: (await collabToken(member.token, docId)).token });
    raws.push(squatter);
    await squatter.synced();
    squatter.send(encode.awareness(awarenessFor(victim, 99, { user: { name: 'squatter' } })));
    // A write under the victim's id, continuing at the victim's clock, is refused.
    squatter.doc.clientID = victim;
    expect(await writeIsRefused(squatter, 'squat ')).toBe(true);
    await expectNever(
      () => (a.awareness.getStates().get(victim) as { user?: { name?: string } } | undefined)?.user?.name === 'squatter' || a.doc.getText('t').toString() !== 'mine ',
      300,
      'the squatter’s presence or write reached the holder',
    );
  });
});

/** An awareness update claiming `clientId` at `clock` with `state`. */
function awarenessFor(clientId: number, clock: number, state: unknown): Uint8Array {
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, 1);
  encoding.writeVarUint(e, clientId);
  encoding.writeVarUint(e, clock);
  encoding.writeVarString(e, JSON.stringify(state));
  return encoding.toUint8Array(e);
}

/** Type `text` on a raw client; true when the server answers with a permission-denied message. */
async function writeIsRefused(c: RawClient, text: string): Promise<boolean> {
  const before = c.of('auth').length;
  c.doc.getText('t').insert(0, text);
  return waitFor(() => c.of('auth').length > before, { timeout: 300, what: 'refusal' }).then(
    () => true,
    () => false,
  );
}
