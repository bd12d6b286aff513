// GET /api/docs/:id/images/:imageId → the image, to whoever may read the document (else 404/403).
// Served as an inert download-safe image: exact type, nosniff, a CSP that runs nothing, private cache.
import { z } from 'zod';
import { decide } from '@/lib/acl';
import { DocIdSchema } from '@/lib/ids';
import { TandemError } from '@/lib/errors';
import { getApp } from '@/app/_server/context';
import { allowOrThrow, loadDoc, readParams, requireCaller, route } from '@/app/_server/http';

const Params = z.object({ id: DocIdSchema, imageId: DocIdSchema });

export const GET = route<{ id: string; imageId: string }>(async (req, ctx) => {
  const app = getApp();
  const me = await requireCaller(req, app);
  const { id, imageId } = await readParams(ctx, Params);
  const doc = await loadDoc(app, id);
  allowOrThrow(decide(me.principal, doc.acl, 'read'));
  const img = await app.images.get(id, imageId);
  if (!img) throw new TandemError('not_found', 'image not found');
  return new Response(new Uint8Array(img.data), {
    status: 200,
    headers: {
      'content-type': img.mime,
      'content-length': String(img.bytes),
      'x-content-type-options': 'nosniff',
      'content-security-policy': "default-src 'none'; sandbox",
      'content-disposition': 'inline',
      // An image id never changes content; only this user's browser may keep it (access can end).
      'cache-control': 'private, max-age=31536000, immutable',
      'cross-origin-resource-policy': 'same-origin',
    },
  });
});
