// GET /api/docs/:id/versions/:vid/diff?against=current|:vid2 → what changed from the version to the
// current document (or to another version), word by word (viewers).
import { diffWordsWithSpace } from 'diff';
import { DiffQuerySchema, type DiffChange, type VersionDiffResponse } from '@/lib/version-api';
import { getApp } from '@/app/_server/context';
import { json, readParams, readQuery, route } from '@/app/_server/http';
import { fragmentText, CONTENT_FIELD } from '@/lib/versions';
import { access, loadVersion, versionDoc, VersionParams, views } from '../../shared';

type P = { id: string; vid: string };

export const GET = route<P>(async (req, ctx) => {
  const q = readQuery(req, DiffQuerySchema);
  const { id, vid } = await readParams(ctx, VersionParams);
  const app = getApp();
  const { backend } = await access(req, app, id, 'read');
  const from = await loadVersion(backend, id, vid);
  const other = q.against === 'current' ? null : await loadVersion(backend, id, q.against, 'against');
  const fromDoc = await versionDoc(backend, id, vid);
  const toDoc = other ? await versionDoc(backend, id, other.id) : (await backend.stored(id)).doc;
  try {
    const a = fragmentText(fromDoc.getXmlFragment(CONTENT_FIELD));
    const b = fragmentText(toDoc.getXmlFragment(CONTENT_FIELD));
    const changes: DiffChange[] = diffWordsWithSpace(a, b).map((c) => ({ op: c.added ? 'added' : c.removed ? 'removed' : 'equal', text: c.value }));
    const [fromView, toView] = await views(backend, other ? [from, other] : [from]);
    const res: VersionDiffResponse = {
      from: { version: fromView! },
      to: other ? { version: toView! } : { current: true },
      changes,
      added: changes.filter((c) => c.op === 'added').reduce((n, c) => n + c.text.length, 0),
      removed: changes.filter((c) => c.op === 'removed').reduce((n, c) => n + c.text.length, 0),
    };
    return json(res);
  } finally {
    fromDoc.destroy();
    toDoc.destroy();
  }
});
