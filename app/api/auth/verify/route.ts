// POST /api/auth/verify {token} → 200 {user, token, expiresAt, invitationsApplied} + session cookie: the
// mailed link was followed, so the account exists (or its address is verified) and the shares waiting
// for that address become grants. 200 {verification: "already"} when the address already had a verified
// account (sign in instead); 400 for an unknown, used or expired link.
import { VerifyBodySchema, type SessionResponse } from '@/lib/api-schemas';
import { TandemError } from '@/lib/errors';
import { getApp } from '@/app/_server/context';
import { json, readJson, refuseCrossSite, route, sessionCookie } from '@/app/_server/http';
import { userView, type UserRow } from '@/app/_server/stores/users';

const invalid = () => new TandemError('bad_request', 'this link is invalid, already used or expired: sign up (or ask for a new link) again', 'token');

export const POST = route(async (req) => {
  // Anonymous: the unguessable token is the credential (256 bits; nothing to rate-limit).
  refuseCrossSite(req);
  const body = await readJson(req, VerifyBodySchema);
  const app = getApp();
  const v = await app.verifications.consume(body.token);
  if (!v) throw invalid();
  let user: UserRow | undefined;
  if (v.user_id) {
    // An address check for an existing account: only if the account still has that address.
    const u = await app.users.byId(v.user_id);
    if (!u || u.email.toLowerCase() !== v.email.toLowerCase()) throw invalid();
    user = await app.users.markVerified(u.id);
  } else {
    const existing = await app.users.byEmail(v.email);
    if (existing?.email_verified === 1) return json({ verification: 'already' });
    if (existing) {
      // An unverified account (from before verification) loses to whoever reads the mailbox: the
      // pending sign-up's password wins and the old sessions end.
      user = await app.users.markVerified(existing.id, { passwordHash: v.password_hash!, name: v.name! });
      await app.sessions.destroyAll(existing.id);
    } else {
      user = await app.users.create(v.email, v.name!, v.password_hash!, { verified: true });
    }
  }
  if (!user) throw invalid();
  await app.verifications.clearEmail(v.email);
  const applied = await app.access.acceptInvitations(user.id, user.email);
  app.log.info({ user: user.id, invitations: applied }, 'email address verified');
  const s = await app.sessions.create(user.id);
  const res: SessionResponse & { invitationsApplied: number } = { user: userView(user), token: s.token, expiresAt: s.expiresAt, invitationsApplied: applied };
  return json(res, 200, { 'set-cookie': sessionCookie(req, app, s.token, s.expiresAt) });
});
