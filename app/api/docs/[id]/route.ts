// GET /api/docs/:id → {doc} (readers); PATCH {title} → {doc} (editors); DELETE → {ok} (owner/admin).
import { z } from 'zod';
import { decide } from '@/lib/acl';
import { PatchDocBodySchema } from '@/lib/api-schemas';
import { DocIdSchema } from '@/lib/ids';
import { TandemError } from '@/lib/errors';
import { getApp } from '@/app/_server/context';
import { docView } from '@/app/_server/stores/docs';
import { allowOrThrow, json, loadDoc, readJson, readParams, requireCaller, route } from '@/app/_server/http';

const Params = z.object({ id: DocIdSchema });
type P = { id: string };

export const GET = route<P>(async (req, ctx) => {
  const app = getApp();
  const me = await requireCaller(req, app);
  const { id } = await readParams(ctx, Params);
  const doc = await loadDoc(app, id);
  const d = decide(me.principal, doc.acl, 'read');
  allowOrThrow(d);
  return json({ doc: docView(doc.row, d.role) });
});

export const PATCH = route<P>(async (req, ctx) => {
  const app = getApp();
  const me = await requireCaller(req, app);
  const { id } = await readParams(ctx, Params);
  const body = await readJson(req, PatchDocBodySchema);
  const doc = await loadDoc(app, id);
  // Renaming is an edit, as in other editors: editors may, viewers may not.
  const d = decide(me.principal, doc.acl, 'write');
  allowOrThrow(d);
  const row = await app.docs.rename(id, body.title);
  if (!row) throw new TandemError('not_found', 'document not found'); // deleted since the load
  return json({ doc: docView(row, d.role) });
});

export const DELETE = route<P>(async (req, ctx) => {
  const app = getApp();
  const me = await requireCaller(req, app);
  const { id } = await readParams(ctx, Params);
  const doc = await loadDoc(app, id);
  allowOrThrow(decide(me.principal, doc.acl, 'delete'));
  await app.access.deleteDoc(me.user.id, id);
  app.log.info({ doc: id, user: me.user.id }, 'document deleted');
  return json({ ok: true });
});
