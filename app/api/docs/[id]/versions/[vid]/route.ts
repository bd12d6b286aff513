// GET /api/docs/:id/versions/:vid → {version, json, html, text} (viewers); PATCH {name} → {version}
// (editors); DELETE → {ok} (owner and admins; named versions: 409, un-name them first).
import { RenameVersionBodySchema, type VersionContentResponse } from '@/lib/version-api';
import { TandemError } from '@/lib/errors';
import { getApp } from '@/app/_server/context';
import { json, readJson, readParams, route } from '@/app/_server/http';
import { access, contentOf, loadVersion, versionDoc, VersionParams, views } from '../shared';

type P = { id: string; vid: string };

export const GET = route<P>(async (req, ctx) => {
  const { id, vid } = await readParams(ctx, VersionParams);
  const app = getApp();
  const { backend } = await access(req, app, id, 'read');
  const v = await loadVersion(backend, id, vid);
  const doc = await versionDoc(backend, id, vid);
  try {
    const res: VersionContentResponse = { version: (await views(backend, [v]))[0]!, ...contentOf(doc) };
    return json(res);
  } finally {
    doc.destroy();
  }
});

export const PATCH = route<P>(async (req, ctx) => {
  const body = await readJson(req, RenameVersionBodySchema);
  const { id, vid } = await readParams(ctx, VersionParams);
  const app = getApp();
  const { me, backend } = await access(req, app, id, 'write');
  const before = await loadVersion(backend, id, vid);
  const v = await backend.versions.rename(id, vid, body.name);
  if (!v) throw new TandemError('not_found', 'version not found', 'vid');
  await app.audit.record({ actorId: me.user.id, action: 'version.name', docId: id, target: vid, detail: { oldName: before.name, name: body.name, n: v.n } });
  return json({ version: (await views(backend, [v]))[0] });
});

export const DELETE = route<P>(async (req, ctx) => {
  const { id, vid } = await readParams(ctx, VersionParams);
  const app = getApp();
  const { me, backend } = await access(req, app, id, 'delete');
  const v = await loadVersion(backend, id, vid);
  if (v.name !== null) throw new TandemError('conflict', 'a named version cannot be deleted: remove its name first', 'vid');
  await backend.versions.remove(id, [vid]);
  await app.audit.record({ actorId: me.user.id, action: 'version.delete', docId: id, target: vid, detail: { n: v.n } });
  return json({ ok: true });
});
