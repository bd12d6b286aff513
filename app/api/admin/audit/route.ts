// GET /api/admin/audit[?action=&docId=&limit=&before=] → {entries} newest first (instance admins).
import { AuditQuerySchema } from '@/lib/api-schemas';
import { TandemError } from '@/lib/errors';
import { getApp } from '@/app/_server/context';
import { json, readQuery, requireCaller, route } from '@/app/_server/http';

export const GET = route(async (req) => {
  const app = getApp();
  const me = await requireCaller(req, app);
  const query = readQuery(req, AuditQuerySchema);
  if (!me.principal.isAdmin) throw new TandemError('forbidden', 'only instance admins can read the audit log');
  const entries = await app.audit.list(query);
  const last = entries[entries.length - 1];
  return json({ entries, nextBefore: entries.length === query.limit && last ? last.id : null });
});
