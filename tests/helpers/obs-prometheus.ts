/**
 * Debian's prometheus binary for tests (installed by tests/run.sh): its own config scraping the
 * given targets every second, its own temporary TSDB, loopback only, and a small HTTP API client.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from './wait';

export const PROMETHEUS_BIN = process.env.PROMETHEUS_BIN ?? '/usr/bin/prometheus';

export interface PrometheusProc {
  url: string;
  proc: ChildProcess;
  output: string[];
  /** GET /api/v1/<path>; resolves with `data`. */
  api(path: string, params: Record<string, string>): Promise<unknown>;
  /** Instant query → { label-set → value }, keyed by the first label's value (or "" for a scalar-like result). */
  vector(query: string): Promise<Record<string, number>>;
  /** Poll an instant query until its single value satisfies `ok`. */
  waitValue(query: string, ok: (v: number) => boolean, what: string): Promise<number>;
  stop(): Promise<void>;
}

/** A free loopback port (prometheus needs a concrete one). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** Extra scrape job (e.g. the app's /metrics with its scrape token). */
export interface ScrapeJob {
  name: string;
  targets: string[];
  /** Sent as `Authorization: Bearer …` (Prometheus `authorization.credentials`). */
  bearerToken?: string;
}

export async function startPrometheus(targets: string[], opts: { scrapeInterval?: string; retention?: string; jobs?: ScrapeJob[]; ruleFiles?: string[] } = {}): Promise<PrometheusProc> {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-prom-'));
  const config = join(dir, 'prometheus.yml');
  const interval = opts.scrapeInterval ?? '1s';
  writeFileSync(
    config,
    `global:\n  scrape_interval: ${interval}\n  evaluation_interval: ${interval}\n` +
      (opts.ruleFiles?.length ? `rule_files:\n${opts.ruleFiles.map((f) => `  - '${f}'\n`).join('')}` : '') +
      `scrape_configs:\n  - job_name: collab-server\n    metrics_path: /metrics\n    static_configs:\n      - targets: [${targets.map((t) => `'${t}'`).join(', ')}]\n` +
      (opts.jobs ?? [])
        .map(
          (j) =>
            `  - job_name: ${j.name}\n    metrics_path: /metrics\n` +
            (j.bearerToken ? `    authorization:\n      type: Bearer\n      credentials: '${j.bearerToken}'\n` : '') +
            `    static_configs:\n      - targets: [${j.targets.map((t) => `'${t}'`).join(', ')}]\n`,
        )
        .join(''),
  );
  const port = await freePort();
  const proc = spawn(
    PROMETHEUS_BIN,
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--storage.tsdb.retention.time=${opts.retention ?? '1h'}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--enable-feature=exemplar-storage',
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const output: string[] = [];
  proc.stdout!.on('data', (d: Buffer) => output.push(d.toString()));
  proc.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    async () => {
      if (proc.exitCode !== null) throw new Error(`prometheus exited: ${output.join('')}`);
      return (await fetch(`${url}/-/ready`)).ok;
    },
    { timeout: 20_000, interval: 100, what: 'prometheus ready' },
  );

  async function api(path: string, params: Record<string, string>): Promise<unknown> {
    const res = await fetch(`${url}/api/v1/${path}?${new URLSearchParams(params)}`);
    const body = (await res.json()) as { status: string; data: unknown; error?: string };
    if (body.status !== 'success') throw new Error(`prometheus ${path}: ${body.error}`);
    return body.data;
  }
  async function vector(query: string): Promise<Record<string, number>> {
    const data = (await api('query', { query })) as { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
    const out: Record<string, number> = {};
    for (const r of data.result) out[Object.values(r.metric)[0] ?? ''] = Number(r.value[1]);
    return out;
  }
  return {
    url,
    proc,
    output,
    api,
    vector,
    async waitValue(query, ok, what) {
      let last: number | undefined;
      await waitFor(
        async () => {
          const v = Object.values(await vector(query));
          if (v.length !== 1) return false;
          last = v[0]!;
          return ok(last);
        },
        { timeout: 20_000, interval: 250, what: `${what} (${query}; last ${last})` },
      );
      return last!;
    },
    async stop() {
      if (proc.exitCode === null) {
        proc.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5000).unref())]);
        if (proc.exitCode === null) proc.kill('SIGKILL');
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
