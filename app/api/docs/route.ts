// GET /api/docs[?q=&all=1&sort=edited|title|created] → {docs}: mine, shared with me and opened
// through general access, with my role and last edit; q searches titles and content.
// POST /api/docs {title} → 201 {doc}.
import { CreateDocBodySchema, DocListQuerySchema } from '@/lib/api-schemas';
import { TandemError } from '@/lib/errors';
import { getApp } from '@/app/_server/context';
import { docView } from '@/app/_server/stores/docs';
import { json, readJson, readQuery, requireCaller, route } from '@/app/_server/http';

export const GET = route(async (req) => {
  const app = getApp();
  const me = await requireCaller(req, app);
  const query = readQuery(req, DocListQuerySchema);
  if (query.all && !me.principal.isAdmin) throw new TandemError('forbidden', 'only instance admins can list every document');
  return json({ docs: await app.docs.list(me.principal, { q: query.q, all: Boolean(query.all), sort: query.sort }) });
});

export const POST = route(async (req) => {
  const app = getApp();
  const me = await requireCaller(req, app);
  const body = await readJson(req, CreateDocBodySchema);
  // Any signed-in user may create a document; they become its owner.
  const row = await app.docs.create(me.user.id, body.title);
  return json({ doc: docView(row, 'owner') }, 201, { location: `/api/docs/${row.id}` });
});
