// GET /api/docs/:id/versions → {versions} (viewers); POST {name} → 201 {version}: name the current state (editors).
import { NameVersionBodySchema } from '@/lib/version-api';
import { getApp } from '@/app/_server/context';
import { json, readJson, readParams, route } from '@/app/_server/http';
import { access, DocParams, views } from './shared';

type P = { id: string };

export const GET = route<P>(async (req, ctx) => {
  const { id } = await readParams(ctx, DocParams);
  const app = getApp();
  const { backend } = await access(req, app, id, 'read');
  return json({ versions: await views(backend, await backend.versions.list(id)) });
});

export const POST = route<P>(async (req, ctx) => {
  const body = await readJson(req, NameVersionBodySchema);
  const { id } = await readParams(ctx, DocParams);
  const app = getApp();
  const { me, backend } = await access(req, app, id, 'write');
  // The document as stored now: every accepted edit, whichever collab-server took it.
  const { doc, lastSeq } = await backend.stored(id);
  try {
    const v = await backend.versions.add(
      id,
      () => ({ kind: 'named', name: body.name, createdBy: me.user.id, uptoSeq: lastSeq, doc }),
      { keyframeEvery: app.config.VERSION_KEYFRAME_EVERY },
    );
    await app.audit.record({ actorId: me.user.id, action: 'version.name', docId: id, target: v!.id, detail: { name: body.name, n: v!.n } });
    return json({ version: (await views(backend, [v!]))[0] }, 201);
  } finally {
    doc.destroy();
  }
});
