// POST /api/auth/login {email, password} → 200 {user, token, expiresAt} + session cookie; 401 on a wrong pair;
// 429 (Retry-After) when the email, the client's address or the instance is over its limit.
import { LoginBodySchema, type SessionResponse } from '@/lib/api-schemas';
import { TandemError } from '@/lib/errors';
import { getApp } from '@/app/_server/context';
import { callerAddress, json, readJson, refuseCrossSite, route, sessionCookie, tooMany } from '@/app/_server/http';
import { hashPassword, verifyPassword } from '@/app/_server/passwords';
import { canReceiveGrants } from '@/app/_server/verification';
import { userView, type UserRow } from '@/app/_server/stores/users';

/** A hash to check unknown emails against, so they take as long as wrong passwords (no account probing by timing). */
let decoy: Promise<string> | null = null;

export const POST = route(async (req) => {
  // Anonymous by nature: nobody to authenticate, but another site may not sign a browser in.
  refuseCrossSite(req);
  const body = await readJson(req, LoginBodySchema);
  const app = getApp();
  // Address and instance limits first: a refused request costs no hash and no per-email count.
  const slot = await app.authLimits.enter(callerAddress(req, app));
  if (!slot.ok) return tooMany(slot);
  let user: UserRow | undefined;
  let ok: boolean;
  try {
    // Counted before the password is checked, so parallel guesses cannot all slip past the limit.
    const gate = await app.loginThrottle.attempt(body.email);
    if (!gate.ok) return tooMany({ ...gate, message: `too many failed sign-ins for this email: try again in ${gate.retryAfter} s` });
    try {
      user = await app.users.byEmail(body.email);
      decoy ??= hashPassword(crypto.randomUUID(), app.config.PASSWORD_SCRYPT_LOG2N);
      ok = await verifyPassword(body.password, user?.password_hash ?? (await decoy));
    } catch (err) {
      // Not a wrong password (e.g. the database failed): it must not lock the account out.
      await app.loginThrottle.cancel(body.email, gate.id);
      throw err;
    }
  } finally {
    slot.release();
  }
  // A wrong pair keeps its counted attempt.
  if (!user || !ok) throw new TandemError('unauthorized', 'wrong email or password');
  await app.loginThrottle.succeed(body.email);
  // Invitations normally become grants at verification; this catches any left by a crash in between.
  if (canReceiveGrants(app, user)) await app.access.acceptInvitations(user.id, user.email);
  const s = await app.sessions.create(user.id);
  const res: SessionResponse = { user: userView(user), token: s.token, expiresAt: s.expiresAt };
  return json(res, 200, { 'set-cookie': sessionCookie(req, app, s.token, s.expiresAt) });
});
