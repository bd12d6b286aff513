// collab-server's secure defaults (issue 11, lower items): loopback listen address, /metrics only
// for allowed networks or with the scrape token, /readyz never echoes store errors, the app's own
// Origin by default, no private key created by collab-server, and access logs without tokens
// (the shipped nginx config really run, the README sample checked).
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { allowedOriginsFor, parseCollabConfig } from '../../lib/config';
import { CloseCode } from '../../lib/close-codes';
import { createScrapeAccess } from '../../observability/scrape-access';
import { createSqliteDocStore, openSqlite } from '../../collab-server/persistence/sqlite';
import { nginxBinary, startNginx } from '../../collab-server/deploy/nginx';
import { createFixture, ROOT, spawnServer, startServer, waitFor, type ChildServer, type Fixture } from '../helpers/fixture';
import { rawConnect } from '../helpers/raw-client';

const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

function get(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, headers }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      })
      .on('error', reject);
  });
}

async function child(fx: Fixture, env: Record<string, string> = {}): Promise<ChildServer> {
  const c = await spawnServer(fx, env);
  cleanups.push(async () => {
    c.proc.kill('SIGKILL');
    await c.exited;
  });
  return c;
}

describe('collab-server defaults', () => {
  it('listens on loopback unless told otherwise; ALLOWED_ORIGINS defaults to the app origin', () => {
    const cfg = parseCollabConfig({});
    expect(cfg.COLLAB_HOST).toBe('127.0.0.1');
    expect(allowedOriginsFor(cfg)).toEqual(['http://localhost:3000', 'http://127.0.0.1:3000', 'http://[::1]:3000']);
    expect(allowedOriginsFor(parseCollabConfig({ PORT: '8081' }))).toContain('http://127.0.0.1:8081');
    expect(allowedOriginsFor(parseCollabConfig({ APP_PUBLIC_URL: 'https://docs.example.com/' }))).toEqual(['https://docs.example.com']);
    expect(allowedOriginsFor(parseCollabConfig({ ALLOWED_ORIGINS: 'https://a.example, https://b.example' }))).toEqual(['https://a.example', 'https://b.example']);
    expect(allowedOriginsFor(parseCollabConfig({ ALLOWED_ORIGINS: '*' }))).toBeNull();
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    expect(readme).toMatch(/^\| `COLLAB_HOST` \| `127\.0\.0\.1` \|/m);
  });

  it("an unknown browser Origin is refused 403 by default; the app's origin and Origin-less clients connect", async () => {
    const fx = await createFixture();
    cleanups.push(() => fx.cleanup());
    const srv = await child(fx, { PORT: '4567' });
    const owner = fx.user();
    const docId = fx.doc(owner);
    const evil = await rawConnect(srv.url, docId, { token: await fx.token(owner, docId), origin: 'http://evil.example' });
    expect((await evil.handshake).status).toBe(403);
    for (const origin of ['http://localhost:4567', undefined]) {
      const ok = await rawConnect(srv.url, docId, { token: await fx.token(owner, docId), origin });
      await ok.synced();
      ok.close();
    }
    const any = await child(fx, { ALLOWED_ORIGINS: '*' });
    const e2 = await rawConnect(any.url, docId, { token: await fx.token(owner, docId), origin: 'http://evil.example' });
    await e2.synced();
    e2.close();
  });

  it('/metrics: loopback by default; elsewhere only with METRICS_TOKEN', async () => {
    const fx = await createFixture();
    cleanups.push(() => fx.cleanup());
    const open = await child(fx);
    expect((await get(open.port, '/metrics')).status).toBe(200); // the test connects from loopback
    const token = 'scrape-token-0123456789abcdef';
    const guarded = await child(fx, { METRICS_ALLOWED_NETWORKS: '', METRICS_TOKEN: token });
    expect((await get(guarded.port, '/metrics')).status).toBe(401);
    expect((await get(guarded.port, '/metrics', { authorization: 'Bearer wrong-token-0123456789' })).status).toBe(401);
    const ok = await get(guarded.port, '/metrics', { authorization: `Bearer ${token}` });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatch(/tandem_/);
  });

  it('/readyz says the store is unreachable without echoing its error', async () => {
    const fx = await createFixture();
    cleanups.push(() => fx.cleanup());
    const db = openSqlite(join(fx.dir, 'tandem.db'));
    const store = createSqliteDocStore(db);
    const secret = 'connect ECONNREFUSED 10.1.2.3:5432 (user tandem, password hunter2)';
    const srv = await startServer(fx, { store: { ...store, ping: () => Promise.reject(new Error(secret)) } });
    cleanups.push(async () => {
      await srv.close();
      db.close();
    });
    const r = await get(srv.port, '/readyz');
    expect(r.status).toBe(503);
    expect(r.body).toBe('store unreachable\n');
    expect(JSON.stringify(srv.logs.lines)).toContain('hunter2'); // the operator still sees why
  });

  it('creates no private key: it waits for the public key the app creates, then verifies with it', async () => {
    const fx = await createFixture();
    cleanups.push(() => fx.cleanup());
    // As on a fresh machine where collab-server starts first: no keys yet.
    renameSync(join(fx.dir, 'keys'), join(fx.dir, 'keys.app'));
    const srv = await child(fx);
    const owner = fx.user();
    const docId = fx.doc(owner);
    const early = await rawConnect(srv.url, docId, { token: await fx.token(owner, docId) });
    expect((await early.closed).code).toBe(CloseCode.UNAUTHORIZED);
    const files = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir, { recursive: true }).map(String) : []);
    for (const f of files(fx.dir)) {
      const p = join(fx.dir, f);
      if (f.startsWith('keys.app')) continue;
      expect(f.endsWith('.key') || (/\.(pem|key|pub)$/.test(f) && readFileSync(p, 'utf8').includes('PRIVATE KEY')), f).toBe(false);
    }
    // The app creates its key pair (here: the fixture's); collab-server picks the public key up.
    rmSync(join(fx.dir, 'keys'), { recursive: true, force: true });
    renameSync(join(fx.dir, 'keys.app'), join(fx.dir, 'keys'));
    await waitFor(async () => {
      const c = await rawConnect(srv.url, docId, { token: await fx.token(owner, docId) });
      const ok = await c.synced(2000).then(() => true, () => false);
      c.close();
      return ok;
    }, { timeout: 10_000, what: 'a token verifies once the app created the keys' });
  });
});

describe('collab tokens stay out of access logs', () => {
  it('the shipped nginx config logs the path of a socket opened with ?token=, never the token', async () => {
    if (!existsSync(nginxBinary())) throw new Error('nginx is required (apt-get install -y nginx)');
    const fx = await createFixture();
    cleanups.push(() => fx.cleanup());
    const srv = await child(fx);
    const prefix = mkdtempSync(join(tmpdir(), 'tandem-nginx-'));
    cleanups.push(() => rmSync(prefix, { recursive: true, force: true }));
    const port = await new Promise<number>((r) => {
      const s = http.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => r(p));
      });
    });
    const nginx = await startNginx({ prefix, listen: `127.0.0.1:${port}`, appServers: [], collabServers: [`127.0.0.1:${srv.port}`] });
    cleanups.push(() => nginx.stop());
    const owner = fx.user();
    const docId = fx.doc(owner);
    const token = await fx.token(owner, docId);
    const c = await rawConnect(nginx.collabUrl, docId, { token });
    await c.synced();
    c.close();
    const log = await waitFor(() => {
      const t = existsSync(join(prefix, 'access.log')) ? readFileSync(join(prefix, 'access.log'), 'utf8') : '';
      return t.includes(docId) ? t : null;
    }, { what: 'the socket in the access log' });
    expect(log).not.toContain(token);
    expect(log).not.toContain('token=');
  });

  it("README's TLS sample defines a token-free log format and uses it", () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('### TLS termination'));
    const sample = /```nginx\n([\s\S]*?)```/.exec(section)![1]!;
    const format = /^log_format (\w+) ([^;]+);/m.exec(sample);
    expect(format, 'a log_format in the sample').not.toBeNull();
    expect(format![2]).not.toMatch(/\$request\b|\$request_uri|\$args|\$query_string|\$arg_token/);
    expect(sample).toMatch(new RegExp(`^\\s*access_log \\S+ ${format![1]};`, 'm'));
  });
});
