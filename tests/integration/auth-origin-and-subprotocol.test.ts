// The upgrade refuses browsers on a foreign Origin (HTTP 403, before any token is looked at), and
// a token offered in Sec-WebSocket-Protocol authenticates while the server chooses the real
// subprotocol ('tandem') and never echoes the token back.
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import * as Y from 'yjs';
import { WebsocketProvider } from 'y-websocket';
import { createFixture, startServer, synced, type Fixture, type InProcessServer } from '../helpers/fixture';
import { rawConnect, type RawClient } from '../helpers/raw-client';

let fx: Fixture;
let srv: InProcessServer;
let owner: string;
let docId: string;
const open: RawClient[] = [];
const providers: WebsocketProvider[] = [];

beforeAll(async () => {
  fx = await createFixture();
  srv = await startServer(fx, { allowedOrigins: ['http://app.example'] });
  owner = fx.user();
  docId = fx.doc(owner);
});
afterAll(async () => {
  for (const c of open) c.close();
  for (const p of providers) p.destroy();
  await srv.close();
  fx.cleanup();
});

/** A bare HTTP upgrade request, so the exact header bytes a browser sends can be used. */
function rawUpgrade(path: string, headers: Record<string, string>): Promise<{ status: number; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port: srv.port,
      path,
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': Buffer.from('0123456789abcdef').toString('base64'),
        ...headers,
      },
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, headers: res.headers });
    });
    req.on('response', (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, headers: res.headers });
    });
    req.on('error', reject);
    req.end();
  });
}

describe('Origin allow-list', () => {
  it('a browser on a foreign Origin is refused with HTTP 403, even with a valid token', async () => {
    const c = await rawConnect(srv.url, docId, { token: await fx.token(owner, docId), origin: 'http://evil.example' });
    open.push(c);
    const hs = await c.handshake;
    expect(hs.ok).toBe(false);
    expect(hs.status).toBe(403);
    expect(hs.body).toMatch(/origin not allowed/);
  });

  it('a browser on the allowed Origin is accepted and synced', async () => {
    const c = await rawConnect(srv.url, docId, { token: await fx.token(owner, docId), origin: 'http://app.example' });
    open.push(c);
    expect((await c.handshake).ok).toBe(true);
    await c.synced();
    expect(c.closeInfo).toBeNull();
  });
});

describe('token in Sec-WebSocket-Protocol', () => {
  it("a client offering ['tandem', <jwt>] is authorized and the chosen protocol is 'tandem'", async () => {
    const token = await fx.token(owner, docId);
    const c = await rawConnect(srv.url, docId, { protocols: ['tandem', token] });
    open.push(c);
    const hs = await c.handshake;
    expect(hs.ok).toBe(true);
    expect(hs.protocol).toBe('tandem');
    expect(hs.protocolHeader).toBe('tandem');
    await c.synced();
  });

  it("browsers' comma-space header form works and the response never contains the token", async () => {
    const token = await fx.token(owner, docId);
    const res = await rawUpgrade(`/${docId}`, { 'Sec-WebSocket-Protocol': `tandem, ${token}` });
    expect(res.status).toBe(101);
    expect(res.headers['sec-websocket-protocol']).toBe('tandem');
    expect(JSON.stringify(res.headers)).not.toContain(token.split('.')[2]);
  });

  it('a client offering only the token is not answered with the token as its protocol', async () => {
    const token = await fx.token(owner, docId);
    const res = await rawUpgrade(`/${docId}`, { 'Sec-WebSocket-Protocol': token });
    expect(JSON.stringify(res.headers)).not.toContain(token.split('.')[2]);
    expect(res.headers['sec-websocket-protocol']).toBeUndefined();
  });

  it('an invalid token in the header is refused 4401 like one in the query string', async () => {
    const bad = (await fx.token(owner, docId)).replace(/\.[^.]+$/, '.AAAA');
    const c = await rawConnect(srv.url, docId, { protocols: ['tandem', bad] });
    open.push(c);
    expect((await c.closed).code).toBe(4401);
  });

  it("the stock WebsocketProvider with protocols ['tandem', <jwt>] and no params syncs", async () => {
    const token = await fx.token(owner, docId);
    const p = new WebsocketProvider(srv.url, docId, new Y.Doc(), {
      WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
      protocols: ['tandem', token],
      disableBc: true,
    });
    providers.push(p);
    await synced(p);
    expect((p.ws as unknown as WebSocket).protocol).toBe('tandem');
  });
});
