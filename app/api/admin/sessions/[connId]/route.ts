// DELETE /api/admin/sessions/:connId → {closed}: force-disconnect one live session (collab-server closes it with 4403).
import { z } from 'zod';
import { json, readParams, route } from '@/app/_server/http';
import { TandemError } from '@/lib/errors';
import { callCollabAdmin, requireAdmin, type LiveSession } from '../collab-admin';

const Params = z.object({ connId: z.string().min(1).max(128).regex(/^[A-Za-z0-9_:.-]+$/, 'must be a session id') });

export const DELETE = route<{ connId: string }>(async (req, ctx) => {
  const { connId } = await readParams(ctx, Params);
  const { app, me } = await requireAdmin(req);
  // Look the session up first so the audit entry names the document and the user.
  const list = await callCollabAdmin(req, 'GET', '/admin/sessions');
  const session = ((list.body as { sessions?: LiveSession[] } | null)?.sessions ?? []).find((s) => s.connId === connId);
  const { status, body } = await callCollabAdmin(req, 'DELETE', `/admin/sessions/${encodeURIComponent(connId)}`);
  if (status === 404) throw new TandemError('not_found', 'that session has already ended');
  if (status !== 200) throw new TandemError('unavailable', (body as { message?: string } | null)?.message ?? `collab-server answered ${status}`);
  await app.audit.record({
    actorId: me.user.id,
    action: 'session.disconnect',
    docId: session?.docId ?? null,
    target: session?.userId ?? null,
    detail: { connId, name: session?.name ?? null },
  });
  return json({ closed: connId });
});
