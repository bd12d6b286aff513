// POST /api/auth/logout → 200 {ok: true}; ends the presented session (cookie or bearer) and clears the cookie.
import { getApp } from '@/app/_server/context';
import { clearSessionCookie, json, route, sessionToken } from '@/app/_server/http';

export const POST = route(async (req) => {
  const app = getApp();
  // Idempotent: signing out without (or with an expired) session still clears the cookie.
  const s = sessionToken(req);
  if (s) await app.sessions.destroy(s.token);
  return json({ ok: true }, 200, { 'set-cookie': clearSessionCookie(req, app) });
});
