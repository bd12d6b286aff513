/**
 * collab-server's verification keys: every key of the key ring (lib/key-ring.ts: the keys directory,
 * re-read when it changes, plus PEMs from COLLAB_TOKEN_PUBLIC_KEY), chosen by the token's kid. A
 * revoked kid is refused at once, and `onRevoked` hears of newly revoked kids so the server can close
 * the sockets their tokens opened (clients fetch a fresh token and reconnect).
 */
import type { JWTVerifyGetKey } from 'jose';
import { createKeyRingWatcher, splitPems, type KeyRingWatcher } from '../lib/key-ring';
import { TokenError } from '../lib/token';

export interface TokenKeys {
  /** The key lookup jose calls per token. */
  getKey: JWTVerifyGetKey;
  watcher: KeyRingWatcher;
  close(): void;
}

/** Build the lookup; `pollMs` bounds how late a rotation or revocation on disk is noticed. */
export function createTokenKeys(o: { dir?: string; publicPem?: string; pollMs?: number; onRevoked?: (kids: Set<string>) => void; onError?: (err: unknown) => void }): TokenKeys {
  const watcher = createKeyRingWatcher({
    dir: o.dir,
    publicPems: o.publicPem ? splitPems(o.publicPem) : [],
    pollMs: o.pollMs ?? 200,
    onError: o.onError,
    onChange: (ring, previous) => {
      const fresh = new Set([...ring.revoked].filter((k) => !previous.revoked.has(k)));
      if (fresh.size) o.onRevoked?.(fresh);
    },
  });
  const getKey: JWTVerifyGetKey = async (header) => {
    let ring = await watcher.current();
    if (header.kid) {
      // A kid not seen yet: the app may have read a rotation before us; look again before refusing.
      if (!ring.verify.has(header.kid) && !ring.revoked.has(header.kid)) ring = await watcher.refresh();
      if (ring.revoked.has(header.kid)) throw new TokenError('token signing key revoked');
      const k = ring.verify.get(header.kid);
      if (!k) throw new TokenError('token signing key unknown');
      return k.publicKey;
    }
    // Tokens minted before kids (and test helpers): the signing key, or the only key there is.
    const keys = [...ring.verify.values()];
    const k = keys.find((x) => x.state === 'active') ?? keys.find((x) => x.state === 'env') ?? (keys.length === 1 ? keys[0] : undefined);
    if (!k) throw new TokenError('token has no kid');
    return k.publicKey;
  };
  return { getKey, watcher, close: () => watcher.close() };
}
