// Issue 13 on the cluster: the per-address socket limit counts across instances through Redis,
// per real client address behind a trusted proxy (HTTP 429 before the upgrade on any instance).
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { createLogger } from '../../observability/logger';
import { createCollabMetrics } from '../../observability/metrics';
import { createInstanceRegistry } from '../../collab-server/cluster/instances';
import { createRedisConnectionLimits } from '../../collab-server/limits';
import { parseTrustedProxies } from '../../lib/client-address';
import { createFixture, startServer, waitFor, type Fixture } from '../helpers/fixture';
import { rawClient } from '../helpers/raw';
import { TEST_REDIS_URL } from '../helpers/cluster';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function instance(fx: Fixture, prefix: string, id: string) {
  const redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 1, connectionName: `${id}:limits` });
  const metrics = createCollabMetrics({ defaultMetrics: false });
  const log = createLogger({ service: 'collab-server', instance: id, level: 'silent' });
  const registry = createInstanceRegistry({ redis, prefix, instanceId: id, heartbeatMs: 200, ttlMs: 5000, metrics, log });
  const connectionLimits = createRedisConnectionLimits({ redis, prefix, instanceId: id, liveKey: registry.liveKey, connectionsPerUser: 100, connectionsPerIp: 2, resyncMs: 200, keyTtlMs: 15_000, timeoutMs: 500, metrics, log });
  const srv = await startServer(fx, { instanceId: id, connectionLimits, trustedProxy: parseTrustedProxies('loopback'), limits: { messagesPerSec: 200, messageBurst: 2000, connectionsPerUser: 100, connectionsPerIp: 2 } });
  await waitFor(() => redis.status === 'ready', { what: `${id} Redis ready` });
  await registry.advertise(`http://127.0.0.1:${srv.port}`);
  cleanups.push(async () => {
    await srv.close();
    await connectionLimits.close();
    await registry.close();
    redis.disconnect();
  });
  return srv;
}

describe('per-address limit across instances', () => {
  it('two sockets of one real client on instance 1 make its third, on instance 2, get HTTP 429; another client is served', async () => {
    const fx = await createFixture();
    const prefix = `t_${randomBytes(6).toString('hex')}:`;
    const admin = new Redis(TEST_REDIS_URL);
    cleanups.push(async () => {
      const keys = await admin.keys(`${prefix}*`);
      if (keys.length) await admin.del(...keys);
      admin.disconnect();
    }, () => fx.cleanup());
    const [a, b] = [await instance(fx, prefix, 'collab-1'), await instance(fx, prefix, 'collab-2')];
    const owner = fx.user();
    const docId = fx.doc(owner, { general: 'editor' });
    const open = async (url: string, xff: string) => rawClient(url, docId, await fx.token(fx.user(), docId), { headers: { 'x-forwarded-for': xff } });
    const held = [await open(a.url, '203.0.113.9'), await open(a.url, '203.0.113.9')];
    cleanups.push(() => held.forEach((s) => s.ws.terminate()));
    await waitFor(() => held.every((s) => s.received.length > 0), { what: 'two sockets served' });
    await expect(open(b.url, '203.0.113.9')).rejects.toThrow('upgrade refused: 429');
    const other = await open(b.url, '203.0.113.10');
    cleanups.push(() => other.ws.terminate());
    await waitFor(() => other.received.length > 0, { what: 'another client served on instance 2' });
    // A freed slot is usable on the other instance.
    held[0]!.ws.close();
    await waitFor(async () => {
      try {
        const s = await open(b.url, '203.0.113.9');
        held.push(s);
        return true;
      } catch {
        return false;
      }
    }, { what: 'slot freed cluster-wide', interval: 100 });
  });
});
