// POST /api/auth/login {email, password} → 200 {user, token, expiresAt} + session cookie; 401 on a wrong pair.
import { LoginBodySchema, type SessionResponse } from '@/lib/api-schemas';
import { TandemError } from '@/lib/errors';
import { getApp } from '@/app/_server/context';
import { json, readJson, route, sessionCookie } from '@/app/_server/http';
import { hashPassword, verifyPassword } from '@/app/_server/passwords';
import { userView } from '@/app/_server/users';

/** A hash to check unknown emails against, so they take as long as wrong passwords (no account probing by timing). */
let decoy: Promise<string> | null = null;

export const POST = route(async (req) => {
  const body = await readJson(req, LoginBodySchema);
  const app = getApp();
  const wait = app.loginThrottle.retryAfter(body.email);
  if (wait > 0) {
    return json(new TandemError('rate_limited', `too many failed sign-ins for this email: try again in ${wait} s`).toJSON(), 429, { 'retry-after': String(wait) });
  }
  const user = app.users.byEmail(body.email);
  decoy ??= hashPassword(crypto.randomUUID(), app.config.PASSWORD_SCRYPT_LOG2N);
  const ok = await verifyPassword(body.password, user?.password_hash ?? (await decoy));
  if (!user || !ok) {
    app.loginThrottle.fail(body.email);
    throw new TandemError('unauthorized', 'wrong email or password');
  }
  app.loginThrottle.succeed(body.email);
  const s = app.sessions.create(user.id);
  const res: SessionResponse = { user: userView(user), token: s.token, expiresAt: s.expiresAt };
  return json(res, 200, { 'set-cookie': sessionCookie(req, app, s.token, s.expiresAt) });
});
