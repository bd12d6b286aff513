// POST /api/auth/logout[?everywhere=1] → 200 {ok: true, ended}: ends the presented session (cookie or bearer),
// or with everywhere=1 every session of its user, and clears the cookie. Refused from another site
// (a forged sign-out is a nuisance that also ends live editing).
import { getApp } from '@/app/_server/context';
import { clearSessionCookie, json, refuseCrossSite, route, sessionToken } from '@/app/_server/http';

export const POST = route(async (req) => {
  refuseCrossSite(req);
  const app = getApp();
  const everywhere = ['1', 'true'].includes(new URL(req.url).searchParams.get('everywhere') ?? '');
  // Idempotent: signing out without (or with an expired) session still clears the cookie.
  const s = sessionToken(req);
  const user = s ? await app.sessions.user(s.token) : undefined;
  let ended = 0;
  if (s && user && everywhere) ended = await app.sessions.destroyAll(user.id);
  else if (s) {
    await app.sessions.destroy(s.token);
    ended = user ? 1 : 0;
  }
  // The user's open editors end too: collab-server closes sockets whose token predates this (4401).
  if (user) await app.users.revokeCollabTokens(user.id);
  if (user) app.log.info({ user: user.id, everywhere, ended }, 'signed out');
  return json({ ok: true, ended }, 200, { 'set-cookie': clearSessionCookie(req, app) });
});
