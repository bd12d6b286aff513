// GET /api/admin/sessions → {sessions:[{connId, docId, userId, name, role, openedAt, remoteAddress, docTitle}]}
// Live collab sessions from collab-server, for instance admins.
import { json, route } from '@/app/_server/http';
import { TandemError } from '@/lib/errors';
import { callCollabAdmin, requireAdmin, type LiveSession } from './collab-admin';

export const dynamic = 'force-dynamic';

export const GET = route(async (req) => {
  const { app } = await requireAdmin(req);
  const { status, body } = await callCollabAdmin(req, 'GET', '/admin/sessions');
  if (status !== 200) throw new TandemError(status === 403 ? 'forbidden' : 'unavailable', (body as { message?: string } | null)?.message ?? `collab-server answered ${status}`);
  const sessions = await Promise.all(((body as { sessions?: LiveSession[] }).sessions ?? []).map(async (s) => ({ ...s, docTitle: (await app.docs.load(s.docId))?.row.title ?? null })));
  return json({ sessions });
});
