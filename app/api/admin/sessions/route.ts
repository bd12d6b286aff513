// GET /api/admin/sessions → {sessions:[{connId, docId, userId, name, role, openedAt, remoteAddress, instance, docTitle}], unreachable:[{instance, url, message}]}
// Live collab sessions of every collab-server instance (one on a single machine), for instance admins.
import { json, route } from '@/app/_server/http';
import { listLiveSessions } from './collab-admin';
import { getApp } from '@/app/_server/context';

export const dynamic = 'force-dynamic';

export const GET = route(async (req) => {
  const { sessions, unreachable } = await listLiveSessions(req);
  const app = getApp();
  const titles = new Map<string, string | null>();
  for (const docId of new Set(sessions.map((s) => s.docId))) titles.set(docId, (await app.docs.load(docId))?.row.title ?? null);
  return json({ sessions: sessions.map((s) => ({ ...s, docTitle: titles.get(s.docId) ?? null })), unreachable });
});
