// The admin endpoints on collab-server's HTTP port list live sessions and disconnect one (4403,
// permanent), only for a short-lived admin token of a user who is an instance admin right now:
// 401 without a token, 403 for anyone else's token.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebsocketProvider } from 'y-websocket';
import { CloseCode } from '../../lib/close-codes';
import { signAdminToken } from '../../lib/token';
import { createFixture, provider, startServer, synced, waitFor, type Fixture, type InProcessServer } from '../helpers/fixture';
import { fixtureKeys, upgradeLog } from '../helpers/raw-client';

let fx: Fixture;
let srv: InProcessServer;
let keys: Awaited<ReturnType<typeof fixtureKeys>>;
let admin: string;
let plain: string;
let upgrades: string[];
const providers: WebsocketProvider[] = [];

beforeAll(async () => {
  fx = await createFixture();
  srv = await startServer(fx);
  keys = await fixtureKeys(fx);
  admin = fx.user({ name: 'Ada Admin', isAdmin: true });
  plain = fx.user({ name: 'Pat Plain' });
  upgrades = upgradeLog(srv);
});
afterAll(async () => {
  for (const p of providers) p.destroy();
  await srv.close();
  fx.cleanup();
});

interface Session {
  connId: string;
  docId: string;
  userId: string;
  name: string;
  role: string;
  openedAt: string;
  remoteAddress: string;
}

async function call(method: string, path: string, bearer?: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${srv.port}${path}`, {
    method,
    headers: bearer ? { authorization: `Bearer ${bearer}` } : {},
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}
const adminToken = (sub = admin) => signAdminToken(keys.privateKey, { sub });

async function session(user: string, docId: string) {
  const token = await fx.token(user, docId);
  const p = provider(srv.url, docId, token);
  providers.push(p);
  await synced(p);
  return { p, token };
}

describe('authorization of the admin endpoints', () => {
  it('401 without a token, for GET and DELETE', async () => {
    expect((await call('GET', '/admin/sessions')).status).toBe(401);
    expect((await call('DELETE', '/admin/sessions/c1')).status).toBe(401);
    expect((await call('GET', '/admin/sessions', '')).status).toBe(401);
  });

  it("403 for a non-admin user's admin token, and the session is left alone", async () => {
    const docId = fx.doc(plain);
    const { p } = await session(plain, docId);
    const conn = [...srv.server.connections].find((c) => c.userId === plain && c.docId === docId)!;
    const t = await adminToken(plain);
    expect((await call('GET', '/admin/sessions', t)).status).toBe(403);
    expect((await call('DELETE', `/admin/sessions/${conn.id}`, t)).status).toBe(403);
    // A later successful admin listing still shows it: the refused DELETE did nothing.
    const list = await call('GET', '/admin/sessions', await adminToken());
    expect((list.body.sessions as Session[]).some((s) => s.connId === conn.id)).toBe(true);
    expect(p.wsconnected).toBe(true);
  });

  it('403 for a collab token, a garbage token and an admin token signed by another key', async () => {
    const docId = fx.doc(admin);
    expect((await call('GET', '/admin/sessions', await fx.token(admin, docId))).status).toBe(403);
    expect((await call('GET', '/admin/sessions', 'garbage')).status).toBe(403);
    const { generateKeyPair } = await import('jose');
    const foreign = await generateKeyPair('EdDSA');
    expect((await call('GET', '/admin/sessions', await signAdminToken(foreign.privateKey, { sub: admin }))).status).toBe(403);
  });

  it('403 once the user is no longer an instance admin, even with a token minted while they were', async () => {
    const former = fx.user({ isAdmin: true });
    const t = await adminToken(former);
    expect((await call('GET', '/admin/sessions', t)).status).toBe(200);
    fx.db.prepare('UPDATE users SET is_admin = 0 WHERE id = ?').run(former);
    expect((await call('GET', '/admin/sessions', t)).status).toBe(403);
  });
});

describe('listing and disconnecting sessions', () => {
  it('lists live sessions with who, which document and role', async () => {
    const owner = fx.user({ name: 'Olive Owner' });
    const viewer = fx.user({ name: 'Vic Viewer' });
    const docId = fx.doc(owner);
    fx.grant(docId, viewer, 'viewer');
    await session(owner, docId);
    await session(viewer, docId);
    const res = await call('GET', '/admin/sessions', await adminToken());
    expect(res.status).toBe(200);
    const mine = (res.body.sessions as Session[]).filter((s) => s.docId === docId);
    expect(mine.map((s) => [s.userId, s.name, s.role]).sort()).toEqual(
      [
        [owner, 'Olive Owner', 'owner'],
        [viewer, 'Vic Viewer', 'viewer'],
      ].sort(),
    );
    for (const s of mine) {
      expect(s.connId).toMatch(/\S/);
      expect(Date.parse(s.openedAt)).not.toBeNaN();
      expect(s.remoteAddress).toMatch(/127\.0\.0\.1/);
    }
    // Exactly the live authorized connections.
    const live = [...srv.server.connections].filter((c) => c.authorized && !c.closed).map((c) => c.id).sort();
    expect((res.body.sessions as Session[]).map((s) => s.connId).sort()).toEqual(live);
  });

  it('DELETE closes that socket with 4403, the stock client does not reconnect, and the list no longer has it', async () => {
    const owner = fx.user();
    const victim = fx.user({ name: 'Kicked Out' });
    const bystander = fx.user();
    const docId = fx.doc(owner, { general: 'editor' });
    const v = await session(victim, docId);
    const b = await session(bystander, docId);
    const t = await adminToken();
    const listed = (await call('GET', '/admin/sessions', t)).body.sessions as Session[];
    const target = listed.find((s) => s.userId === victim && s.docId === docId)!;
    expect(target).toBeDefined();

    const closes: { code: number; reason: string }[] = [];
    v.p.on('closed', (e) => closes.push(e));
    const res = await call('DELETE', `/admin/sessions/${encodeURIComponent(target.connId)}`, t);
    expect(res).toEqual({ status: 200, body: { closed: target.connId } });
    const closed = await waitFor(() => closes[0], { what: 'victim closed' });
    expect(closed.code).toBe(CloseCode.FORBIDDEN);
    expect(closed.reason).toMatch(/administrator/);

    // Control: drop the bystander's socket (not permanent); once it has reconnected, the victim's
    // provider had the same back-off to try, and did not.
    [...srv.server.connections].find((c) => c.userId === bystander)!.ws.terminate();
    await waitFor(() => upgrades.filter((u) => u.includes(b.token)).length === 2 && b.p.synced, { what: 'bystander reconnected' });
    expect(upgrades.filter((u) => u.includes(v.token)).length).toBe(1);
    expect(v.p.shouldConnect).toBe(false);
    const after = (await call('GET', '/admin/sessions', await adminToken())).body.sessions as Session[];
    expect(after.some((s) => s.connId === target.connId)).toBe(false);
    expect(after.some((s) => s.userId === victim)).toBe(false);
    expect(after.some((s) => s.userId === bystander && s.docId === docId)).toBe(true);
  });

  it('DELETE of an unknown session is 404', async () => {
    const res = await call('DELETE', '/admin/sessions/no-such-conn', await adminToken());
    expect(res.status).toBe(404);
  });
});
