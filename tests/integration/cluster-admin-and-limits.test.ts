// Cluster-wide state that used to be per instance: three in-process collab-servers over one
// database share one Redis (this run's own key prefix).
// - Socket limits: user → instance 1 + instance 2 → Redis counts → the socket past the limit is
//   refused with 4429 on whichever instance it lands; a crashed instance's counts expire with its
//   registry entry; with Redis unreachable each instance counts alone (fail open).
// - Admin console: app GET /api/admin/sessions → Redis instance registry → every instance's
//   /admin/sessions; app DELETE → the instance named in the connection id → 4403 on that socket.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { CloseCode } from '../../lib/close-codes';
import { createLogger } from '../../observability/logger';
import { createCollabMetrics } from '../../observability/metrics';
import { createInstanceRegistry, type InstanceRegistry } from '../../collab-server/cluster/instances';
import { createRedisConnectionLimits } from '../../collab-server/limits';
import * as sessionsRoute from '../../app/api/admin/sessions/route';
import * as sessionRoute from '../../app/api/admin/sessions/[connId]/route';
import { getApp } from '../../app/_server/context';
import { createFixture, startServer, waitFor, type Fixture, type InProcessServer } from '../helpers/fixture';
import { rawClient, type RawClient } from '../helpers/raw';
import { call, setAppEnv, signUp } from '../helpers/app';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const PREFIX = `t_${randomBytes(6).toString('hex')}:`;
const HEARTBEAT_MS = 200;
/** Long enough that "just crashed" is still counted on a busy machine, short enough to wait out. */
const TTL_MS = 2500;
const PER_USER = 2;

interface Instance {
  id: string;
  srv: InProcessServer;
  redis: Redis;
  registry: InstanceRegistry;
  /** The limits' and registry's metrics (the server's own are srv.metrics). */
  metrics: ReturnType<typeof createCollabMetrics>;
  /** As seen from the cluster: no more heartbeats or count writes, sockets gone, entry left behind. */
  crash(): Promise<void>;
  close(): Promise<void>;
}

let fx: Fixture;
let admin: Redis;
const instances: Instance[] = [];
const sockets: RawClient[] = [];

/** One collab-server "instance": its own Redis client, registry entry and Redis-backed limits. */
async function startInstance(id: string, redisUrl = REDIS_URL, perUser = PER_USER): Promise<Instance> {
  const redis = new Redis(redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectionName: `${id}:state`, retryStrategy: () => null });
  redis.on('error', () => {});
  const metrics = createCollabMetrics({ defaultMetrics: false });
  const log = createLogger({ service: 'collab-server', instance: id, level: 'silent' });
  const registry = createInstanceRegistry({ redis, prefix: PREFIX, instanceId: id, heartbeatMs: HEARTBEAT_MS, ttlMs: TTL_MS, metrics, log });
  const connectionLimits = createRedisConnectionLimits({
    redis,
    prefix: PREFIX,
    instanceId: id,
    liveKey: registry.liveKey,
    connectionsPerUser: perUser,
    connectionsPerIp: 0,
    resyncMs: HEARTBEAT_MS,
    keyTtlMs: 3 * TTL_MS,
    timeoutMs: 500,
    metrics,
    log,
  });
  const srv = await startServer(fx, {
    instanceId: id,
    connectionLimits,
    limits: { messagesPerSec: 1000, messageBurst: 1000, connectionsPerUser: perUser, connectionsPerIp: 0 },
  });
  if (redis.status === 'ready' || redis.status === 'connecting' || redis.status === 'wait') {
    await waitFor(() => redis.status === 'ready' || redis.status === 'end', { what: `${id} Redis connected` });
  }
  await registry.advertise(`http://127.0.0.1:${srv.port}`);
  let down = false;
  const inst: Instance = {
    id,
    srv,
    redis,
    registry,
    metrics,
    async crash() {
      down = true;
      redis.disconnect();
      await srv.close();
    },
    async close() {
      if (down) return registry.close();
      down = true;
      await srv.close();
      await connectionLimits.close();
      await registry.close();
      redis.disconnect();
    },
  };
  instances.push(inst);
  return inst;
}

async function open(inst: Instance, user: string, docId: string): Promise<RawClient> {
  const c = await rawClient(inst.srv.url, docId, await fx.token(user, docId));
  sockets.push(c);
  return c;
}

/** Open a socket and wait for the verdict: served (sync step 1 arrives) or closed. */
async function attempt(inst: Instance, user: string, docId: string): Promise<'served' | number> {
  const c = await open(inst, user, docId);
  let code: number | null = null;
  void c.closed.then((e) => (code = e.code));
  return waitFor(() => (code !== null ? code : c.received.length > 0 ? ('served' as const) : null), { what: `verdict on ${inst.id}` });
}

beforeAll(async () => {
  fx = await createFixture();
  admin = new Redis(REDIS_URL);
  setAppEnv(fx.dir, { REDIS_URL, REDIS_PREFIX: PREFIX });
  for (const id of ['collab-1', 'collab-2', 'collab-3']) await startInstance(id);
});

afterAll(async () => {
  for (const s of sockets) s.ws.terminate();
  for (const i of instances) await i.close();
  await getApp().close();
  const keys = await admin.keys(`${PREFIX}*`);
  if (keys.length) await admin.del(...keys);
  admin.disconnect();
  fx.cleanup();
});

describe('socket limits across instances', () => {
  it('a user at the limit on instances 1 and 2 is refused with 4429 on every instance; a freed slot is usable anywhere', async () => {
    const [one, two, three] = instances as [Instance, Instance, Instance];
    const user = fx.user();
    const docId = fx.doc(user);
    const a = await open(one, user, docId);
    expect(await attempt(two, user, docId)).toBe('served');
    await waitFor(() => a.received.length > 0, { what: 'first socket served' });
    for (const inst of [one, two, three]) expect(await attempt(inst, user, docId), `refused on ${inst.id}`).toBe(CloseCode.RATE_LIMITED);
    expect(await three.srv.metrics.rateLimited.get()).toMatchObject({ values: [expect.objectContaining({ labels: { limit: 'connections-per-user' } })] });
    // Someone else is not affected.
    const other = fx.user();
    expect(await attempt(three, other, fx.doc(other))).toBe('served');

    a.ws.close();
    await a.closed;
    await waitFor(() => ![...one.srv.server.connections].some((c) => c.userId === user), { what: 'instance 1 let go of the socket' });
    expect(await attempt(three, user, docId)).toBe('served');
    expect(await attempt(one, user, docId)).toBe(CloseCode.RATE_LIMITED);
  });

  it("a crashed instance's counts stop counting once its registry entry expires", async () => {
    const ghost = await startInstance('collab-crash');
    const two = instances[1]!;
    const user = fx.user();
    const docId = fx.doc(user);
    for (let i = 0; i < PER_USER; i++) expect(await attempt(ghost, user, docId)).toBe('served');
    await ghost.crash();
    // Its counts are still in Redis: a crash looks like a slow heartbeat at first.
    expect(await admin.hget(`${PREFIX}limits:user:${user}`, 'collab-crash')).toBe(String(PER_USER));
    expect(await attempt(two, user, docId)).toBe(CloseCode.RATE_LIMITED);
    // Once the entry expires the user may connect again (and the dead counts are dropped).
    await waitFor(async () => (await attempt(two, user, docId)) === 'served', { timeout: TTL_MS + 10_000, interval: 100, what: 'dead counts expired' });
    expect(await admin.hget(`${PREFIX}limits:user:${user}`, 'collab-crash')).toBeNull();
  });

  it('with Redis unreachable an instance counts its own sockets (fail open) and says so in a metric', async () => {
    const lonely = await startInstance('collab-no-redis', 'redis://127.0.0.1:1');
    const user = fx.user();
    const docId = fx.doc(user);
    for (let i = 0; i < PER_USER; i++) expect(await attempt(lonely, user, docId)).toBe('served');
    expect(await attempt(lonely, user, docId)).toBe(CloseCode.RATE_LIMITED);
    const errors = (await lonely.metrics.errors.get()).values.find((v) => v.labels.where === 'limits-redis');
    expect(errors?.value).toBeGreaterThanOrEqual(PER_USER + 1);
    await lonely.close();
  });
});

describe('admin sessions across instances', () => {
  it("the app lists every instance's sockets with their instance, and a DELETE closes the one on instance 2 with 4403", async () => {
    const me = await signUp('Ada Admin');
    fx.db.prepare('UPDATE users SET is_admin = 1 WHERE id = ?').run(me.user.id);
    const live = instances.filter((i) => ['collab-1', 'collab-2', 'collab-3'].includes(i.id));
    const docId = fx.doc(fx.user(), { general: 'editor' });
    const mine = new Map<string, { user: string; sock: RawClient }>();
    for (const inst of live) {
      const user = fx.user({ name: `On ${inst.id}` });
      const sock = await open(inst, user, docId);
      await waitFor(() => sock.received.length > 0, { what: `socket on ${inst.id} served` });
      mine.set(inst.id, { user, sock });
    }

    const res = await call(sessionsRoute.GET, { token: me.token, path: '/api/admin/sessions' });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const onDoc = (res.body.sessions as { connId: string; docId: string; userId: string; instance: string; docTitle: string }[]).filter((s) => s.docId === docId);
    expect(onDoc.map((s) => [s.instance, s.userId]).sort()).toEqual(live.map((i) => [i.id, mine.get(i.id)!.user]).sort());
    for (const s of onDoc) {
      expect(s.connId.startsWith(`${s.instance}:`)).toBe(true);
      expect(s.docTitle).toBe('Test doc');
    }
    // Every authorized socket of every live instance, no more.
    const expected = live.flatMap((i) => [...i.srv.server.connections].filter((c) => c.authorized && !c.closed).map((c) => c.id)).sort();
    expect((res.body.sessions as { connId: string }[]).map((s) => s.connId).sort()).toEqual(expected);
    expect(res.body.unreachable).toEqual([]);

    const target = onDoc.find((s) => s.instance === 'collab-2')!;
    const del = await call(sessionRoute.DELETE, { method: 'DELETE', token: me.token, params: { connId: target.connId } });
    expect(del.status, JSON.stringify(del.body)).toBe(200);
    expect(del.body).toEqual({ closed: target.connId });
    const closed = await mine.get('collab-2')!.sock.closed;
    expect(closed.code).toBe(CloseCode.FORBIDDEN);
    for (const id of ['collab-1', 'collab-3']) expect(mine.get(id)!.sock.ws.readyState).toBe(mine.get(id)!.sock.ws.OPEN);

    // Gone from the listing; a second DELETE is a 404, as is an id naming no live instance.
    const after = await call(sessionsRoute.GET, { token: me.token, path: '/api/admin/sessions' });
    expect((after.body.sessions as { connId: string }[]).some((s) => s.connId === target.connId)).toBe(false);
    expect((await call(sessionRoute.DELETE, { method: 'DELETE', token: me.token, params: { connId: target.connId } })).status).toBe(404);
    expect((await call(sessionRoute.DELETE, { method: 'DELETE', token: me.token, params: { connId: 'collab-gone:c1' } })).status).toBe(404);
  });

  it('an instance that does not answer is reported beside the sessions of the others', async () => {
    const me = await signUp('Ada Again');
    fx.db.prepare('UPDATE users SET is_admin = 1 WHERE id = ?').run(me.user.id);
    const metrics = createCollabMetrics({ defaultMetrics: false });
    const log = createLogger({ service: 'collab-server', instance: 'collab-mute', level: 'silent' });
    // Registered and heartbeating, but nothing listens at its URL (port 1 refuses at once).
    const mute = createInstanceRegistry({ redis: admin, prefix: PREFIX, instanceId: 'collab-mute', heartbeatMs: HEARTBEAT_MS, ttlMs: TTL_MS, metrics, log });
    try {
      await mute.advertise('http://127.0.0.1:1');
      const user = fx.user();
      const docId = fx.doc(user);
      expect(await attempt(instances[0]!, user, docId)).toBe('served');
      const res = await call(sessionsRoute.GET, { token: me.token, path: '/api/admin/sessions' });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body.unreachable).toEqual([expect.objectContaining({ instance: 'collab-mute', url: 'http://127.0.0.1:1' })]);
      expect((res.body.sessions as { userId: string; instance: string }[]).some((s) => s.userId === user && s.instance === 'collab-1')).toBe(true);
    } finally {
      await mute.close();
    }
  });

  it('a non-admin gets 403 and no instance is asked to disconnect anything', async () => {
    const pat = await signUp('Pat Plain');
    expect((await call(sessionsRoute.GET, { token: pat.token, path: '/api/admin/sessions' })).status).toBe(403);
    const conn = [...instances[0]!.srv.server.connections].find((c) => c.authorized && !c.closed)!;
    expect((await call(sessionRoute.DELETE, { method: 'DELETE', token: pat.token, params: { connId: conn.id } })).status).toBe(403);
    expect(conn.closed).toBe(false);
  });
});
