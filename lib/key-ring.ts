/**
 * Several token keys at once, for rotation without dropping a session or a socket, and emergency
 * revocation of a leaked key. A key ring is a directory (default `<DATA_DIR>/keys`, shared by the
 * app and collab-server on one machine, or a mounted directory every instance reads):
 *
 *   collab-token.key / .pub    the key the app signs with now (the names single-key installs already have)
 *   next-<kid>.key / .pub      published for verification, not signing yet (step 1 of a rotation)
 *   retired-<kid>.key / .pub   the previous signing key: verifies tokens it signed until they expire
 *   revoked                    kids refused at once (one per line), whatever file still holds them
 *
 * A kid is the key's RFC 7638 JWK thumbprint. Every process re-reads the directory when a file in it
 * changes (polled, see createKeyRingWatcher), so a rotation needs no restart. Keys given by env
 * (COLLAB_TOKEN_PUBLIC_KEY may hold several PEM blocks) are added to what the directory holds.
 */
import { createPublicKey } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { calculateJwkThumbprint, exportJWK, exportPKCS8, exportSPKI, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import { importPrivateKey, importPublicKey } from './keys';
import { TOKEN_ALG } from './token';

export interface RingKey {
  kid: string;
  publicPem: string;
  publicKey: CryptoKey;
  jwk: JWK;
  /** Where it came from: active (signs), next, retired, env. */
  state: 'active' | 'next' | 'retired' | 'env';
}

export interface KeyRing {
  /** The signing key (private half), when this process holds one. */
  signing: { kid: string; privateKey: CryptoKey; publicPem: string } | null;
  /** Every key that verifies, by kid (revoked ones excluded). */
  verify: Map<string, RingKey>;
  revoked: Set<string>;
  /** The public JWKS: every verifying key. */
  jwks: { keys: JWK[] };
}

const ACTIVE = 'collab-token';
const REVOKED = 'revoked';

/** The RFC 7638 thumbprint of a public key PEM (the kid tokens carry). */
export async function kidOf(publicPem: string): Promise<string> {
  return calculateJwkThumbprint(await exportJWK(await importPublicKey(publicPem)));
}

/** Split a string holding one or more PEM blocks (env files may carry literal "\n"). */
export function splitPems(s: string): string[] {
  const text = s.includes('\\n') ? s.replace(/\\n/g, '\n') : s;
  return [...text.matchAll(/-----BEGIN ([A-Z ]+)-----[\s\S]+?-----END \1-----/g)].map((m) => `${m[0]}\n`);
}

const pubFromPrivate = (privatePem: string) => createPublicKey(privatePem).export({ type: 'spki', format: 'pem' }).toString();

function readRevoked(dir: string): Set<string> {
  const f = join(dir, REVOKED);
  if (!existsSync(f)) return new Set();
  return new Set(readFileSync(f, 'utf8').split('\n').map((l) => l.replace(/#.*/, '').trim()).filter(Boolean));
}

/** Read a key ring from `dir` (may be absent) plus env PEMs; `withPrivate` loads the signing key too (the app only). */
export async function readKeyRing(o: { dir?: string; publicPems?: string[]; privatePem?: string; revokedKids?: string[]; withPrivate?: boolean }): Promise<KeyRing> {
  const verify = new Map<string, RingKey>();
  const revoked = new Set(o.revokedKids ?? []);
  let signing: KeyRing['signing'] = null;
  const add = async (publicPem: string, state: RingKey['state']) => {
    const publicKey = await importPublicKey(publicPem);
    const jwk = await exportJWK(publicKey);
    const kid = await calculateJwkThumbprint(jwk);
    if (!verify.has(kid) || state === 'active') verify.set(kid, { kid, publicPem, publicKey, jwk: { ...jwk, kid, alg: TOKEN_ALG, use: 'sig' }, state });
    return kid;
  };
  if (o.privatePem) {
    const publicPem = pubFromPrivate(o.privatePem);
    const kid = await add(publicPem, 'active');
    if (o.withPrivate) signing = { kid, privateKey: await importPrivateKey(o.privatePem), publicPem };
  }
  if (o.dir && existsSync(o.dir)) {
    for (const k of readRevoked(o.dir)) revoked.add(k);
    const files = readdirSync(o.dir);
    for (const f of files) {
      const m = /^(collab-token|next-[\w-]+|retired-[\w-]+)\.(key|pub)$/.exec(f);
      if (!m) continue;
      const state: RingKey['state'] = m[1] === ACTIVE ? 'active' : m[1]!.startsWith('next-') ? 'next' : 'retired';
      // A .key file's own public half, so a key and its .pub renamed one after the other never disagree.
      if (m[2] === 'pub' && files.includes(`${m[1]}.key`)) continue;
      const text = readFileSync(join(o.dir, f), 'utf8');
      const publicPem = m[2] === 'key' ? pubFromPrivate(text) : text;
      const kid = await add(publicPem, state);
      if (state === 'active' && m[2] === 'key' && o.withPrivate && !o.privatePem) signing = { kid, privateKey: await importPrivateKey(text), publicPem };
    }
  }
  for (const pem of o.publicPems ?? []) await add(pem, 'env');
  for (const k of revoked) verify.delete(k);
  if (signing && revoked.has(signing.kid)) signing = null;
  return { signing, verify, revoked, jwks: { keys: [...verify.values()].map((k) => k.jwk) } };
}

/** A fingerprint of the directory's files (names, sizes, mtimes): re-read only when it changes. */
function dirStamp(dir: string | undefined): string {
  if (!dir || !existsSync(dir)) return '';
  return readdirSync(dir)
    .sort()
    .map((f) => {
      try {
        const s = statSync(join(dir, f));
        return `${f}:${s.size}:${s.mtimeMs}`;
      } catch {
        return f; // renamed away between readdir and stat
      }
    })
    .join('|');
}

export interface KeyRingWatcher {
  /** The ring as last read (re-read first when the directory changed and `maxAgeMs` passed). */
  current(): Promise<KeyRing>;
  /** Re-check the directory now (a token with a kid this process has not seen yet). */
  refresh(): Promise<KeyRing>;
  /** Stop polling. */
  close(): void;
}

/**
 * Keep a key ring fresh: re-read when the directory's files change, checked at most every
 * `pollMs` on access and, with `onChange`, on a timer (collab-server closes sockets whose key was
 * revoked from there). A half-done rotation on disk (no signing key for a moment) keeps the last good ring.
 */
export function createKeyRingWatcher(o: Parameters<typeof readKeyRing>[0] & { pollMs?: number; onChange?: (ring: KeyRing, previous: KeyRing) => void; onError?: (err: unknown) => void }): KeyRingWatcher {
  const pollMs = o.pollMs ?? 250;
  let stamp = '';
  let checkedAt = 0;
  let ring: Promise<KeyRing> | null = null;
  let reading: Promise<KeyRing> | null = null;
  const refresh = async (): Promise<KeyRing> => {
    const s = dirStamp(o.dir);
    if (ring && s === stamp) return ring;
    const previous = ring ? await ring.catch(() => null) : null;
    const next = await readKeyRing(o);
    if (o.withPrivate && !next.signing && previous?.signing && !next.revoked.has(previous.signing.kid)) return previous; // mid-rotation: try again next time
    stamp = s;
    ring = Promise.resolve(next);
    if (previous) o.onChange?.(next, previous);
    return next;
  };
  const check = () => {
    checkedAt = Date.now();
    reading ??= refresh().finally(() => (reading = null));
    return reading;
  };
  const timer = o.onChange
    ? setInterval(() => {
        check().catch((err: unknown) => o.onError?.(err));
      }, pollMs)
    : null;
  timer?.unref();
  return {
    current() {
      if (ring && Date.now() - checkedAt < pollMs) return ring;
      return check().catch((err: unknown) => {
        if (ring) return ring;
        throw err;
      });
    },
    refresh: () => check(),
    close() {
      if (timer) clearInterval(timer);
    },
  };
}

async function newPair(): Promise<{ privatePem: string; publicPem: string; kid: string }> {
  const { privateKey, publicKey } = await generateKeyPair(TOKEN_ALG, { extractable: true });
  const publicPem = await exportSPKI(publicKey);
  return { privatePem: await exportPKCS8(privateKey), publicPem, kid: await kidOf(publicPem) };
}

const write = (dir: string, name: string, text: string, mode: number) => {
  writeFileSync(join(dir, `${name}.tmp`), text, { mode });
  renameSync(join(dir, `${name}.tmp`), join(dir, name));
};

/** Rotation step 1: create a key and publish it for verification (not signing yet). Returns its kid. */
export async function addKey(dir: string): Promise<string> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const k = await newPair();
  write(dir, `next-${k.kid}.pub`, k.publicPem, 0o644);
  write(dir, `next-${k.kid}.key`, k.privatePem, 0o600);
  return k.kid;
}

/** Rotation step 2: sign with `kid` (a next- key); the previous signing key stays as retired- to verify its tokens. */
export async function activateKey(dir: string, kid: string): Promise<{ previous: string | null }> {
  const next = join(dir, `next-${kid}.key`);
  if (!existsSync(next)) throw new Error(`no key next-${kid}.key in ${dir} (add one first)`);
  let previous: string | null = null;
  if (existsSync(join(dir, `${ACTIVE}.key`))) {
    previous = await kidOf(pubFromPrivate(readFileSync(join(dir, `${ACTIVE}.key`), 'utf8')));
    // Keep the old key verifying first, then replace the signing key: at no moment is it unknown.
    write(dir, `retired-${previous}.pub`, pubFromPrivate(readFileSync(join(dir, `${ACTIVE}.key`), 'utf8')), 0o644);
  }
  const privatePem = readFileSync(next, 'utf8');
  write(dir, `${ACTIVE}.pub`, pubFromPrivate(privatePem), 0o644);
  write(dir, `${ACTIVE}.key`, privatePem, 0o600);
  for (const f of [`next-${kid}.key`, `next-${kid}.pub`]) if (existsSync(join(dir, f))) unlinkSync(join(dir, f));
  return { previous };
}

/** Rotation step 3 (after the token lifetime): forget a retired key; its tokens are all expired by now. */
export function retireKey(dir: string, kid: string): void {
  let found = false;
  for (const f of [`retired-${kid}.pub`, `retired-${kid}.key`]) {
    if (existsSync(join(dir, f))) {
      unlinkSync(join(dir, f));
      found = true;
    }
  }
  if (!found) throw new Error(`no retired key ${kid} in ${dir}`);
}

/**
 * Emergency: refuse every token signed with `kid` at once (the processes close its sockets; clients
 * fetch a new token and reconnect). When it is the signing key, a new key is created and activated first.
 */
export async function revokeKey(dir: string, kid: string): Promise<{ activated: string | null }> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  let activated: string | null = null;
  const active = existsSync(join(dir, `${ACTIVE}.key`)) ? await kidOf(pubFromPrivate(readFileSync(join(dir, `${ACTIVE}.key`), 'utf8'))) : null;
  if (active === kid) {
    activated = await addKey(dir);
    await activateKey(dir, activated);
  }
  const revoked = readRevoked(dir);
  revoked.add(kid);
  write(dir, REVOKED, `# kids of revoked token keys (lib/key-ring.ts); tokens they signed are refused\n${[...revoked].join('\n')}\n`, 0o644);
  for (const f of readdirSync(dir)) if (f.includes(kid) && /\.(key|pub)$/.test(f)) unlinkSync(join(dir, f));
  return { activated };
}

/** What the ring holds, for `npm run keys -- list`. */
export async function listKeys(dir: string): Promise<{ kid: string; state: string }[]> {
  const ring = await readKeyRing({ dir });
  return [...[...ring.verify.values()].map((k) => ({ kid: k.kid, state: k.state })), ...[...ring.revoked].map((kid) => ({ kid, state: 'revoked' }))];
}
