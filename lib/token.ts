/**
 * Collab tokens: short-lived JWTs the app mints and collab-server verifies. Asymmetric (EdDSA) so
 * collab-server only ever holds the public key; algorithm, issuer and audience are pinned and `exp`
 * is required, which rules out `alg: none`, HS256-with-the-public-key and tokens for other services.
 */
import { SignJWT, jwtVerify, errors as joseErrors, type CryptoKey, type JWTVerifyGetKey, type KeyObject } from 'jose';
import { z } from 'zod';
import { newId } from './ids';

export const TOKEN_ALG = 'EdDSA';
export const TOKEN_ISSUER = 'tandem-app';
export const TOKEN_AUDIENCE = 'tandem-collab';

export const CollabClaimsSchema = z.object({
  sub: z.string().min(1),
  name: z.string(),
  doc: z.string().min(1),
  jti: z.string().min(1),
  exp: z.number(),
  iat: z.number().optional(),
  nbf: z.number().optional(),
});
export type CollabClaims = z.infer<typeof CollabClaimsSchema>;

export type SigningKey = CryptoKey | KeyObject;
export type VerifyKey = CryptoKey | KeyObject | JWTVerifyGetKey;

export class TokenError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'TokenError';
  }
}

/** Sign a collab token for (user, doc). */
export async function signCollabToken(
  key: SigningKey,
  c: { sub: string; name: string; doc: string },
  opts: { ttlSeconds: number; kid?: string; now?: number },
): Promise<{ token: string; expiresAt: number; jti: string }> {
  const now = Math.floor((opts.now ?? Date.now()) / 1000);
  const jti = newId();
  const exp = now + opts.ttlSeconds;
  const token = await new SignJWT({ name: c.name, doc: c.doc })
    .setProtectedHeader(opts.kid ? { alg: TOKEN_ALG, kid: opts.kid } : { alg: TOKEN_ALG })
    .setSubject(c.sub)
    .setJti(jti)
    .setIssuer(TOKEN_ISSUER)
    .setAudience(TOKEN_AUDIENCE)
    .setIssuedAt(now)
    .setNotBefore(now - 5)
    .setExpirationTime(exp)
    .sign(key);
  return { token, expiresAt: exp * 1000, jti };
}

/** Verify a collab token; throws TokenError with a short reason a client can be shown. */
export async function verifyCollabToken(token: string, key: VerifyKey): Promise<CollabClaims> {
  if (!token) throw new TokenError('token missing');
  try {
    const { payload } = await jwtVerify(token, key as CryptoKey, {
      algorithms: [TOKEN_ALG],
      issuer: TOKEN_ISSUER,
      audience: TOKEN_AUDIENCE,
      requiredClaims: ['exp', 'sub', 'jti'],
      clockTolerance: 2,
    });
    const parsed = CollabClaimsSchema.safeParse(payload);
    if (!parsed.success) throw new TokenError('token claims invalid');
    return parsed.data;
  } catch (err) {
    if (err instanceof TokenError) throw err;
    if (err instanceof joseErrors.JWTExpired) throw new TokenError('token expired');
    if (err instanceof joseErrors.JWTClaimValidationFailed) throw new TokenError(`token claim ${err.claim} invalid`);
    if (err instanceof joseErrors.JOSEAlgNotAllowed) throw new TokenError('token algorithm not allowed');
    if (err instanceof joseErrors.JWSSignatureVerificationFailed) throw new TokenError('token signature invalid');
    throw new TokenError('token invalid');
  }
}

/** Audience of the short-lived tokens the app uses to call collab-server's admin endpoints. */
export const ADMIN_AUDIENCE = 'tandem-collab-admin';

/** Sign a 60-second admin token (the app mints one per call on behalf of an instance admin). */
export async function signAdminToken(key: SigningKey, c: { sub: string }, opts: { ttlSeconds?: number; kid?: string } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ admin: true })
    .setProtectedHeader(opts.kid ? { alg: TOKEN_ALG, kid: opts.kid } : { alg: TOKEN_ALG })
    .setSubject(c.sub)
    .setJti(newId())
    .setIssuer(TOKEN_ISSUER)
    .setAudience(ADMIN_AUDIENCE)
    .setIssuedAt(now)
    .setExpirationTime(now + (opts.ttlSeconds ?? 60))
    .sign(key);
}

/** Verify an admin token; throws TokenError. */
export async function verifyAdminToken(token: string, key: VerifyKey): Promise<{ sub: string }> {
  try {
    const { payload } = await jwtVerify(token, key as CryptoKey, {
      algorithms: [TOKEN_ALG],
      issuer: TOKEN_ISSUER,
      audience: ADMIN_AUDIENCE,
      requiredClaims: ['exp', 'sub'],
    });
    if (payload.admin !== true || !payload.sub) throw new TokenError('not an admin token');
    return { sub: payload.sub };
  } catch (err) {
    if (err instanceof TokenError) throw err;
    throw new TokenError('admin token invalid');
  }
}
