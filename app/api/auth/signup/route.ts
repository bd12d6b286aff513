// POST /api/auth/signup {email, name, password} → 201 {user, token, expiresAt} + session cookie.
import { SignupBodySchema, type SessionResponse } from '@/lib/api-schemas';
import { getApp } from '@/app/_server/context';
import { json, readJson, route, sessionCookie } from '@/app/_server/http';
import { hashPassword } from '@/app/_server/passwords';
import { userView } from '@/app/_server/stores/users';

export const POST = route(async (req) => {
  const body = await readJson(req, SignupBodySchema);
  const app = getApp();
  // Nobody is signed in yet and there is nothing to load or decide: anyone may sign up.
  const hash = await hashPassword(body.password, app.config.PASSWORD_SCRYPT_LOG2N);
  const user = await app.users.create(body.email, body.name, hash);
  const s = await app.sessions.create(user.id);
  app.log.info({ user: user.id, admin: user.is_admin === 1 }, 'account created');
  const res: SessionResponse = { user: userView(user), token: s.token, expiresAt: s.expiresAt };
  return json(res, 201, { 'set-cookie': sessionCookie(req, app, s.token, s.expiresAt) });
});
