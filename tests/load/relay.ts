/**
 * The floor for the benchmark: a raw `ws` relay that forwards every binary frame, byte for byte,
 * to the other sockets of the same room (the URL path). No Yjs, no storage, no auth, no sync
 * state: whatever a real server costs above this is the price of doing the work.
 *
 * Run: `node --import tsx tests/load/relay.ts` with PORT (default 0) and HOST (default 127.0.0.1);
 * prints `{"msg":"relay ready","port":N}` once listening.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

/** Start a relay on `port` (0 for any); resolves with the bound port and a close function. */
export async function startRelay(port = 0, host = '127.0.0.1'): Promise<{ port: number; close(): Promise<void> }> {
  const rooms = new Map<string, Set<WebSocket>>();
  const server = http.createServer((_req, res) => res.writeHead(404).end());
  // Same transport settings as the servers under test: no compression, binary frames only.
  const wss = new WebSocketServer({ server, perMessageDeflate: false, maxPayload: 1024 * 1024 });
  wss.on('connection', (ws, req) => {
    const room = (req.url ?? '/').split('?')[0]!;
    let peers = rooms.get(room);
    if (!peers) rooms.set(room, (peers = new Set()));
    peers.add(ws);
    ws.on('error', () => ws.terminate());
    ws.on('message', (data, isBinary) => {
      // One buffer, sent to every other socket: the cheapest possible fan-out.
      for (const p of peers!) if (p !== ws && p.readyState === 1) p.send(data, { binary: isBinary });
    });
    ws.on('close', () => {
      peers!.delete(ws);
      if (peers!.size === 0) rooms.delete(room);
    });
  });
  await new Promise<void>((r) => server.listen(port, host, r));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        for (const c of wss.clients) c.terminate();
        wss.close();
        server.close(() => r());
      }),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { port } = await startRelay(Number(process.env.PORT ?? 0), process.env.HOST ?? '127.0.0.1');
  process.stdout.write(`${JSON.stringify({ msg: 'relay ready', port })}\n`);
  process.on('SIGTERM', () => process.exit(0));
}
