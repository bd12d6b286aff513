// PUT /api/docs/:id/access/grants/:email {role: "viewer"|"editor"} → access list (owner/admin).
// DELETE /api/docs/:id/access/grants/:email → access list; 404 when that person has no grant.
import { z } from 'zod';
import { decide } from '@/lib/acl';
import { EmailSchema, PutGrantBodySchema } from '@/lib/api-schemas';
import { TandemError } from '@/lib/errors';
import { DocIdSchema } from '@/lib/ids';
import { getApp, type AppContext } from '@/app/_server/context';
import { allowOrThrow, json, loadDoc, readJson, readParams, requireCaller, route } from '@/app/_server/http';

const Params = z.object({ id: DocIdSchema, email: EmailSchema });
type P = { id: string; email: string };

async function target(app: AppContext, email: string) {
  const u = await app.users.byEmail(email);
  if (!u) throw new TandemError('not_found', `no account with email ${email}`, 'email');
  return { userId: u.id, email: u.email };
}

export const PUT = route<P>(async (req, ctx) => {
  const body = await readJson(req, PutGrantBodySchema);
  const { id, email } = await readParams(ctx, Params);
  const app = getApp();
  const me = await requireCaller(req, app);
  const doc = await loadDoc(app, id);
  allowOrThrow(decide(me.principal, doc.acl, 'manage'));
  const view = await app.access.putGrant(me.user.id, id, await target(app, email), body.role);
  app.log.info({ doc: id, user: me.user.id, target: email, role: body.role, version: view.version }, 'access granted');
  return json(view);
});

export const DELETE = route<P>(async (req, ctx) => {
  const { id, email } = await readParams(ctx, Params);
  const app = getApp();
  const me = await requireCaller(req, app);
  const doc = await loadDoc(app, id);
  allowOrThrow(decide(me.principal, doc.acl, 'manage'));
  const view = await app.access.deleteGrant(me.user.id, id, await target(app, email));
  app.log.info({ doc: id, user: me.user.id, target: email, version: view.version }, 'access revoked');
  return json(view);
});
