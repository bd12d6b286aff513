// Scale-out: several collab-servers serve ONE document at once over the shared PostgreSQL log and
// Redis. Path checked: client A → instance 1 → PostgreSQL (append, numbered) + Redis (publish)
// → instance 2 → client B; and, when Redis loses messages, instance 2 reads them from the log.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebsocketProvider } from 'y-websocket';
import * as Y from 'yjs';
import { provider, sameState, synced, waitFor } from '../helpers/fixture';
import { createPgFixture, startPgInstance, type ClusterInstance, type PgFixture } from '../helpers/pg-fixture';
import { startPrivateRedis, type PrivateRedis } from '../helpers/private-redis';

let fx: PgFixture;
let redis: PrivateRedis;
const instances: ClusterInstance[] = [];
const providers: WebsocketProvider[] = [];

beforeAll(async () => {
  fx = await createPgFixture();
  // A private redis-server: the chaos below (kill, pause) must not touch other test files' Redis.
  redis = await startPrivateRedis();
  for (const name of ['collab-1', 'collab-2', 'collab-3']) {
    instances.push(await startPgInstance(fx, name, { redisUrl: redis.url, overrides: { compactIdleMs: 120_000, compactAfterUpdates: 100_000 } }));
  }
});
afterAll(async () => {
  for (const p of providers) p.destroy();
  for (const i of instances) await i.close();
  await redis?.stop();
  await fx?.cleanup();
});

/** A client on `inst` that records every edit it makes (a unique token) and every update it receives. */
async function client(inst: ClusterInstance, docId: string, userId: string) {
  const doc = new Y.Doc();
  const p = provider(inst.url, docId, await fx.token(userId, docId), doc);
  providers.push(p);
  const received: Uint8Array[] = [];
  let localUpdates = 0;
  doc.on('update', (u: Uint8Array, origin: unknown) => {
    if (origin === p) received.push(u);
    else localUpdates++;
  });
  await synced(p);
  const typed: string[] = [];
  let n = 0;
  const name = `${inst.instance}/${providers.length}`;
  return {
    p,
    doc,
    typed,
    received,
    get localUpdates() {
      return localUpdates;
    },
    type() {
      const t = doc.getText('t');
      const token = `[${name}#${n++}]`;
      // At a token boundary (the start, or just after a ']'), so no token splits another.
      const text = t.toString();
      const cuts = [0];
      for (let i = 0; i < text.length; i++) if (text[i] === ']') cuts.push(i + 1);
      t.insert(cuts[Math.floor(Math.random() * cuts.length)]!, token);
      typed.push(token);
    },
  };
}
type Client = Awaited<ReturnType<typeof client>>;

/** Every client has every token any client typed, all replicas and the stored log agree. */
async function expectConverged(docId: string, clients: Client[], timeout = 15_000) {
  const all = clients.flatMap((c) => c.typed);
  await waitFor(() => clients.every((c) => sameState(c.doc, clients[0]!.doc)) && all.every((t) => clients[0]!.doc.getText('t').toString().includes(t)), {
    timeout,
    what: 'every client converged with every edit',
  }).catch(async (err) => {
    if (process.env.DEBUG_CLUSTER) {
      for (const c of clients) console.log(c.typed.length, c.doc.getText('t').toString().length, JSON.stringify([...Y.decodeStateVector(Y.encodeStateVector(c.doc))]), c.doc.store.pendingStructs ? 'PENDING' : '');
      const st = await fx.stored(docId);
      console.log('stored', st.getText('t').toString().length, JSON.stringify([...Y.decodeStateVector(Y.encodeStateVector(st))]));
      for (const i of instances) console.log(i.instance, i.logs.lines.filter((l) => (l.level as number) >= 40).slice(-5).map((l) => l.msg));
    }
    throw err;
  });
  const stored = await fx.stored(docId);
  expect(sameState(stored, clients[0]!.doc)).toBe(true);
  for (const c of clients) for (const t of c.typed) expect(c.doc.getText('t').toString()).toContain(t);
}

/** The update changes nothing in `stored`: it was durable before anyone was shown it. */
function containedIn(stored: Y.Doc, u: Uint8Array): boolean {
  const copy = new Y.Doc();
  Y.applyUpdate(copy, Y.encodeStateAsUpdate(stored));
  Y.applyUpdate(copy, u);
  return sameState(copy, stored);
}

const pump = async (clients: Client[], rounds: number) => {
  for (let r = 0; r < rounds; r++) {
    for (const c of clients) c.type();
    await new Promise((res) => setImmediate(res));
  }
};

describe('several collab-servers serving one document', () => {
  it('clients on three instances converge; the log holds each update exactly once', async () => {
    const owner = await fx.user({ name: 'Ann' });
    const bob = await fx.user({ name: 'Bob' });
    const cat = await fx.user({ name: 'Cat' });
    const docId = await fx.doc(owner);
    await fx.grant(docId, bob, 'editor');
    await fx.grant(docId, cat, 'editor');
    const a = await client(instances[0]!, docId, owner);
    const b = await client(instances[1]!, docId, bob);
    const c = await client(instances[2]!, docId, cat);
    // A types on instance 1; B, on instance 2, sees it through PostgreSQL + Redis.
    a.type();
    await waitFor(() => b.doc.getText('t').toString().includes(a.typed[0]!), { what: 'A’s edit on instance 2', timeout: 5000 });
    for (let i = 0; i < 20; i++) {
      for (const x of [a, b, c]) x.type();
      await waitFor(() => true);
    }
    await expectConverged(docId, [a, b, c]);
    // Each local edit was one update on the wire, stored once: no instance re-stored another's.
    await waitFor(async () => (await fx.logRows(docId)) === a.localUpdates + b.localUpdates + c.localUpdates, { what: 'one log row per edit', timeout: 5000 });
    // The fast path carried them: nothing had to be read back from the log for a gap.
    for (const inst of instances) expect((await inst.metrics.clusterCatchUps.get()).values.find((v) => v.labels.reason === 'gap')?.value ?? 0).toBe(0);
  });

  it('a document alone on one instance costs Redis nothing; a second instance that loads it later misses nothing', async () => {
    const owner = await fx.user({ name: 'Solo' });
    const docId = await fx.doc(owner, { general: 'editor' });
    const counter = async (inst: ClusterInstance, direction: string) =>
      (await inst.metrics.clusterMessages.get()).values.filter((v) => v.labels.direction === direction && v.labels.kind === 'update').reduce((n, v) => n + v.value, 0);
    const outBefore = await counter(instances[0]!, 'out');
    const a = await client(instances[0]!, docId, owner);
    for (let i = 1; i <= 5; i++) {
      a.type();
      await waitFor(async () => (await fx.logRows(docId)) >= i, { what: 'stored' });
    }
    // The first publish learns nobody else listens; the rest are skipped.
    await waitFor(async () => (await counter(instances[0]!, 'skipped')) >= 3, { what: 'updates skipped while alone' });
    expect((await counter(instances[0]!, 'out')) - outBefore).toBeLessThanOrEqual(2);
    // A reader arrives on another instance: it gets everything, then live updates through Redis.
    const b = await client(instances[1]!, docId, owner);
    await waitFor(() => a.typed.every((t) => b.doc.getText('t').toString().includes(t)), { what: 'newcomer has what was typed while alone' });
    await waitFor(async () => {
      a.type();
      await new Promise((r) => setTimeout(r, 20));
      return (await counter(instances[1]!, 'in')) > 0;
    }, { what: 'live updates through Redis once a peer exists', timeout: 5000 });
    await expectConverged(docId, [a, b]);
  });

  it('Redis pub/sub connections killed and Redis paused while 10 clients on 3 instances type: no accepted edit is missing', async () => {
    const users = await Promise.all(Array.from({ length: 10 }, (_, i) => fx.user({ name: `U${i}` })));
    const docId = await fx.doc(users[0]!, { general: 'editor' });
    const clients: Client[] = [];
    for (let i = 0; i < 10; i++) clients.push(await client(instances[i % 3]!, docId, users[i]!));
    await pump(clients, 5);
    // Every subscriber connection dropped: messages published until they resubscribe are lost.
    const killed = await redis.admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
    expect(Number(killed)).toBeGreaterThanOrEqual(3);
    await pump(clients, 5);
    // Redis stops answering anyone for 1.5 s (publishes time out; the log poll carries updates).
    const t0 = Date.now();
    await redis.admin.call('CLIENT', 'PAUSE', '1500', 'ALL');
    await pump(clients, 5);
    if (process.env.DEBUG_CLUSTER) console.log('paused at', t0, 'pumped at', Date.now());
    await waitFor(() => clients.every((c) => c.typed.every((t) => clients[(clients.indexOf(c) + 1) % 10]!.doc.getText('t').toString().includes(t))), {
      what: 'edits cross instances while Redis is paused',
      timeout: 10_000,
    });
    if (process.env.DEBUG_CLUSTER) {
      console.log('crossed at', Date.now(), await redis.admin.call('CLIENT', 'LIST'));
      for (const i of instances) console.log(i.instance, JSON.stringify((await i.metrics.clusterMessages.get()).values), i.bus?.healthy());
    }
    await pump(clients, 5);
    await expectConverged(docId, clients, 20_000);
    const stored = await fx.stored(docId);
    for (const c of clients) for (const u of c.received) expect(containedIn(stored, u)).toBe(true);
    // What Redis lost was read back from the log.
    let fromLog = 0;
    for (const i of instances) fromLog += (await i.metrics.clusterCatchUpUpdates.get()).values[0]?.value ?? 0;
    if (process.env.DEBUG_CLUSTER) for (const i of instances) console.log(i.instance, JSON.stringify((await i.metrics.clusterCatchUps.get()).values), JSON.stringify((await i.metrics.clusterPublishFailures.get()).values));
    expect(fromLog).toBeGreaterThan(0);
  });

  it('PostgreSQL connections of one instance terminated mid-typing: nothing is broadcast that was not stored, and every edit arrives', async () => {
    const users = await Promise.all(Array.from({ length: 6 }, (_, i) => fx.user({ name: `P${i}` })));
    const docId = await fx.doc(users[0]!, { general: 'editor' });
    const clients: Client[] = [];
    for (let i = 0; i < 6; i++) clients.push(await client(instances[i % 3]!, docId, users[i]!));
    await pump(clients, 3);
    for (let k = 0; k < 3; k++) {
      // As soon as the instance holds connections again (it reconnects on its own), cut them.
      await waitFor(async () => (await fx.pool.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [instances[1]!.applicationName])).rowCount, {
        what: 'instance 2 connected to PostgreSQL',
      });
      await pump(clients, 3);
    }
    if (process.env.DEBUG_CLUSTER) console.log(JSON.stringify((await instances[1]!.metrics.errors.get()).values), JSON.stringify((await instances[1]!.metrics.connectionsClosed.get()).values));
    await expectConverged(docId, clients, 20_000);
    const stored = await fx.stored(docId);
    for (const c of clients) for (const u of c.received) expect(containedIn(stored, u)).toBe(true);
  });
});
