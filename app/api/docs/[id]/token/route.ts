// POST /api/docs/:id/token → {token, url, expiresAt, role}: a short-lived collab token for collab-server.
import { z } from 'zod';
import { decide } from '@/lib/acl';
import type { TokenResponse } from '@/lib/api-schemas';
import { DocIdSchema } from '@/lib/ids';
import { signCollabToken } from '@/lib/token';
import { getApp, type AppContext } from '@/app/_server/context';
import { allowOrThrow, json, loadDoc, readParams, requireCaller, route } from '@/app/_server/http';

const Params = z.object({ id: DocIdSchema });

/** COLLAB_PUBLIC_URL, else collab-server on the host the browser used to reach us. */
function collabUrl(req: Request, app: AppContext): string {
  if (app.config.COLLAB_PUBLIC_URL) return app.config.COLLAB_PUBLIC_URL;
  const host = req.headers.get('x-forwarded-host') ?? req.headers.get('host');
  let hostname = new URL(req.url).hostname;
  if (host) {
    try {
      hostname = new URL(`http://${host}`).hostname;
    } catch {
      // A malformed Host header: fall back to the URL Next built.
    }
  }
  return `ws://${hostname}:${app.config.COLLAB_PORT}`;
}

export const POST = route<{ id: string }>(async (req, ctx) => {
  const app = getApp();
  const me = await requireCaller(req, app);
  const { id } = await readParams(ctx, Params);
  const doc = await loadDoc(app, id);
  // Viewers get a token too: collab-server checks every write, so a viewer's socket is read-only.
  const d = decide(me.principal, doc.acl, 'read');
  allowOrThrow(d);
  // Opened through general access: remember it, so the document stays in this user's list.
  if (doc.acl.ownerId !== me.user.id && !doc.acl.grants.has(me.user.id) && doc.acl.generalAccess) await app.docs.recordVisit(id, me.user.id);
  const keys = await app.keys();
  const t = await signCollabToken(keys.privateKey, { sub: me.user.id, name: me.user.name, doc: id }, { ttlSeconds: app.config.COLLAB_TOKEN_TTL_SECONDS, kid: keys.kid });
  const res: TokenResponse = { token: t.token, url: collabUrl(req, app), expiresAt: t.expiresAt, role: d.role };
  return json(res);
});
