// GET /api/docs/:id/access → {version, generalAccess, owner, grants: [{userId, email, name, role}]}.
import { z } from 'zod';
import { decide } from '@/lib/acl';
import { DocIdSchema } from '@/lib/ids';
import { getApp } from '@/app/_server/context';
import { allowOrThrow, json, loadDoc, readParams, requireCaller, route } from '@/app/_server/http';

const Params = z.object({ id: DocIdSchema });

export const GET = route<{ id: string }>(async (req, ctx) => {
  const app = getApp();
  const me = await requireCaller(req, app);
  const { id } = await readParams(ctx, Params);
  const doc = await loadDoc(app, id);
  // Who has access (with their emails) is for collaborators who can edit; viewers and strangers get 403.
  allowOrThrow(decide(me.principal, doc.acl, 'write'));
  return json(await app.access.view(id));
});
