// POST /api/docs/:id/images (the image's bytes as the body) → 201 {id, url, bytes}: editors store an
// image pasted or dropped into the document. PNG, JPEG, GIF or WebP by content, at most IMAGE_MAX_BYTES.
import { z } from 'zod';
import { decide } from '@/lib/acl';
import { DocIdSchema } from '@/lib/ids';
import { TandemError } from '@/lib/errors';
import { imageUrl, sniffImageType } from '@/lib/image-types';
import { getApp } from '@/app/_server/context';
import { allowOrThrow, json, loadDoc, readParams, refuseCrossSite, requireCaller, route } from '@/app/_server/http';

const Params = z.object({ id: DocIdSchema });

const tooLarge = (max: number) => new TandemError('payload_too_large', `images can be at most ${(max / (1024 * 1024)).toFixed(1)} MB`);

/** The body, read no further than `max` bytes (a lying or missing Content-Length cannot fill memory). */
async function readBody(req: Request, max: number): Promise<Uint8Array> {
  if (!req.body) return new Uint8Array();
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = req.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      await reader.cancel();
      throw tooLarge(max);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

export const POST = route<{ id: string }>(async (req, ctx) => {
  refuseCrossSite(req);
  const app = getApp();
  const me = await requireCaller(req, app);
  const { id } = await readParams(ctx, Params);
  const max = app.config.IMAGE_MAX_BYTES;
  if (Number(req.headers.get('content-length') ?? 0) > max) throw tooLarge(max);
  const doc = await loadDoc(app, id);
  allowOrThrow(decide(me.principal, doc.acl, 'write'));
  const data = await readBody(req, max);
  if (data.byteLength === 0) throw new TandemError('bad_request', 'the image is empty');
  const mime = sniffImageType(data);
  if (!mime) throw new TandemError('bad_request', 'only PNG, JPEG, GIF and WebP images can be added');
  const stored = await app.images.put(id, { mime, data, createdBy: me.user.id });
  app.log.info({ doc: id, user: me.user.id, image: stored.id, bytes: stored.bytes, mime }, 'image stored');
  return json({ id: stored.id, url: imageUrl(id, stored.id), bytes: stored.bytes }, 201);
});
