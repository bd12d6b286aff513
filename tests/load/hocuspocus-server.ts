/**
 * Hocuspocus 4.x as a benchmark peer: `@hocuspocus/server` with no extensions (no persistence,
 * no auth hook), on PORT (default 0) / HOST. Prints `{"msg":"hocuspocus ready","port":N}`.
 */
import { Server } from '@hocuspocus/server';

const server = new Server({
  port: Number(process.env.PORT ?? 0),
  address: process.env.HOST ?? '127.0.0.1',
  quiet: true,
  stopOnSignals: true,
  websocketOptions: { perMessageDeflate: false },
});
await server.listen();
process.stdout.write(`${JSON.stringify({ msg: 'hocuspocus ready', port: server.address.port })}\n`);
