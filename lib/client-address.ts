/**
 * Who is the client behind a request: the TCP peer, or — only while the peer (then each hop) is a
 * trusted proxy (TRUSTED_PROXIES) — the next address to the left in X-Forwarded-For. The rightmost
 * untrusted address is the client, as proxy-addr does; an untrusted peer's header is ignored.
 * Shared by the app (route handlers) and collab-server (the upgrade). Pure: no sockets, no env.
 */
import net from 'node:net';

/** `::ffff:127.0.0.1` and `127.0.0.1` are one client. */
export function canonicalAddress(ip: string): string {
  const s = ip.trim().replace(/^\[|\]$/g, '');
  return s.toLowerCase().startsWith('::ffff:') && net.isIPv4(s.slice(7)) ? s.slice(7) : s;
}

/**
 * Parse a network list (`loopback`, IPs, CIDRs, comma-separated; `none` adds nothing) into a
 * matcher; a bad entry throws naming `what` (the option it came from).
 */
export function parseNetworks(spec: string, what: string): (ip: string) => boolean {
  const list = new net.BlockList();
  let any = false;
  for (const raw of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    if (raw === 'none') continue;
    any = true;
    if (raw === 'loopback') {
      list.addSubnet('127.0.0.0', 8, 'ipv4');
      list.addAddress('::1', 'ipv6');
      continue;
    }
    const [addr, bits] = raw.split('/');
    const type = net.isIPv4(addr!) ? 'ipv4' : net.isIPv6(addr!) ? 'ipv6' : null;
    if (!type) throw new Error(`${what}: "${raw}" is not an IP address or CIDR`);
    if (bits === undefined) list.addAddress(addr!, type);
    else {
      const n = Number(bits);
      if (!Number.isInteger(n) || n < 0 || n > (type === 'ipv4' ? 32 : 128)) throw new Error(`${what}: bad prefix length in "${raw}"`);
      list.addSubnet(addr!, n, type);
    }
  }
  if (!any) return () => false;
  return (ip) => {
    const c = canonicalAddress(ip);
    const type = net.isIPv4(c) ? 'ipv4' : net.isIPv6(c) ? 'ipv6' : null;
    return type !== null && list.check(c, type);
  };
}

/** Parse TRUSTED_PROXIES into a matcher; bad entries throw. */
export const parseTrustedProxies = (spec: string) => parseNetworks(spec, 'TRUSTED_PROXIES');

/**
 * The client address given the TCP peer and the X-Forwarded-For header (possibly repeated): walk
 * the chain from the right while the current hop is trusted.
 */
export function resolveClientAddress(peer: string | undefined, forwardedFor: string | string[] | null | undefined, trusted: (ip: string) => boolean): string {
  const chain = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : (forwardedFor ?? ''))
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  let addr = peer?.trim() || chain.pop() || 'unknown';
  while (trusted(addr) && chain.length) addr = chain.pop()!;
  return canonicalAddress(addr);
}
