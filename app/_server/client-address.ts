/**
 * The client's network address, for per-address limits. Route handlers get a standard Request with
 * no socket, so the server puts the TCP peer's address into PEER_HEADER (installPeerAddressHeader,
 * called from instrumentation.ts), overwriting anything a client sent under that name. The
 * X-Forwarded-For chain is believed only hop by hop from that peer while each hop is a trusted
 * proxy (TRUSTED_PROXIES): the rightmost untrusted address is the client, as proxy-addr does.
 * Tests that call handlers in-process set PEER_HEADER themselves, as the server would.
 */
import http from 'node:http';
import net from 'node:net';

export const PEER_HEADER = 'x-tandem-peer-address';

/** `::ffff:127.0.0.1` and `127.0.0.1` are one client. */
function canonical(ip: string): string {
  const s = ip.trim().replace(/^\[|\]$/g, '');
  return s.toLowerCase().startsWith('::ffff:') && net.isIPv4(s.slice(7)) ? s.slice(7) : s;
}

/** Parse TRUSTED_PROXIES (`loopback`, IPs, CIDRs, comma-separated) into a matcher; bad entries throw. */
export function parseTrustedProxies(spec: string): (ip: string) => boolean {
  const list = new net.BlockList();
  let any = false;
  for (const raw of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    any = true;
    if (raw === 'loopback') {
      list.addSubnet('127.0.0.0', 8, 'ipv4');
      list.addAddress('::1', 'ipv6');
      continue;
    }
    const [addr, bits] = raw.split('/');
    const type = net.isIPv4(addr!) ? 'ipv4' : net.isIPv6(addr!) ? 'ipv6' : null;
    if (!type) throw new Error(`TRUSTED_PROXIES: "${raw}" is not an IP address or CIDR`);
    if (bits === undefined) list.addAddress(addr!, type);
    else {
      const n = Number(bits);
      if (!Number.isInteger(n) || n < 0 || n > (type === 'ipv4' ? 32 : 128)) throw new Error(`TRUSTED_PROXIES: bad prefix length in "${raw}"`);
      list.addSubnet(addr!, n, type);
    }
  }
  if (!any) return () => false;
  return (ip) => {
    const c = canonical(ip);
    const type = net.isIPv4(c) ? 'ipv4' : net.isIPv6(c) ? 'ipv6' : null;
    return type !== null && list.check(c, type);
  };
}

/**
 * The client address of `req`: the peer, or, while the peer (then each hop) is trusted, the next
 * address to the left in X-Forwarded-For. Without a peer header (a server where the hook is not
 * installed) the last X-Forwarded-For entry, which Next.js sets from the socket when absent.
 */
export function clientAddress(req: Request, trusted: (ip: string) => boolean): string {
  const chain = (req.headers.get('x-forwarded-for') ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  let addr = req.headers.get(PEER_HEADER)?.trim() || chain.pop() || 'unknown';
  while (trusted(addr) && chain.length) addr = chain.pop()!;
  return canonical(addr);
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
