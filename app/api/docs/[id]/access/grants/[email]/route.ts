// PUT /api/docs/:id/access/grants/:email {role: "viewer"|"editor"} → access list (owner/admin). An address
// with a verified account gets a grant; any other address (no account, or not verified yet while
// EMAIL_VERIFICATION=required) gets an invitation that becomes a grant once it is verified. The answer is
// 200 either way, so sharing does not tell whether an account exists.
// DELETE /api/docs/:id/access/grants/:email → access list; removes the grant and any invitation; 404 when neither.
import { z } from 'zod';
import { decide } from '@/lib/acl';
import { EmailSchema, PutGrantBodySchema } from '@/lib/api-schemas';
import { TandemError } from '@/lib/errors';
import { DocIdSchema } from '@/lib/ids';
import { getApp } from '@/app/_server/context';
import { allowOrThrow, json, loadDoc, readJson, readParams, requireCaller, route } from '@/app/_server/http';
import { canReceiveGrants } from '@/app/_server/verification';

const Params = z.object({ id: DocIdSchema, email: EmailSchema });
type P = { id: string; email: string };

export const PUT = route<P>(async (req, ctx) => {
  const app = getApp();
  const me = await requireCaller(req, app);
  const { id, email } = await readParams(ctx, Params);
  const body = await readJson(req, PutGrantBodySchema);
  const doc = await loadDoc(app, id);
  allowOrThrow(decide(me.principal, doc.acl, 'manage'));
  const u = await app.users.byEmail(email);
  if (u && canReceiveGrants(app, u)) {
    const view = await app.access.putGrant(me.user.id, id, { userId: u.id, email: u.email }, body.role);
    app.log.info({ doc: id, user: me.user.id, target: email, role: body.role, version: view.version }, 'access granted');
    return json(view);
  }
  // Whoever claims this address has not proven it yet: nothing is granted until they do.
  const view = await app.access.putInvitation(me.user.id, id, email, body.role);
  app.log.info({ doc: id, user: me.user.id, target: email, role: body.role }, 'invitation stored (address not verified)');
  return json(view);
});

export const DELETE = route<P>(async (req, ctx) => {
  const app = getApp();
  const me = await requireCaller(req, app);
  const { id, email } = await readParams(ctx, Params);
  const doc = await loadDoc(app, id);
  allowOrThrow(decide(me.principal, doc.acl, 'manage'));
  const before = await app.access.view(id);
  const grant = before.grants.find((g) => g.email.toLowerCase() === email);
  const invited = before.invitations.some((i) => i.email.toLowerCase() === email);
  if (!grant && !invited) throw new TandemError('not_found', `${email} has no access to this document`, 'email');
  let view = before;
  if (invited) view = await app.access.deleteInvitation(me.user.id, id, email);
  if (grant) view = await app.access.deleteGrant(me.user.id, id, { userId: grant.userId, email: grant.email });
  app.log.info({ doc: id, user: me.user.id, target: email, version: view.version }, 'access revoked');
  return json(view);
});
