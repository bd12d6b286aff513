/**
 * The client's network address, for per-address limits. Route handlers get a standard Request with
 * no socket, so the server puts the TCP peer's address into PEER_HEADER (installPeerAddressHeader,
 * called from instrumentation.ts), overwriting anything a client sent under that name. The
 * X-Forwarded-For chain is believed only hop by hop from that peer while each hop is a trusted
 * proxy (TRUSTED_PROXIES): the rightmost untrusted address is the client, as proxy-addr does.
 * Tests that call handlers in-process set PEER_HEADER themselves, as the server would.
 */
import http from 'node:http';
import { parseTrustedProxies, resolveClientAddress } from '../../lib/client-address';

export const PEER_HEADER = 'x-tandem-peer-address';

// The parsing is shared with collab-server's upgrade (lib/client-address.ts).
export { parseTrustedProxies };

/**
 * The client address of `req`: the peer, or, while the peer (then each hop) is trusted, the next
 * address to the left in X-Forwarded-For. Without a peer header (a server where the hook is not
 * installed) the last X-Forwarded-For entry, which Next.js sets from the socket when absent.
 */
export function clientAddress(req: Request, trusted: (ip: string) => boolean): string {
  return resolveClientAddress(req.headers.get(PEER_HEADER) ?? undefined, req.headers.get('x-forwarded-for'), trusted);
}

const INSTALLED = Symbol.for('tandem.peer-address-header');

/** Make every Node HTTP server in this process stamp PEER_HEADER with the socket's address. Idempotent. */
export function installPeerAddressHeader(): void {
  const proto = http.Server.prototype as http.Server & { [INSTALLED]?: boolean };
  if (proto[INSTALLED]) return;
  proto[INSTALLED] = true;
  const emit = proto.emit;
  proto.emit = function (this: http.Server, event: string | symbol, ...args: unknown[]) {
    if (event === 'request') {
      const req = args[0] as http.IncomingMessage;
      // Overwrite, never trust: a client could send this header itself.
      req.headers[PEER_HEADER] = req.socket?.remoteAddress ?? '';
    }
    return emit.apply(this, [event, ...args] as Parameters<typeof emit>);
  } as typeof proto.emit;
}
