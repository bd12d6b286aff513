// A socket is only admitted with a valid, unexpired EdDSA collab token for this document from
// tandem-app to tandem-collab; every other token is closed 4401 with a reason, and a valid token
// for the wrong document or without read access is closed 4403.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT, UnsecuredJWT, base64url, decodeJwt } from 'jose';
import { CloseCode } from '../../lib/close-codes';
import { TOKEN_AUDIENCE, TOKEN_ISSUER } from '../../lib/token';
import { createFixture, startServer, type Fixture, type InProcessServer } from '../helpers/fixture';
import { fixtureKeys, rawConnect, type RawClient } from '../helpers/raw-client';

let fx: Fixture;
let srv: InProcessServer;
let keys: Awaited<ReturnType<typeof fixtureKeys>>;
let owner: string;
let other: string;
let docId: string;
const open: RawClient[] = [];

beforeAll(async () => {
  fx = await createFixture();
  srv = await startServer(fx);
  keys = await fixtureKeys(fx);
  owner = fx.user({ name: 'Olive Owner' });
  other = fx.user({ name: 'Otto Other' });
  docId = fx.doc(owner);
});
afterAll(async () => {
  for (const c of open) c.close();
  await srv.close();
  fx.cleanup();
});

const now = () => Math.floor(Date.now() / 1000);
const claims = (sub = owner) => ({ name: 'Olive Owner', doc: docId, sub, jti: `j-${Math.random()}` });

/** A correctly signed EdDSA token, with each standard claim overridable (null = omitted). */
async function signed(o: { exp?: number | null; nbf?: number; aud?: string; iss?: string; sub?: string } = {}): Promise<string> {
  const { sub, ...rest } = claims(o.sub);
  let j = new SignJWT(rest)
    .setProtectedHeader({ alg: 'EdDSA' })
    .setSubject(sub)
    .setIssuer(o.iss ?? TOKEN_ISSUER)
    .setAudience(o.aud ?? TOKEN_AUDIENCE)
    .setIssuedAt(now() - 10);
  if (o.exp !== null) j = j.setExpirationTime(o.exp ?? now() + 300);
  if (o.nbf !== undefined) j = j.setNotBefore(o.nbf);
  return j.sign(keys.privateKey);
}

async function connect(token: string | undefined, target = docId): Promise<RawClient> {
  const c = await rawConnect(srv.url, target, token === undefined ? {} : { token });
  open.push(c);
  return c;
}

/** Closed with `code` and a non-empty reason, having never been sent a byte of the document. */
async function expectRefused(token: string | undefined, code: number, reason: RegExp, target = docId) {
  const c = await connect(token, target);
  const closed = await c.closed;
  expect(closed.code).toBe(code);
  expect(closed.reason).toMatch(reason);
  expect(c.received).toEqual([]);
}

describe('tokens that are refused with 4401 and a reason', () => {
  it('alg: none (unsigned) is refused', async () => {
    const { sub, ...rest } = claims();
    const none = new UnsecuredJWT(rest).setSubject(sub).setIssuer(TOKEN_ISSUER).setAudience(TOKEN_AUDIENCE).setExpirationTime(now() + 300).encode();
    expect(none.endsWith('.')).toBe(true);
    await expectRefused(none, CloseCode.UNAUTHORIZED, /algorithm not allowed/);
  });

  it('HS256 signed with the public key (PEM bytes as the HMAC secret) is refused', async () => {
    const { sub, ...rest } = claims();
    const hs = await new SignJWT(rest)
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(sub)
      .setIssuer(TOKEN_ISSUER)
      .setAudience(TOKEN_AUDIENCE)
      .setExpirationTime(now() + 300)
      .sign(new TextEncoder().encode(keys.publicPem));
    await expectRefused(hs, CloseCode.UNAUTHORIZED, /algorithm not allowed/);
  });

  it('a token without exp is refused', async () => {
    const t = await signed({ exp: null });
    expect(decodeJwt(t).exp).toBeUndefined();
    await expectRefused(t, CloseCode.UNAUTHORIZED, /exp/);
  });

  it('an expired token is refused', async () => {
    await expectRefused(await signed({ exp: now() - 60 }), CloseCode.UNAUTHORIZED, /expired/);
  });

  it('a token not yet valid (nbf in the future) is refused', async () => {
    await expectRefused(await signed({ nbf: now() + 120 }), CloseCode.UNAUTHORIZED, /nbf/);
  });

  it('a token for another audience is refused', async () => {
    await expectRefused(await signed({ aud: 'tandem-collab-admin' }), CloseCode.UNAUTHORIZED, /aud/);
  });

  it('a token from another issuer is refused', async () => {
    await expectRefused(await signed({ iss: 'evil-app' }), CloseCode.UNAUTHORIZED, /iss/);
  });

  it('a tampered payload (sub flipped to another user) is refused', async () => {
    const good = await fx.token(other, docId);
    const [h, p, s] = good.split('.');
    const payload = JSON.parse(new TextDecoder().decode(base64url.decode(p!)));
    expect(payload.sub).toBe(other);
    payload.sub = owner;
    const tampered = `${h}.${base64url.encode(JSON.stringify(payload))}.${s}`;
    await expectRefused(tampered, CloseCode.UNAUTHORIZED, /signature/);
  });

  it('a garbage string is refused', async () => {
    await expectRefused('definitely-not-a-jwt', CloseCode.UNAUTHORIZED, /token invalid/);
  });

  it('a missing token is refused', async () => {
    await expectRefused(undefined, CloseCode.UNAUTHORIZED, /token missing/);
  });

  it('the same hand-signed token with every claim right is accepted (the crafting is not what fails)', async () => {
    const c = await connect(await signed());
    await c.synced();
    expect(c.closeInfo).toBeNull();
  });
});

describe('valid tokens refused with 4403', () => {
  it('a token for document A used on document B is refused', async () => {
    const docB = fx.doc(owner);
    await expectRefused(await fx.token(owner, docId), CloseCode.FORBIDDEN, /another document/, docB);
  });

  it('a user without read access to a restricted document is refused', async () => {
    await expectRefused(await fx.token(other, docId), CloseCode.FORBIDDEN, /no access/);
  });

  it('the same user is admitted once granted viewer access', async () => {
    const restricted = fx.doc(owner);
    const stranger = fx.user();
    fx.grant(restricted, stranger, 'viewer');
    const c = await connect(await fx.token(stranger, restricted), restricted);
    await c.synced();
    expect(c.closeInfo).toBeNull();
  });
});
