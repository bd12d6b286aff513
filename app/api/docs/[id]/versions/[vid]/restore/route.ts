// POST /api/docs/:id/versions/:vid/restore [{applied: {stateVector}}] → {version} (editors): bring
// the document back to the version, as an edit everyone sees live; recorded in the audit log and
// as a version of its own ("restored").
import { TandemError } from '@/lib/errors';
import { RestoreBodySchema } from '@/lib/version-api';
import { getApp } from '@/app/_server/context';
import { json, readJson, readParams, route } from '@/app/_server/http';
import { waitFor } from '@/lib/wait-for';
import { access, covers, loadVersion, restoreThroughCollab, VersionParams, views } from '../../shared';

type P = { id: string; vid: string };

export const POST = route<P>(async (req, ctx) => {
  // The body is optional (a script may POST nothing): no body means the server applies it.
  const hasBody = Number(req.headers.get('content-length') ?? 0) > 0 || !!req.headers.get('content-type');
  const body = hasBody ? await readJson(req, RestoreBodySchema) : {};
  const { id, vid } = await readParams(ctx, VersionParams);
  const app = getApp();
  const { me, backend } = await access(req, app, id, 'write');
  const v = await loadVersion(backend, id, vid);
  let mode: 'editor' | 'server';
  if (body.applied) {
    // The editor made the restore as the caller's own edit (their undo reverts it for everyone);
    // record it once collab-server has stored it.
    mode = 'editor';
    const sv = new Uint8Array(Buffer.from(body.applied.stateVector, 'base64'));
    const stored = await waitFor(
      async () => {
        const s = await backend.stored(id);
        const ok = covers(s.doc, sv);
        s.doc.destroy();
        return ok;
      },
      { timeoutMs: app.config.VERSION_RESTORE_WAIT_MS, intervalMs: 100 },
    );
    if (!stored) throw new TandemError('conflict', 'the restore has not reached the server yet: check the connection and try again');
  } else {
    mode = 'server';
    await restoreThroughCollab(app, me, id, vid);
  }
  const { doc, lastSeq } = await backend.stored(id);
  try {
    const restored = await backend.versions.add(
      id,
      () => ({ kind: 'restore', createdBy: me.user.id, restoredFrom: vid, contributors: [me.user.id], uptoSeq: lastSeq, doc }),
      { keyframeEvery: app.config.VERSION_KEYFRAME_EVERY },
    );
    await app.audit.record({ actorId: me.user.id, action: 'version.restore', docId: id, target: vid, detail: { n: v.n, name: v.name, mode, version: restored!.id } });
    app.log.info({ doc: id, user: me.user.id, version: vid, mode }, 'version restored');
    return json({ version: (await views(backend, [restored!]))[0] });
  } finally {
    doc.destroy();
  }
});
