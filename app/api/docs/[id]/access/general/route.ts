// PUT /api/docs/:id/access/general {role: "viewer"|"editor"|null} → access list (owner/admin).
import { z } from 'zod';
import { decide } from '@/lib/acl';
import { PutGeneralAccessBodySchema } from '@/lib/api-schemas';
import { DocIdSchema } from '@/lib/ids';
import { getApp } from '@/app/_server/context';
import { allowOrThrow, json, loadDoc, readJson, readParams, requireCaller, route } from '@/app/_server/http';

const Params = z.object({ id: DocIdSchema });

export const PUT = route<{ id: string }>(async (req, ctx) => {
  const app = getApp();
  const me = await requireCaller(req, app);
  const { id } = await readParams(ctx, Params);
  const body = await readJson(req, PutGeneralAccessBodySchema);
  const doc = await loadDoc(app, id);
  allowOrThrow(decide(me.principal, doc.acl, 'manage'));
  const view = await app.access.setGeneral(me.user.id, id, body.role);
  app.log.info({ doc: id, user: me.user.id, general: body.role, version: view.version }, 'general access set');
  return json(view);
});
