// GET /api/auth/setup → {needed}: whether the instance still waits for its first admin.
// POST /api/auth/setup {setupToken, email, name, password} → 201 {user, token, expiresAt} + session cookie:
// the first instance admin, with the one-time token printed at first start (or SETUP_TOKEN). 403 once an admin exists.
import crypto from 'node:crypto';
import { SetupBodySchema, type SessionResponse } from '@/lib/api-schemas';
import { TandemError } from '@/lib/errors';
import { getApp } from '@/app/_server/context';
import { callerAddress, json, readJson, refuseCrossSite, route, sessionCookie, tooMany } from '@/app/_server/http';
import { hashPassword } from '@/app/_server/passwords';
import { userView } from '@/app/_server/stores/users';

const digest = (s: string) => crypto.createHash('sha256').update(s).digest();

export const GET = route(async () => {
  const app = getApp();
  return json({ needed: !(await app.users.hasAdmin()) });
});

export const POST = route(async (req) => {
  refuseCrossSite(req);
  const body = await readJson(req, SetupBodySchema);
  const app = getApp();
  // Guessing the token is a sign-in attempt like any other: the same address and instance limits.
  const slot = await app.authLimits.enter(callerAddress(req, app));
  if (!slot.ok) return tooMany(slot);
  let hash: string;
  try {
    const expected = await app.setupToken();
    if (!expected) throw new TandemError('forbidden', 'this instance already has an admin');
    // Fixed-length digests, so the comparison is constant-time whatever the lengths.
    if (!crypto.timingSafeEqual(digest(body.setupToken), digest(expected))) throw new TandemError('forbidden', 'wrong setup token', 'setupToken');
    hash = await hashPassword(body.password, app.config.PASSWORD_SCRYPT_LOG2N);
  } finally {
    slot.release();
  }
  const user = await app.users.createFirstAdmin(body.email, body.name, hash);
  await app.access.acceptInvitations(user.id, user.email);
  await app.audit.record({ actorId: user.id, action: 'instance.setup', docId: null, target: user.email });
  app.log.warn({ user: user.id }, 'first instance admin created with the setup token');
  const s = await app.sessions.create(user.id);
  const res: SessionResponse = { user: userView(user), token: s.token, expiresAt: s.expiresAt };
  return json(res, 201, { 'set-cookie': sessionCookie(req, app, s.token, s.expiresAt) });
});
