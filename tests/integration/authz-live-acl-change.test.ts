// An access change takes effect on open sockets within a second, through the same feed the app
// writes (acl_version bump + acl_changes row, here via fixture.grant): an editor typing
// continuously who is downgraded to viewer has no update accepted after enforcement and is sent
// ROLE 'viewer'; a removed user is closed 4403 and the stock client does not reconnect.
import { describe, expect, it } from 'vitest';
import { useServer } from '../helpers/suite';
import WebSocket from 'ws';
import * as Y from 'yjs';
import { decodeJwt } from 'jose';
import { CloseCode } from '../../lib/close-codes';
import { encode } from '../../lib/protocol';
import { CollabClient, type ClosedInfo } from '../../lib/collab-client';
import type { Role } from '../../lib/acl';
import { join } from 'node:path';
import { createSqliteAclStore } from '../../collab-server/acl-store';
import { openSqlite } from '../../collab-server/persistence/sqlite';
import { provider, startServer, synced, waitFor } from '../helpers/fixture';
import { rawConnect, storedDoc } from '../helpers/raw-client';

const delays: Record<string, number> = {};
const s = useServer({ after: () => console.log('[authz-live-acl-change] measured delays (ms):', JSON.stringify(delays)) });
const { open, providers, clients } = s;

const text = (d: Y.Doc) => d.getText('t').toString();

async function collabClient(user: string, docId: string): Promise<CollabClient> {
  const c = await CollabClient.connect({
    docId,
    doc: new Y.Doc(),
    WebSocketPolyfill: WebSocket,
    disableBc: true,
    getToken: async () => {
      const token = await s.fx.token(user, docId);
      return { token, url: s.srv.url, expiresAt: decodeJwt(token).exp! * 1000 };
    },
  });
  clients.push(c);
  return c;
}

describe('downgrade editor → viewer while typing', () => {
  it('no update sent after enforcement is accepted, the extension client gets ROLE viewer, within 1 s', async () => {
    const owner = s.fx.user({ name: 'Olive Owner' });
    const typist = s.fx.user({ name: 'Tess Typist' });
    const docId = s.fx.doc(owner);
    s.fx.grant(docId, typist, 'editor');

    const watcher = await rawConnect(s.srv.url, docId, { token: await s.fx.token(owner, docId) });
    open.push(watcher);
    const ownerP = provider(s.srv.url, docId, await s.fx.token(owner, docId));
    providers.push(ownerP);
    const t = await rawConnect(s.srv.url, docId, { token: await s.fx.token(typist, docId), ext: true });
    open.push(t);
    await Promise.all([watcher.synced(), synced(ownerP), t.synced()]);
    await waitFor(() => t.of('role')[0], { what: 'initial ROLE' });
    expect(t.of('role')[0]!.role).toBe('editor');

    // Type one marker every 2 ms; remember when each was sent relative to the ROLE message.
    let i = 0;
    let roleAt = 0;
    const sentAfterRole: number[] = [];
    const typing = setInterval(() => {
      i++;
      if (roleAt) sentAfterRole.push(i);
      t.doc.getText('t').insert(t.doc.getText('t').length, `<${i}>`);
    }, 2);
    try {
      await waitFor(() => text(watcher.doc).includes('<20>'), { what: 'typing is flowing' });
      const changedAt = Date.now();
      s.fx.grant(docId, typist, 'viewer');
      await waitFor(() => {
        const r = t.received.find((x) => x.msg.kind === 'role' && x.msg.role === 'viewer');
        if (r) roleAt = r.at;
        return r;
      }, { timeout: 5000, what: 'ROLE viewer' });
      const firstDenied = await waitFor(() => t.received.find((x) => x.msg.kind === 'auth'), { timeout: 5000, what: 'first refusal' });
      // Keep typing well past enforcement.
      await waitFor(() => sentAfterRole.length >= 20, { what: 'keystrokes after enforcement' });
      delays.downgradeToRoleMessage = roleAt - changedAt;
      delays.downgradeToFirstRefusal = firstDenied.at - changedAt;
      expect(roleAt - changedAt).toBeLessThan(1000);
      expect(firstDenied.at - changedAt).toBeLessThan(1000);
    } finally {
      clearInterval(typing);
    }

    // Every frame the typist sent has been handled once the server answers a later sync step 1
    // (frames of one socket are handled in order)...
    const before = t.of('sync-step2').length;
    t.send(encode.syncStep1(Y.encodeStateVector(new Y.Doc())));
    await waitFor(() => t.of('sync-step2').length > before, { what: 'the server handled every typist frame' });
    // ...and anything accepted from them would be broadcast before a later owner edit.
    ownerP.doc.getText('t').insert(0, 'END');
    await waitFor(() => text(watcher.doc).startsWith('END'), { what: "the owner's later edit reaches the watcher" });
    await waitFor(() => text(storedDoc(s.fx, docId)).startsWith('END'), { what: "the owner's later edit is stored" });

    const seen = text(watcher.doc);
    const stored = text(storedDoc(s.fx, docId));
    const accepted = [...seen.matchAll(/<(\d+)>/g)].map((m) => Number(m[1]));
    expect(accepted.length).toBeGreaterThanOrEqual(20);
    // Accepted keystrokes are a gap-free prefix, and none was sent after ROLE viewer arrived.
    expect(accepted).toEqual(accepted.map((_, k) => k + 1));
    for (const n of sentAfterRole) {
      expect(seen).not.toContain(`<${n}>`);
      expect(stored).not.toContain(`<${n}>`);
    }
    expect(stored).toBe(seen);
    expect(t.of('auth').every((a) => /read-only/.test(a.reason))).toBe(true);
    expect(t.closeInfo).toBeNull();
  });

  it('a CollabClient learns its new role live (editor → viewer → editor)', async () => {
    const owner = s.fx.user();
    const user = s.fx.user();
    const docId = s.fx.doc(owner);
    s.fx.grant(docId, user, 'editor');
    const c = await collabClient(user, docId);
    const roles: { role: Role | null; at: number }[] = [];
    c.on('role', (role) => roles.push({ role, at: Date.now() }));
    await waitFor(() => c.role === 'editor', { what: 'initial role editor' });

    const t0 = Date.now();
    s.fx.grant(docId, user, 'viewer');
    const v = await waitFor(() => roles.find((r) => r.role === 'viewer'), { timeout: 5000, what: 'role viewer' });
    delays.collabClientRoleViewer = v.at - t0;
    expect(v.at - t0).toBeLessThan(1000);

    const t1 = Date.now();
    s.fx.grant(docId, user, 'editor');
    const e = await waitFor(() => roles.find((r) => r.role === 'editor' && r.at >= t1), { timeout: 5000, what: 'role editor again' });
    expect(e.at - t1).toBeLessThan(1000);
    expect(c.closedInfo).toBeNull();
  });
});

describe('removal', () => {
  it('a removed user is closed 4403 within 1 s and the stock client does not reconnect', async () => {
    const owner = s.fx.user();
    const removed = s.fx.user();
    const control = s.fx.user();
    const docId = s.fx.doc(owner);
    s.fx.grant(docId, removed, 'editor');
    s.fx.grant(docId, control, 'editor');
    const removedToken = await s.fx.token(removed, docId);
    const controlToken = await s.fx.token(control, docId);
    const rp = provider(s.srv.url, docId, removedToken);
    const cp = provider(s.srv.url, docId, controlToken);
    providers.push(rp, cp);
    await Promise.all([synced(rp), synced(cp)]);
    const attempts = (token: string) => s.upgrades.filter((u) => u.includes(token)).length;
    expect(attempts(removedToken)).toBe(1);

    const closes: { code: number; reason: string; at: number }[] = [];
    rp.on('closed', ({ code, reason }) => closes.push({ code, reason, at: Date.now() }));
    const t0 = Date.now();
    s.fx.grant(docId, removed, null);
    const closed = await waitFor(() => closes[0], { timeout: 5000, what: 'removed provider closed' });
    delays.removalToClose = closed.at - t0;
    expect(closed.code).toBe(CloseCode.FORBIDDEN);
    expect(closed.reason).toMatch(/revoked/);
    expect(closed.at - t0).toBeLessThan(1000);

    // Control: drop the other provider's socket now (not permanent). Its reconnect follows the same
    // back-off the removed provider would use, so once it is back the removed one had its chance.
    const controlConn = [...s.srv.server.connections].find((c) => c.userId === control)!;
    controlConn.ws.terminate();
    await waitFor(() => attempts(controlToken) === 2 && cp.synced, { what: 'the control provider reconnected' });
    expect(attempts(removedToken)).toBe(1);
    expect(rp.shouldConnect).toBe(false);
    expect(rp.wsconnected).toBe(false);
    expect([...s.srv.server.connections].some((c) => c.userId === removed)).toBe(false);
  });

  it('a removed CollabClient reports a permanent close with the reason', async () => {
    const owner = s.fx.user();
    const user = s.fx.user();
    const docId = s.fx.doc(owner);
    s.fx.grant(docId, user, 'viewer');
    const c = await collabClient(user, docId);
    await waitFor(() => c.role === 'viewer', { what: 'connected as viewer' });
    const seen: ClosedInfo[] = [];
    c.on('closed', (i) => seen.push(i));
    s.fx.grant(docId, user, null);
    const info = await waitFor(() => seen[0], { timeout: 5000, what: 'closed event' });
    expect(info).toEqual({ code: CloseCode.FORBIDDEN, reason: 'access revoked', permanent: true });
    expect(c.status.state).toBe('closed');
    expect(c.provider.shouldConnect).toBe(false);
  });
});

describe('a grant that the change feed has not delivered yet', () => {
  it('a user given access a moment ago is admitted at once, not refused with a (permanent) 4403', async () => {
    // A server whose feed never delivers: its live ACL stays as loaded, like in the poll window
    // right after the app committed a grant and minted the grantee a token.
    const db = openSqlite(join(s.fx.dir, 'tandem.db'));
    const acl = { ...createSqliteAclStore(db, 50), watch: () => () => {} };
    const lagging = await startServer(s.fx, { acl });
    try {
      const owner = s.fx.user();
      const newcomer = s.fx.user();
      const docId = s.fx.doc(owner);
      const ownerC = await rawConnect(lagging.url, docId, { token: await s.fx.token(owner, docId) });
      open.push(ownerC);
      await ownerC.synced(); // the document is live, with an ACL that does not know the newcomer
      s.fx.grant(docId, newcomer, 'editor');
      const c = await rawConnect(lagging.url, docId, { token: await s.fx.token(newcomer, docId) });
      open.push(c);
      await c.synced();
      c.doc.getText('t').insert(0, 'hello');
      await waitFor(() => text(ownerC.doc) === 'hello', { what: "the newcomer's edit reaches the owner" });
      expect(c.closeInfo).toBeNull();
      expect(c.of('auth')).toEqual([]);
      // Still refused when the database says no.
      const stranger = s.fx.user();
      const s2 = await rawConnect(lagging.url, docId, { token: await s.fx.token(stranger, docId) });
      open.push(s2);
      expect((await s2.closed).code).toBe(CloseCode.FORBIDDEN);
    } finally {
      await lagging.close();
      db.close();
    }
  });
});
