/**
 * An HTTP proxy in front of collab-server that can refuse WebSocket upgrades, as a corporate proxy
 * does, while passing plain HTTP (the SSE stream and POSTs) through unbuffered (issue 15 tests).
 * `target` may be set after start (the e2e stack picks collab-server's port itself).
 */
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';

export interface UpgradeGate {
  port: number;
  /** ws://127.0.0.1:<port> */
  wsUrl: string;
  target: number;
  blockUpgrades: boolean;
  /** Let upgrades through but cut each socket this long after it opened (a proxy that kills long-lived connections); 0 = never. */
  cutUpgradedAfterMs: number;
  /** Upgrade requests seen, and how many were refused. */
  upgrades: number;
  refused: number;
  close(): Promise<void>;
}

/** Start the proxy on a free loopback port. */
export async function startUpgradeGate(target = 0): Promise<UpgradeGate> {
  const sockets = new Set<net.Socket>();
  const gate = { target, blockUpgrades: false, cutUpgradedAfterMs: 0, upgrades: 0, refused: 0 } as UpgradeGate;
  const server = http.createServer((req, res) => {
    const up = http.request({ host: '127.0.0.1', port: gate.target, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      res.flushHeaders();
      r.pipe(res);
    });
    up.on('error', () => {
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    });
    res.on('close', () => up.destroy());
    req.pipe(up);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('upgrade', (req, socket: net.Socket, head) => {
    gate.upgrades++;
    socket.on('error', () => undefined);
    if (gate.blockUpgrades) {
      gate.refused++;
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const up = net.connect(gate.target, '127.0.0.1', () => {
      const lines = [`${req.method} ${req.url} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      up.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (head.length) up.write(head);
      up.pipe(socket);
      socket.pipe(up);
      if (gate.cutUpgradedAfterMs) setTimeout(() => up.destroy(), gate.cutUpgradedAfterMs).unref();
    });
    sockets.add(up);
    up.on('close', () => {
      sockets.delete(up);
      socket.destroy();
    });
    up.on('error', () => socket.destroy());
    socket.on('close', () => up.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  gate.port = (server.address() as AddressInfo).port;
  gate.wsUrl = `ws://127.0.0.1:${gate.port}`;
  gate.close = async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  };
  return gate;
}
