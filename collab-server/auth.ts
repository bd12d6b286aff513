/**
 * Who is on the other end of a socket. Tokens come from `?token=` (what the stock
 * WebsocketProvider's `params` sends) or from Sec-WebSocket-Protocol, and are verified with the
 * public key only.
 */
import { decodeProtectedHeader } from 'jose';
import { CloseCode } from '../lib/close-codes';
import { verifyAdminToken, verifyCollabToken, TokenError, type VerifyKey } from '../lib/token';
import type { AclStore } from './acl-store';
import type { Connection, Identity } from './connection';

export class AuthError extends Error {
  constructor(
    readonly closeCode: number,
    reason: string,
  ) {
    super(reason);
    this.name = 'AuthError';
  }
}

export interface Authenticator {
  /** Verify the token for `docId`; throws AuthError with the close code to use. */
  authenticate(token: string | null, docId: string): Promise<Identity>;
  /** Verify a renewed token for an open connection; resolves to its expiry (ms). */
  renew(conn: Connection, token: string): Promise<number>;
  /** Verify an admin bearer token for the HTTP admin endpoints; resolves to the admin's user id. */
  verifyAdmin(token: string): Promise<string>;
  /** The kid of the key that signed the token behind `identity` (for revoking a key's sockets). */
  keyOf?(identity: Identity | null): string | undefined;
}

const JWT_SHAPE = /^[\w-]+\.[\w-]+\.[\w-]+$/;

/** A protocol entry that is a token (a JWT), as opposed to a real subprotocol name. */
export const isTokenProtocol = (p: string) => JWT_SHAPE.test(p);

/** The token from `?token=` or from a JWT-shaped Sec-WebSocket-Protocol entry. */
export function tokenFromRequest(url: URL, protocolHeader: string | undefined): string | null {
  const q = url.searchParams.get('token');
  if (q) return q;
  // ws joins offered protocols with ",", browsers with ", ".
  for (const p of (protocolHeader ?? '').split(/,\s*/)) if (isTokenProtocol(p.trim())) return p.trim();
  return null;
}

export function createTokenAuthenticator(key: VerifyKey, acl: AclStore): Authenticator {
  // The signing key of each identity's token, so a revoked key's sockets can be found and closed.
  const kids = new WeakMap<Identity, string>();
  const kidOfToken = (token: string) => {
    try {
      return decodeProtectedHeader(token).kid;
    } catch {
      return undefined;
    }
  };
  async function verify(token: string | null, docId: string) {
    if (!token) throw new AuthError(CloseCode.UNAUTHORIZED, 'token missing');
    try {
      const claims = await verifyCollabToken(token, key);
      if (claims.doc !== docId) throw new AuthError(CloseCode.FORBIDDEN, 'token is for another document');
      return claims;
    } catch (err) {
      if (err instanceof TokenError) throw new AuthError(CloseCode.UNAUTHORIZED, err.reason);
      throw err;
    }
  }
  /** The user still exists and did not sign out after this token was issued (issue 11); admin status now. */
  async function current(c: { sub: string; iat?: number }): Promise<{ isAdmin: boolean; issuedAt: number }> {
    const status = (await acl.userStatus([c.sub])).get(c.sub);
    if (!status) throw new AuthError(CloseCode.UNAUTHORIZED, 'account not found');
    const issuedAt = (c.iat ?? 0) * 1000;
    if (issuedAt < status.tokensNotBefore) throw new AuthError(CloseCode.UNAUTHORIZED, 'token revoked: signed out');
    return { isAdmin: status.isAdmin, issuedAt };
  }
  return {
    async authenticate(token, docId) {
      const c = await verify(token, docId);
      const identity: Identity = { userId: c.sub, name: c.name, ...(await current(c)), expiresAt: c.exp * 1000, jti: c.jti };
      const kid = kidOfToken(token!);
      if (kid) kids.set(identity, kid);
      return identity;
    },
    async renew(conn, token) {
      const c = await verify(token, conn.docId);
      if (!conn.identity || c.sub !== conn.identity.userId) throw new AuthError(CloseCode.FORBIDDEN, 'token is for another user');
      conn.setAdmin((await current(c)).isAdmin);
      conn.identity = { ...conn.identity, issuedAt: (c.iat ?? 0) * 1000, name: c.name, expiresAt: c.exp * 1000, jti: c.jti };
      const kid = kidOfToken(token);
      if (kid) kids.set(conn.identity, kid);
      conn.armExpiry(conn.identity.expiresAt);
      return conn.identity.expiresAt;
    },
    async verifyAdmin(token) {
      const { sub } = await verifyAdminToken(token, key);
      // Admin status is checked now, not when the token was minted.
      if (!(await acl.isAdmin(sub))) throw new TokenError('not an instance admin');
      return sub;
    },
    keyOf: (identity) => (identity ? kids.get(identity) : undefined),
  };
}

/** Development mode (ALLOW_ANONYMOUS): every socket is its own anonymous user. */
export function createAnonymousAuthenticator(): Authenticator {
  let n = 0;
  return {
    async authenticate() {
      n++;
      return { userId: `anon-${n}`, name: `Anonymous ${n}`, isAdmin: false, expiresAt: Infinity, jti: '' };
    },
    async renew() {
      return Infinity;
    },
    async verifyAdmin() {
      throw new TokenError('admin endpoints are disabled in anonymous mode');
    },
  };
}
