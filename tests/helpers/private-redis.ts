/**
 * A private redis-server for chaos tests (pause it, kill its clients, stop it) without disturbing
 * the machine's shared Redis that other test files use at the same time.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { waitFor } from './wait';

export interface PrivateRedis {
  url: string;
  port: number;
  /** A plain client for admin commands (CLIENT KILL, CLIENT PAUSE). */
  admin: Redis;
  /** The server dies (SIGKILL): every connection drops, nothing answers. */
  kill(): Promise<void>;
  /** Start it again on the same port (empty: Redis keeps nothing on disk here). */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** A free TCP port on loopback (redis-server --port 0 would mean "no TCP"). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'tandem-redis-'));
  const spawnRedis = () =>
    spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  let proc: ChildProcess = spawnRedis();
  const url = `redis://127.0.0.1:${port}`;
  const admin = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => 50 });
  admin.on('error', () => {});
  const up = () =>
    waitFor(async () => {
      if (admin.status !== 'ready') await admin.connect().catch(() => {});
      return (await admin.ping()) === 'PONG';
    }, { what: 'private redis-server up', timeout: 10_000 });
  await up();
  return {
    url,
    port,
    admin,
    async kill() {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGKILL');
      await exited;
    },
    async start() {
      proc = spawnRedis();
      await up();
    },
    async stop() {
      admin.disconnect();
      proc.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
