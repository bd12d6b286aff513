// POST /api/auth/signup {email, name, password}
//   EMAIL_VERIFICATION=required (default) → 202 {verification: "sent", email}, whether or not the
//     address already has an account (no enumeration); the account is created when the mailed link is followed.
//   EMAIL_VERIFICATION=off (development, test harnesses) → 201 {user, token, expiresAt} + session cookie; 409 if taken.
// 429 (Retry-After) when the client's address or the instance is over its limit.
import { SignupBodySchema, type SessionResponse, type VerificationSentResponse } from '@/lib/api-schemas';
import { getApp } from '@/app/_server/context';
import { callerAddress, json, readJson, refuseCrossSite, route, sessionCookie, tooMany } from '@/app/_server/http';
import { hashPassword } from '@/app/_server/passwords';
import { sendAlreadyRegistered, sendVerification } from '@/app/_server/verification';
import { userView } from '@/app/_server/stores/users';

export const POST = route(async (req) => {
  // Anonymous by nature: nobody to authenticate, but another site may not sign a browser up.
  refuseCrossSite(req);
  const body = await readJson(req, SignupBodySchema);
  const app = getApp();
  const slot = await app.authLimits.enter(callerAddress(req, app));
  if (!slot.ok) return tooMany(slot);
  let hash: string;
  try {
    hash = await hashPassword(body.password, app.config.PASSWORD_SCRYPT_LOG2N);
  } finally {
    slot.release();
  }
  if (app.config.EMAIL_VERIFICATION === 'off') {
    const user = await app.users.create(body.email, body.name, hash);
    await app.access.acceptInvitations(user.id, user.email);
    const s = await app.sessions.create(user.id);
    app.log.info({ user: user.id }, 'account created (email verification off)');
    const res: SessionResponse = { user: userView(user), token: s.token, expiresAt: s.expiresAt };
    return json(res, 201, { 'set-cookie': sessionCookie(req, app, s.token, s.expiresAt) });
  }
  const existing = await app.users.byEmail(body.email);
  // Both branches hash and send one mail, so neither the answer nor its timing says which ran.
  if (existing?.email_verified === 1) await sendAlreadyRegistered(req, app, body.email);
  else await sendVerification(req, app, { email: body.email, name: body.name, passwordHash: hash });
  const res: VerificationSentResponse = { verification: 'sent', email: body.email };
  return json(res, 202);
});
