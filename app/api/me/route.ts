// GET /api/me → {user}; 401 without a session.
import { getApp } from '@/app/_server/context';
import { json, requireCaller, route } from '@/app/_server/http';
import { userView } from '@/app/_server/stores/users';

export const GET = route(async (req) => {
  const me = await requireCaller(req, getApp());
  return json({ user: userView(me.user) });
});
