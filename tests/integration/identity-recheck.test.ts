// What happens to a user after connect reaches the open sockets (issue 11): a token issued before
// the user signed out (the app sets users.tokens_not_before) opens no socket and its open sockets
// close 4401; a demoted instance admin loses admin rights on sockets already open (4403 where the
// role came only from being admin); a deleted account's sockets close 4401.
import { describe, expect, it } from 'vitest';
import { CloseCode } from '../../lib/close-codes';
import { createFixture, startServer, waitFor } from '../helpers/fixture';
import { rawConnect } from '../helpers/raw-client';

describe('open sockets follow their user', () => {
  it('sign-out (tokens_not_before) closes open sockets 4401 and refuses the old token; a new token works', async () => {
    const fx = await createFixture();
    const srv = await startServer(fx, { identityRecheckMs: 200 });
    try {
      const u = fx.user();
      const docId = fx.doc(u);
      const oldToken = await fx.token(u, docId);
      const c = await rawConnect(srv.url, docId, { token: oldToken });
      await c.synced();
      // What the app does on sign-out: tokens issued before now are void.
      fx.db.prepare('UPDATE users SET tokens_not_before = ? WHERE id = ?').run(Date.now() + 1000, u);
      const closed = await waitFor(() => c.closeInfo, { timeout: 5000, what: 'open socket closed' });
      expect(closed.code).toBe(CloseCode.UNAUTHORIZED);
      expect(closed.reason).toMatch(/signed out/);
      const again = await rawConnect(srv.url, docId, { token: oldToken });
      expect((await again.closed).code).toBe(CloseCode.UNAUTHORIZED);
      // Signed in again later: a token issued after the sign-out connects.
      fx.db.prepare('UPDATE users SET tokens_not_before = ? WHERE id = ?').run(Date.now() - 10_000, u);
      const fresh = await rawConnect(srv.url, docId, { token: await fx.token(u, docId) });
      await fresh.synced();
      fresh.close();
    } finally {
      await srv.close();
      fx.cleanup();
    }
  });

  it("a demoted instance admin's open socket on someone else's document is closed 4403; a deleted account's 4401", async () => {
    const fx = await createFixture();
    const srv = await startServer(fx, { identityRecheckMs: 200 });
    try {
      const owner = fx.user();
      const admin = fx.user({ isAdmin: true });
      const gone = fx.user();
      const docId = fx.doc(owner);
      fx.grant(docId, gone, 'viewer');
      const a = await rawConnect(srv.url, docId, { token: await fx.token(admin, docId), ext: true });
      await a.synced();
      const g = await rawConnect(srv.url, docId, { token: await fx.token(gone, docId) });
      await g.synced();
      fx.db.prepare('UPDATE users SET is_admin = 0 WHERE id = ?').run(admin);
      const closed = await waitFor(() => a.closeInfo, { timeout: 5000, what: "the demoted admin's socket closed" });
      expect(closed.code).toBe(CloseCode.FORBIDDEN);
      fx.db.prepare('DELETE FROM grants WHERE user_id = ?').run(gone);
      fx.db.prepare('DELETE FROM users WHERE id = ?').run(gone);
      const gc = await waitFor(() => g.closeInfo, { timeout: 5000, what: "the deleted account's socket closed" });
      expect(gc.code).toBe(CloseCode.UNAUTHORIZED);
    } finally {
      await srv.close();
      fx.cleanup();
    }
  });
});
