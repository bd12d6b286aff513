// DELETE /api/admin/sessions/:connId → {closed}: force-disconnect one live session (the collab-server
// instance holding it closes it with 4403).
import { z } from 'zod';
import { json, readParams, route } from '@/app/_server/http';
import { disconnectSession, requireAdmin } from '../collab-admin';

const Params = z.object({ connId: z.string().min(1).max(128).regex(/^[A-Za-z0-9_:.-]+$/, 'must be a session id') });

export const DELETE = route<{ connId: string }>(async (req, ctx) => {
  const { app, me } = await requireAdmin(req);
  const { connId } = await readParams(ctx, Params);
  const session = await disconnectSession(req, connId);
  await app.audit.record({
    actorId: me.user.id,
    action: 'session.disconnect',
    docId: session?.docId ?? null,
    target: session?.userId ?? null,
    detail: { connId, name: session?.name ?? null, instance: session?.instance ?? null },
  });
  return json({ closed: connId });
});
