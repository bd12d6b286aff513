// An upgrade request with a malformed path is refused with HTTP 400 and the server keeps serving:
// one unauthenticated request with a bad percent-escape (or an unparseable URL) used to throw in the upgrade
// handler and take the whole collab-server process down. Runs the real process, so a crash shows
// up as an exit.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFixture, spawnServer, type ChildServer, type Fixture } from '../helpers/fixture';
import { rawConnect, type RawClient } from '../helpers/raw-client';

let fx: Fixture;
let srv: ChildServer;
let exitCode: number | null | undefined;
const open: RawClient[] = [];

beforeAll(async () => {
  fx = await createFixture();
  srv = await spawnServer(fx);
  void srv.exited.then((c) => (exitCode = c));
});
afterAll(async () => {
  for (const c of open) c.close();
  if (exitCode === undefined) {
    srv.proc.kill('SIGTERM');
    await srv.exited;
  }
  fx.cleanup();
});

/** Send a hand-written upgrade request and read the raw response until the server closes. */
function upgradeRequest(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(srv.port, '127.0.0.1', () => {
      s.write(
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
          'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: MDEyMzQ1Njc4OWFiY2RlZg==\r\n\r\n',
      );
    });
    let body = '';
    s.on('data', (d) => (body += d.toString()));
    s.on('close', () => resolve(body));
    s.on('error', reject);
  });
}

describe('malformed upgrade paths', () => {
  it.each(['/%E0%A4%A', '/%', '/prefix/%ZZ', '//a:99999/x', '//[/x'])('%s is refused with 400 and the server stays up', async (path) => {
    const res = await upgradeRequest(path);
    expect(res).toMatch(/^HTTP\/1\.1 400 /);
    expect(res).toMatch(/bad document id/);
    // Still serving: a real client on a real document is admitted afterwards.
    const owner = fx.user();
    const docId = fx.doc(owner);
    const c = await rawConnect(srv.url, docId, { token: await fx.token(owner, docId) });
    open.push(c);
    await c.synced();
    expect(exitCode).toBeUndefined();
  });

  it('a document id outside the allowed alphabet is refused with 400', async () => {
    expect(await upgradeRequest('/bad%20id')).toMatch(/^HTTP\/1\.1 400 /);
    expect(await upgradeRequest(`/${'x'.repeat(65)}`)).toMatch(/^HTTP\/1\.1 400 /);
  });

  it('a valid token for a document that does not exist is closed 4403', async () => {
    const owner = fx.user();
    const ghost = 'no-such-doc';
    const c = await rawConnect(srv.url, ghost, { token: await fx.token(owner, ghost) });
    open.push(c);
    const closed = await c.closed;
    expect(closed.code).toBe(4403);
    expect(closed.reason).toMatch(/not found/);
  });
});
