// nginx with the shipped template (collab-server/deploy/nginx.conf.template) in front of three
// collab-server child processes on PostgreSQL + Redis: stock y-websocket clients work through it,
// a document's sockets land on one instance, and when that instance dies (SIGKILL) or drains
// (SIGTERM) its clients reconnect through nginx to another one without losing an edit.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import * as Y from 'yjs';
// yaml comes with vite (vitest); the compose file has no other parser here (Docker cannot run).
import { parse as parseYaml } from 'yaml';
import type { WebsocketProvider } from 'y-websocket';
import { CloseCode } from '../../lib/close-codes';
import { ClusterEnvSchema, clusterPlan } from '../../collab-server/deploy/cluster';
import { nginxBinary, prepareNginxPrefix } from '../../collab-server/deploy/nginx';
import { useCluster } from '../helpers/cluster';
import { ROOT, provider, sameState, synced, waitFor } from '../helpers/fixture';

const c = useCluster({ instances: 3, nginx: true });

const open: WebsocketProvider[] = [];
afterEach(() => {
  for (const p of open.splice(0)) p.destroy();
});

/** A stock provider through nginx (ws://127.0.0.1:<nginx>/collab/<docId>). */
async function client(docId: string, userId: string): Promise<WebsocketProvider> {
  const p = provider(c.nginxUrl!, docId, await c.token(userId, docId));
  open.push(p);
  return p;
}

/** Which instances hold sockets of `docId`, and how many each. */
async function placement(docId: string): Promise<Map<number, number>> {
  const where = new Map<number, number>();
  for (const inst of c.instances) {
    if (inst.proc.exitCode !== null || inst.proc.signalCode !== null) continue;
    const n = (await c.sessions(inst.index)).filter((s) => s.docId === docId).length;
    if (n) where.set(inst.index, n);
  }
  return where;
}

/**
 * A client that types one entry every few ms into a Y.Array and remembers each one: the entries
 * are atomic, so "every edit is present" is a set check on the final array.
 */
function typist(p: WebsocketProvider, name: string) {
  const log = p.doc.getArray<string>('log');
  const typed: string[] = [];
  const closes: number[] = [];
  p.on('connection-close', (e: CloseEvent | null) => {
    if (e) closes.push(e.code);
  });
  let n = 0;
  const timer = setInterval(() => {
    const entry = `${name}${n++}`;
    log.push([entry]);
    typed.push(entry);
  }, 15);
  return {
    typed,
    closes,
    stop: () => clearInterval(timer),
    missingFrom: (doc: Y.Doc) => {
      const have = new Set(doc.getArray<string>('log').toArray());
      return typed.filter((e) => !have.has(e));
    },
  };
}

describe('nginx in front of three collab-servers', () => {
  it('a stock y-websocket client works through nginx: two clients of one document converge', async () => {
    const owner = await c.user();
    const doc = await c.doc(owner);
    const a = await client(doc, owner);
    const b = await client(doc, owner);
    await synced(a);
    await synced(b);
    a.doc.getText('t').insert(0, 'hello from a');
    b.doc.getText('t').insert(0, 'hello from b ');
    await waitFor(() => sameState(a.doc, b.doc), { what: 'a and b converge through nginx' });
    expect(a.doc.getText('t').toString()).toContain('hello from a');
    expect(a.doc.getText('t').toString()).toContain('hello from b');
  });

  it("collab-server's HTTP endpoints are not reachable through nginx, only WebSocket upgrades", async () => {
    const base = c.nginxUrl!.replace(/^ws/, 'http');
    expect((await fetch(`${base}/metrics`)).status).toBe(426);
    expect((await fetch(`${base}/admin/sessions`)).status).toBe(404);
    expect((await fetch(`${base.replace(/\/collab$/, '')}/metrics`)).status).toBe(502);
  });

  it('the sockets of one document land on one instance, and documents spread over the instances', async () => {
    const owner = await c.user();
    const docs = await Promise.all(Array.from({ length: 12 }, () => c.doc(owner)));
    const ps = await Promise.all(docs.flatMap((d) => [client(d, owner), client(d, owner)]));
    await Promise.all(ps.map((p) => synced(p)));
    const used = new Set<number>();
    for (const d of docs) {
      const where = await waitFor(async () => {
        const w = await placement(d);
        return [...w.values()].reduce((x, y) => x + y, 0) === 2 ? w : null;
      }, { what: `both sockets of ${d} listed` });
      expect([...where.entries()], `sockets of ${d}`).toHaveLength(1);
      used.add([...where.keys()][0]!);
    }
    // With an empty hash key every document would land on one instance; 12 documents on 3
    // instances all hashing to the same one by chance has probability 3^-11.
    expect(used.size).toBeGreaterThan(1);
  });

  for (const signal of ['SIGKILL', 'SIGTERM'] as const) {
    it(`${signal} on the instance serving a document while two clients type: they reconnect through nginx to another instance and every edit is present on both`, async () => {
      // Path: client A, client B → nginx → instance X (killed) → nginx → instance Y; Y loads the
      // document from the PostgreSQL log, and each client's unacknowledged edits re-sync.
      const owner = await c.user();
      const doc = await c.doc(owner);
      const a = await client(doc, owner);
      const b = await client(doc, owner);
      await synced(a);
      await synced(b);
      const where = await waitFor(async () => {
        const w = await placement(doc);
        return w.get([...w.keys()][0]!) === 2 ? w : null;
      }, { what: 'both sockets on one instance' });
      const victim = [...where.keys()][0]!;
      const ta = typist(a, 'A');
      const tb = typist(b, 'B');
      try {
        await waitFor(() => ta.typed.length > 20 && tb.typed.length > 20, { what: 'some typing before the kill' });
        const code = await c.kill(victim, signal);
        if (signal === 'SIGTERM') expect(code, 'a drained instance exits 0').toBe(0);
        // Both reconnect (through nginx, to a survivor) and keep typing there.
        await waitFor(() => ta.closes.length > 0 && tb.closes.length > 0, { what: 'both sockets closed' });
        await waitFor(() => a.wsconnected && a.synced && b.wsconnected && b.synced, { timeout: 20_000, what: 'both reconnected and synced' });
        const before = ta.typed.length + tb.typed.length;
        await waitFor(() => ta.typed.length + tb.typed.length > before + 20, { what: 'typing after the reconnect' });
      } finally {
        ta.stop();
        tb.stop();
      }
      if (signal === 'SIGTERM') {
        // Graceful drain: the server said "restarting" (1012), not an abnormal close.
        expect(ta.closes[0]).toBe(CloseCode.SERVICE_RESTART);
        expect(tb.closes[0]).toBe(CloseCode.SERVICE_RESTART);
      }
      await waitFor(() => sameState(a.doc, b.doc), { timeout: 20_000, what: 'a and b converge after the failover' });
      expect(ta.missingFrom(b.doc), "A's edits missing on B").toEqual([]);
      expect(tb.missingFrom(a.doc), "B's edits missing on A").toEqual([]);
      expect(ta.missingFrom(a.doc)).toEqual([]);
      expect(tb.missingFrom(b.doc)).toEqual([]);
      const now = await placement(doc);
      expect(now.has(victim)).toBe(false);
      expect([...now.values()].reduce((x, y) => x + y, 0)).toBe(2);

      // Stored, not just held by the two clients: a fresh client gets every edit from the servers,
      // including from the restarted instance (which loads the document from the log).
      const fresh = await client(doc, owner);
      await synced(fresh);
      await waitFor(() => sameState(fresh.doc, a.doc), { what: 'a fresh client through nginx has everything' });
      await c.restart(victim);
      const direct = provider(c.instances[victim]!.url, doc, await c.token(owner, doc));
      open.push(direct);
      await synced(direct);
      await waitFor(() => sameState(direct.doc, a.doc), { what: 'a client of the restarted instance has everything' });
    });
  }
});

describe('shipped deploy files', () => {
  it('npm run cluster: 2 apps on 3001-3002, 3 collab-servers on 1241-1243, nginx on 8080, one key pair, and a config nginx accepts', () => {
    const plan = clusterPlan(ClusterEnvSchema.parse({}), { privatePem: 'PRIV', publicPem: 'PUB' });
    const byName = new Map(plan.processes.map((p) => [p.name, p]));
    expect([...byName.keys()]).toEqual(['app-1', 'app-2', 'collab-1', 'collab-2', 'collab-3', 'nginx']);
    expect(plan.publicHttpUrl).toBe('http://127.0.0.1:8080');
    expect(plan.publicCollabUrl).toBe('ws://127.0.0.1:8080/collab');
    for (const [i, port] of [[1, 3001], [2, 3002]] as const) {
      const app = byName.get(`app-${i}`)!;
      expect(app.command).toContain(`start -p ${port}`);
      expect(app.env).toMatchObject({ COLLAB_TOKEN_PRIVATE_KEY: 'PRIV', COLLAB_PUBLIC_URL: 'ws://127.0.0.1:8080/collab', COLLAB_HTTP_URL: 'http://127.0.0.1:1241' });
    }
    for (const [i, port] of [[1, 1241], [2, 1242], [3, 1243]] as const) {
      expect(byName.get(`collab-${i}`)!.env).toMatchObject({ COLLAB_PORT: String(port), INSTANCE_ID: `collab-${i}`, COLLAB_TOKEN_PUBLIC_KEY: 'PUB' });
    }
    for (const p of plan.processes.filter((x) => x.name !== 'nginx')) {
      expect(p.env).toMatchObject({ DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/postgres', DATABASE_SCHEMA: 'tandem', REDIS_URL: 'redis://127.0.0.1:6379' });
    }
    expect(plan.nginxConf).toContain('hash $doc consistent;');
    for (const port of [1241, 1242, 1243, 3001, 3002]) expect(plan.nginxConf).toContain(`server 127.0.0.1:${port} `);
    // `nginx -t` on the launcher's config, in a private prefix.
    const prefix = mkdtempSync(join(tmpdir(), 'tandem-nginx-t-'));
    try {
      const conf = prepareNginxPrefix(prefix, plan.nginxConf.replaceAll(plan.nginxPrefix, prefix));
      execFileSync(nginxBinary(), ['-t', '-q', '-p', prefix, '-c', conf, '-e', join(prefix, 'error.log'), '-g', `pid ${join(prefix, 'nginx.pid')};`], { stdio: 'pipe' });
    } finally {
      rmSync(prefix, { recursive: true, force: true });
    }
  });

  it('compose.yaml: postgres, redis, 2 apps, 3 collab-servers and nginx, all on one database and Redis', () => {
    const compose = parseYaml(readFileSync(join(ROOT, 'collab-server/deploy/compose.yaml'), 'utf8'), { merge: true }) as {
      services: Record<string, { environment?: Record<string, string>; command?: string[]; depends_on?: Record<string, unknown> }>;
    };
    const s = compose.services;
    expect(Object.keys(s).sort()).toEqual(['app-1', 'app-2', 'collab-1', 'collab-2', 'collab-3', 'init', 'nginx', 'postgres', 'redis']);
    const dbs = new Set<string>();
    for (const name of ['app-1', 'app-2', 'collab-1', 'collab-2', 'collab-3']) {
      const env = s[name]!.environment!;
      expect(env.INSTANCE_ID, name).toBe(name);
      expect(env.REDIS_URL, name).toBe('redis://redis:6379');
      dbs.add(env.DATABASE_URL!);
      expect(Object.keys(s[name]!.depends_on!)).toEqual(expect.arrayContaining(['init', 'postgres', 'redis']));
    }
    expect(dbs.size).toBe(1);
    expect(s['collab-1']!.command).toEqual(['node', '--import', 'tsx', 'collab-server/main.ts']);
    expect(s.init!.environment!.NGINX_COLLAB_SERVERS).toBe('collab-1:1234,collab-2:1234,collab-3:1234');
  });
});
