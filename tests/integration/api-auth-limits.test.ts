// Issue 11, items 5 and 6, over the real route handlers with the address stamped as the server
// stamps it (x-tandem-peer-address): parallel guesses stay within the per-email limit; a flood of
// sign-ins or sign-ups from one address gets 429 while a real user's sign-in from another address
// stays under 1 s; X-Forwarded-For is believed only from a trusted proxy; the address and global
// windows are shared by app instances through Redis.
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as signup from '../../app/api/auth/signup/route';
import * as login from '../../app/api/auth/login/route';
import { getApp } from '../../app/_server/context';
import { hashPassword } from '../../app/_server/passwords';
import { createAuthLimits } from '../../app/_server/auth-limits';
import { clientAddress, installPeerAddressHeader, parseTrustedProxies, PEER_HEADER } from '../../app/_server/client-address';
import { call, useTempDataDir } from '../helpers/app';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
let env: ReturnType<typeof useTempDataDir>;
const real = { email: 'real.user@example.test', password: 'the real password' };

beforeAll(async () => {
  // The shipped limits (not the harness's "off").
  env = useTempDataDir({
    AUTH_RATE_PER_ADDRESS: '30',
    AUTH_RATE_GLOBAL: '0',
    AUTH_HASH_PER_ADDRESS: '2',
    AUTH_HASH_QUEUE: '16',
    AUTH_HASH_CONCURRENCY: '2',
    // 300 unlimited hashes at this cost take ~2.5 s of this machine's 4 hash threads: the flood hurts without the limits.
    PASSWORD_SCRYPT_LOG2N: '14',
    EMAIL_VERIFICATION: 'required',
    LOG_LEVEL: 'error',
  });
  await getApp().users.create(real.email, 'Real User', await hashPassword(real.password, 14), { verified: true });
});
afterAll(async () => {
  await getApp().close();
  env.cleanup();
});

const loginFrom = (peer: string, email: string, password: string) => call(login.POST, { method: 'POST', peer, body: { email, password } });

describe('sign-in throttle and CPU limits', () => {
  it('200 parallel wrong passwords for one email from 200 addresses: at most LOGIN_MAX_FAILURES (10) are checked (401), the rest get 429', async () => {
    const rs = await Promise.all(Array.from({ length: 200 }, (_, i) => loginFrom(`198.18.${i >> 8}.${i & 255}`, real.email, `guess-${i}`)));
    const statuses = rs.map((r) => r.status);
    expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(10);
    expect(statuses.filter((s) => s === 401).length + statuses.filter((s) => s === 429).length).toBe(200);
    for (const r of rs.filter((r) => r.status === 429)) expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
    await getApp().loginThrottle.succeed(real.email); // the next tests sign this user in
  });

  it('200 parallel wrong passwords from one address: at most the configured number get 401, the rest 429', async () => {
    const rs = await Promise.all(Array.from({ length: 200 }, (_, i) => loginFrom('203.0.113.50', `victim${i % 3}@example.test`, `guess-${i}`)));
    expect(rs.filter((r) => r.status === 401).length).toBeLessThanOrEqual(30);
    expect(rs.filter((r) => r.status === 429).length).toBeGreaterThanOrEqual(170);
  });

  it('a flood of sign-ins with random emails from one address gets 429 while a real user signs in from another address in under 1 s', async () => {
    const flood = Array.from({ length: 300 }, (_, i) => loginFrom('203.0.113.66', `random${i}.${randomBytes(3).toString('hex')}@example.test`, 'whatever-password'));
    const t0 = performance.now();
    const mine = await loginFrom('192.0.2.10', real.email, real.password);
    const took = performance.now() - t0;
    const rs = await Promise.all(flood);
    console.log(`real sign-in during a 300-request flood: ${took.toFixed(0)} ms; flood: ${rs.filter((r) => r.status === 429).length} × 429`);
    expect(mine.status, JSON.stringify(mine.body)).toBe(200);
    expect(took).toBeLessThan(1000);
    expect(rs.filter((r) => r.status === 429).length).toBeGreaterThanOrEqual(270);
  });

  it('a flood of sign-ups from one address gets 429 (nothing hashed or stored for those) while a real user signs in from another address in under 1 s', async () => {
    const flood = Array.from({ length: 300 }, (_, i) =>
      call(signup.POST, { method: 'POST', peer: '203.0.113.77', body: { email: `bot${i}@example.test`, name: 'Bot', password: 'bot password 123' } }),
    );
    const t0 = performance.now();
    const mine = await loginFrom('192.0.2.11', real.email, real.password);
    const took = performance.now() - t0;
    const rs = await Promise.all(flood);
    expect(mine.status, JSON.stringify(mine.body)).toBe(200);
    expect(took).toBeLessThan(1000);
    const accepted = rs.filter((r) => r.status === 202).length;
    expect(rs.filter((r) => r.status === 429).length).toBe(300 - accepted);
    expect(accepted).toBeLessThanOrEqual(30);
  });
});

describe('the client address', () => {
  const req = (headers: Record<string, string>) => new Request('http://localhost/', { headers });
  const trusted = parseTrustedProxies('loopback, 10.0.0.0/8');

  it('X-Forwarded-For is believed only hop by hop from trusted proxies; otherwise the peer counts', () => {
    expect(clientAddress(req({ [PEER_HEADER]: '203.0.113.9', 'x-forwarded-for': '1.2.3.4' }), trusted)).toBe('203.0.113.9');
    expect(clientAddress(req({ [PEER_HEADER]: '127.0.0.1', 'x-forwarded-for': '1.2.3.4, 203.0.113.9' }), trusted)).toBe('203.0.113.9');
    expect(clientAddress(req({ [PEER_HEADER]: '::ffff:127.0.0.1', 'x-forwarded-for': '1.2.3.4, 203.0.113.9, 10.1.2.3' }), trusted)).toBe('203.0.113.9');
    expect(clientAddress(req({ [PEER_HEADER]: '127.0.0.1', 'x-forwarded-for': '1.2.3.4' }), parseTrustedProxies(''))).toBe('127.0.0.1');
    expect(() => parseTrustedProxies('not-an-ip')).toThrow(/TRUSTED_PROXIES/);
  });

  it("the server stamps the socket's address, overwriting a header the client forged", async () => {
    installPeerAddressHeader();
    const server = http.createServer((r, res) => res.end(String(r.headers[PEER_HEADER])));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as { port: number }).port;
      const body = await (await fetch(`http://127.0.0.1:${port}/`, { headers: { [PEER_HEADER]: '6.6.6.6' } })).text();
      expect(body).toBe('127.0.0.1');
    } finally {
      server.close();
    }
  });

  it('per-address and global windows are shared by two app instances through Redis', async () => {
    const redis = [new Redis(REDIS_URL), new Redis(REDIS_URL)];
    const prefix = `t_${randomBytes(4).toString('hex')}:`;
    try {
      const make = (r: Redis) =>
        createAuthLimits({ perAddress: 5, global: 8, windowMs: 60_000, hashConcurrency: 100, hashQueue: 100, hashPerAddress: 0, redis: r, prefix, onError: () => {} });
      const [a, b] = [make(redis[0]!), make(redis[1]!)];
      const gates = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 ? a : b).enter('203.0.113.1')));
      for (const g of gates) if (g.ok) g.release();
      expect(gates.filter((g) => g.ok)).toHaveLength(5);
      // Another address has its own window, up to the global 8 for the whole instance.
      const others = await Promise.all(Array.from({ length: 6 }, (_, i) => (i % 2 ? a : b).enter(`203.0.113.${10 + i}`)));
      for (const g of others) if (g.ok) g.release();
      expect(others.filter((g) => g.ok)).toHaveLength(3);
      expect(others.find((g) => !g.ok)).toMatchObject({ ok: false, retryAfter: expect.any(Number) });
    } finally {
      for (const r of redis) r.disconnect();
    }
  });
});
