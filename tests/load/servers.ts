/**
 * Launchers for the servers the benchmark compares, each its own process pinned to one core
 * (taskset), with a raised file-descriptor limit, `--expose-gc` and gc-preload.cjs (so idle RSS is
 * measured after a full GC, identically for all).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { ServerTarget } from './sim-client';

export const ROOT = join(import.meta.dirname, '../..');

export interface RunningServer {
  target: ServerTarget & { pid: number };
  proc: ChildProcess;
  output: string[];
  stop(): Promise<number | null>;
}

export interface LaunchOpts {
  core: number;
  nofile: number;
  /** Extra node flags (e.g. --cpu-prof). */
  nodeFlags?: string[];
}

export type ServerKind = 'tandem' | 'tandem-notel' | 'hocuspocus' | 'y-websocket' | 'relay' | 'tandem-cluster';

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** A free loopback port (for the y-websocket server, which prints the port it was given, not the one it got). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Spawn `node <flags> <args>` under `ulimit -n` and `taskset -c core`, wait for the ready line. */
export async function launch(
  name: string,
  args: string[],
  env: Record<string, string>,
  ready: RegExp,
  opts: LaunchOpts,
  meta: Omit<ServerTarget, 'name' | 'url'>,
  knownPort?: number,
): Promise<RunningServer> {
  const node = [process.execPath, '--expose-gc', '--require', join(ROOT, 'tests/load/gc-preload.cjs'), ...(opts.nodeFlags ?? []), ...args];
  const cmd = `ulimit -n ${opts.nofile} && exec taskset -c ${opts.core} ${node.map(q).join(' ')}`;
  const proc = spawn('bash', ['-c', cmd], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  let buf = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start in 30 s: ${output.join('\n')}`)), 30_000);
    const onLine = (line: string) => {
      if (output.length < 200) output.push(line);
      const m = ready.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(knownPort ?? Number(m[1]));
      }
    };
    proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        onLine(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    });
    proc.stderr!.on('data', (d: Buffer) => {
      for (const l of d.toString().split('\n')) if (l.trim() && output.length < 200) output.push(l);
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code}: ${output.join('\n')}`));
    });
  });
  return {
    target: { name, url: `ws://127.0.0.1:${port}`, pid: proc.pid!, ...meta },
    proc,
    output,
    async stop() {
      if (proc.exitCode !== null) return proc.exitCode;
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
}

export interface TandemEnv {
  dataDir: string;
  /** Env for "everything on" or "telemetry off" (see bench.ts telemetrySwitches). */
  env: Record<string, string>;
}

/** Start one of the compared servers. */
export async function startServer(kind: ServerKind, opts: LaunchOpts, tandem?: TandemEnv): Promise<RunningServer> {
  const yws = { framing: 'yws' as const, stateful: true, handshake: true };
  switch (kind) {
    case 'tandem':
    case 'tandem-notel':
      return launch(
        kind,
        ['--import', 'tsx', join(ROOT, 'collab-server/main.ts')],
        // The benchmark's thousands of sockets share a few users: no per-user socket limit.
        { DATA_DIR: tandem!.dataDir, COLLAB_PORT: '0', COLLAB_HOST: '127.0.0.1', LOG_LEVEL: 'warn', MAX_CONNECTIONS_PER_USER: '0', MAX_CONNECTIONS_PER_IP: '0', SHED_EVENT_LOOP_LAG_MS: '0', ...tandem!.env },
        /"collab-server ready","port":(\d+)/,
        opts,
        yws,
      );
    case 'hocuspocus':
      return launch(kind, ['--import', 'tsx', join(ROOT, 'tests/load/hocuspocus-server.ts')], { PORT: '0', HOST: '127.0.0.1' }, /"hocuspocus ready","port":(\d+)/, opts, {
        framing: 'hocus',
        stateful: true,
        handshake: true,
      });
    case 'y-websocket': {
      const port = await freePort();
      return launch(kind, [join(ROOT, 'node_modules/y-websocket-v1/bin/server.js')], { PORT: String(port), HOST: '127.0.0.1' }, /running at/, opts, yws, port);
    }
    case 'relay':
      return launch(kind, ['--import', 'tsx', join(ROOT, 'tests/load/relay.ts')], { PORT: '0', HOST: '127.0.0.1' }, /"relay ready","port":(\d+)/, opts, {
        framing: 'yws',
        stateful: false,
        handshake: false,
      });
    case 'tandem-cluster':
      throw new Error('tandem-cluster is several processes: use startCluster');
  }
}

export interface RunningCluster {
  /** One target per instance (instance 1 first). */
  targets: (ServerTarget & { pid: number })[];
  instanceIds: string[];
  output: string[];
  stop(): Promise<(number | null)[]>;
}

/**
 * Start `n` collab-servers in scale-out mode (PostgreSQL + Redis from `env`, see seed-pg.ts),
 * each its own process on `opts.core` like the single servers, INSTANCE_ID `collab-<i>-<tag>` (the
 * tag keeps this run's PostgreSQL connections apart from other users' in pg_stat_activity).
 */
export async function startCluster(n: number, tag: string, opts: LaunchOpts, env: Record<string, string>): Promise<RunningCluster> {
  const started: RunningServer[] = [];
  const ids = Array.from({ length: n }, (_, i) => `collab-${i + 1}-${tag}`);
  try {
    // One at a time: the first migrates, and connect-time work does not overlap.
    for (const id of ids) {
      started.push(
        await launch(
          'tandem-cluster',
          ['--import', 'tsx', join(ROOT, 'collab-server/main.ts')],
          { COLLAB_PORT: '0', COLLAB_HOST: '127.0.0.1', LOG_LEVEL: 'warn', MAX_CONNECTIONS_PER_USER: '0', MAX_CONNECTIONS_PER_IP: '0', SHED_EVENT_LOOP_LAG_MS: '0', INSTANCE_ID: id, ...env },
          /"collab-server ready","port":(\d+)/,
          opts,
          { framing: 'yws', stateful: true, handshake: true },
        ),
      );
    }
  } catch (err) {
    await Promise.all(started.map((s) => s.stop()));
    throw err;
  }
  return {
    targets: started.map((s) => s.target),
    instanceIds: ids,
    get output() {
      return started.flatMap((s, i) => s.output.map((l) => `[${ids[i]}] ${l}`));
    },
    stop: () => Promise.all(started.map((s) => s.stop())),
  };
}
