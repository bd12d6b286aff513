/**
 * Who may read a /metrics endpoint: a client inside the allowed networks, or anyone presenting the
 * scrape token as `Authorization: Bearer <token>` (what Prometheus sends with
 * `authorization: { credentials: … }`). Metrics name instances, documents-in-memory, error rates and
 * traffic shape: enough to plan an attack, so they are not served to the world.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import net from 'node:net';

export interface ScrapeAccessOptions {
  /** The scrape token; unset = networks only. */
  token?: string;
  /** `loopback`, IPs and CIDRs, comma-separated; empty or `none` = no network is trusted without the token. */
  allowedNetworks: string;
}

export type ScrapeDecision = { ok: true; via: 'network' | 'token' } | { ok: false; status: 401 | 403; reason: string };

/** `::ffff:127.0.0.1` and `127.0.0.1` are one client. */
function canonical(ip: string): string {
  const s = ip.trim().replace(/^\[|\]$/g, '');
  return s.toLowerCase().startsWith('::ffff:') && net.isIPv4(s.slice(7)) ? s.slice(7) : s;
}

/** Parse a network list (`loopback`, IPs, CIDRs) into a matcher; a bad entry throws naming `what`. */
export function parseNetworks(spec: string, what = 'METRICS_ALLOWED_NETWORKS'): (ip: string) => boolean {
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
    const n = bits === undefined ? undefined : Number(bits);
    if (n === undefined) list.addAddress(addr!, type);
    else if (Number.isInteger(n) && n >= 0 && n <= (type === 'ipv4' ? 32 : 128)) list.addSubnet(addr!, n, type);
    else throw new Error(`${what}: bad prefix length in "${raw}"`);
  }
  if (!any) return () => false;
  return (ip) => {
    const c = canonical(ip);
    const type = net.isIPv4(c) ? 'ipv4' : net.isIPv6(c) ? 'ipv6' : null;
    return type !== null && list.check(c, type);
  };
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Build the check once (config parsed at start); call it per request with the client address and Authorization header. */
export function createScrapeAccess(o: ScrapeAccessOptions): (client: { address: string; authorization: string | null }) => ScrapeDecision {
  const inNetwork = parseNetworks(o.allowedNetworks);
  // Compared as hashes so the comparison takes the same time whatever the length of the guess.
  const want = o.token ? digest(o.token) : null;
  return ({ address, authorization }) => {
    const bearer = /^Bearer\s+(.+)$/i.exec(authorization ?? '')?.[1]?.trim();
    if (want && bearer && timingSafeEqual(digest(bearer), want)) return { ok: true, via: 'token' };
    if (inNetwork(address)) return { ok: true, via: 'network' };
    if (bearer) return { ok: false, status: 401, reason: 'scrape token invalid' };
    if (want) return { ok: false, status: 401, reason: 'scrape token required' };
    return { ok: false, status: 403, reason: 'metrics are served only to METRICS_ALLOWED_NETWORKS' };
  };
}
