/**
 * Who may read a /metrics endpoint: a client inside the allowed networks, or anyone presenting the
 * scrape token as `Authorization: Bearer <token>` (what Prometheus sends with
 * `authorization: { credentials: … }`). Metrics name instances, documents-in-memory, error rates and
 * traffic shape: enough to plan an attack, so they are not served to the world.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { parseNetworks } from '../lib/client-address';

export interface ScrapeAccessOptions {
  /** The scrape token; unset = networks only. */
  token?: string;
  /** `loopback`, IPs and CIDRs, comma-separated; empty or `none` = no network is trusted without the token. */
  allowedNetworks: string;
}

export type ScrapeDecision = { ok: true; via: 'network' | 'token' } | { ok: false; status: 401 | 403; reason: string };

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Build the check once (config parsed at start); call it per request with the client address and Authorization header. */
export function createScrapeAccess(o: ScrapeAccessOptions): (client: { address: string; authorization: string | null }) => ScrapeDecision {
  // The same grammar as TRUSTED_PROXIES (lib/client-address.ts).
  const inNetwork = parseNetworks(o.allowedNetworks, 'METRICS_ALLOWED_NETWORKS');
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
