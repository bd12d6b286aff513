/**
 * nginx in front of a Tandem cluster on one machine: renders nginx.conf.template into a private
 * prefix directory and runs Debian's nginx on it (never the system service or /etc/nginx). Used by
 * the `npm run cluster` launcher and by the cluster test helper.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';

export const NGINX_TEMPLATE = resolve(import.meta.dirname, 'nginx.conf.template');

export interface NginxConfigOptions {
  /** Directory for the rendered config, logs, pid and temp files. */
  prefix: string;
  /** `host:port` to listen on, e.g. 127.0.0.1:8080. */
  listen: string;
  /** `host:port` of each app instance (round robin). Empty: `/` answers 502. */
  appServers: string[];
  /** `host:port` of each collab-server (consistent hash of the document id). */
  collabServers: string[];
  /** Worker processes (default 1: one machine, shared with the instances behind it). */
  workers?: number | 'auto';
  /** Seconds an instance stays marked down after a failed connect (default 5). */
  failTimeoutSeconds?: number;
  /** Log destinations (default <prefix>/error.log and <prefix>/access.log). */
  errorLog?: string;
  accessLog?: string;
}

const serverLine = (addr: string, failTimeout: number) => {
  if (!/^[\w.-]+:\d{1,5}$/.test(addr)) throw new Error(`nginx upstream address must be host:port, got ${JSON.stringify(addr)}`);
  return `    server ${addr} max_fails=1 fail_timeout=${failTimeout}s;`;
};

/** The nginx configuration text for `o` (placeholders of nginx.conf.template filled in). */
export function renderNginxConfig(o: NginxConfigOptions, template = readFileSync(NGINX_TEMPLATE, 'utf8')): string {
  if (!o.collabServers.length) throw new Error('nginx needs at least one collab-server upstream');
  const ft = o.failTimeoutSeconds ?? 5;
  // An upstream block needs a server; with no app instance, one marked down makes `/` answer 502.
  const app = o.appServers.length ? o.appServers.map((a) => serverLine(a, ft)).join('\n') : '    server 127.0.0.1:9 down;  # no app instance in this setup';
  const values: Record<string, string> = {
    PREFIX: resolve(o.prefix),
    ERROR_LOG: o.errorLog ?? join(resolve(o.prefix), 'error.log'),
    ACCESS_LOG: o.accessLog ?? join(resolve(o.prefix), 'access.log'),
    LISTEN: o.listen,
    WORKERS: String(o.workers ?? 1),
    APP_SERVERS: app,
    COLLAB_SERVERS: o.collabServers.map((a) => serverLine(a, ft)).join('\n'),
  };
  const out = template.replace(/\{\{([A-Z_]+)\}\}/g, (m, k: string) => {
    if (!(k in values)) throw new Error(`nginx template: unknown placeholder ${m}`);
    return values[k]!;
  });
  return out;
}

/** Debian installs nginx in /usr/sbin, which is not on every user's PATH. */
export function nginxBinary(env: NodeJS.ProcessEnv = process.env): string {
  if (env.NGINX_BIN) return env.NGINX_BIN;
  for (const p of ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/bin/nginx']) if (existsSync(p)) return p;
  return 'nginx';
}

/** Create the prefix's directories and write `conf` to <prefix>/nginx.conf; returns that path. */
export function prepareNginxPrefix(prefix: string, conf: string): string {
  mkdirSync(prefix, { recursive: true });
  // Started as root, nginx's workers run as `nobody`: they must reach the prefix and write temp files.
  chmodSync(prefix, 0o755);
  for (const d of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) {
    mkdirSync(join(prefix, 'tmp', d), { recursive: true });
    chmodSync(join(prefix, 'tmp', d), 0o777);
  }
  chmodSync(join(prefix, 'tmp'), 0o755);
  const confPath = join(prefix, 'nginx.conf');
  writeFileSync(confPath, conf);
  return confPath;
}

export interface RunningNginx {
  proc: ChildProcess;
  prefix: string;
  confPath: string;
  /** http://<listen> */
  httpUrl: string;
  /** ws://<listen>/collab: append /<docId>. */
  collabUrl: string;
  /** Resolves with the exit code (or the signal name). */
  exited: Promise<number | string | null>;
  /** Graceful stop (SIGQUIT lets workers finish), SIGKILL after `timeoutMs`. */
  stop(timeoutMs?: number): Promise<void>;
}

/**
 * Render the config into `o.prefix` and start nginx in the foreground on it; resolves once the
 * listen address accepts connections (rejects with nginx's own error output if it exits first).
 */
export async function startNginx(o: NginxConfigOptions & { stdio?: 'pipe' | 'inherit'; timeoutMs?: number }): Promise<RunningNginx> {
  const prefix = resolve(o.prefix);
  const confPath = prepareNginxPrefix(prefix, renderNginxConfig(o));
  const errorLog = join(prefix, 'error.log');
  const proc = spawn(nginxBinary(), ['-p', prefix, '-c', confPath, '-e', errorLog, '-g', `daemon off; pid ${join(prefix, 'nginx.pid')};`], {
    stdio: o.stdio === 'inherit' ? ['ignore', 'inherit', 'inherit'] : ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  proc.stdout?.resume();
  const exited = new Promise<number | string | null>((r) => proc.on('exit', (code, signal) => r(code ?? signal)));
  const spawnError = new Promise<never>((_, reject) => proc.on('error', (err) => reject(new Error(`cannot run nginx (${nginxBinary()}): ${err.message}. Install it: apt-get install -y nginx`))));
  const [host, port] = splitHostPort(o.listen);
  const deadline = Date.now() + (o.timeoutMs ?? 10_000);
  const failed = exited.then((code) => {
    const log = existsSync(errorLog) ? readFileSync(errorLog, 'utf8') : '';
    throw new Error(`nginx exited with ${code}: ${stderr}${log}`.trim());
  });
  await Promise.race([waitForPort(host, port, deadline), failed, spawnError]);
  failed.catch(() => {});
  spawnError.catch(() => {});
  const base = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  return {
    proc,
    prefix,
    confPath,
    httpUrl: `http://${base}`,
    collabUrl: `ws://${base}/collab`,
    exited,
    async stop(timeoutMs = 5_000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGQUIT');
      const t = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
      await exited;
      clearTimeout(t);
    },
  };
}

function splitHostPort(listen: string): [string, number] {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(listen);
  if (!m) throw new Error(`listen address must be host:port, got ${JSON.stringify(listen)}`);
  return [m[1] ?? m[2]!, Number(m[3])];
}

async function waitForPort(host: string, port: number, deadline: number): Promise<void> {
  for (;;) {
    const ok = await new Promise<boolean>((r) => {
      const s = connect({ host, port }, () => {
        s.destroy();
        r(true);
      });
      s.on('error', () => r(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nginx did not listen on ${host}:${port} in time`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
