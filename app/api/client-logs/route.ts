// POST /api/client-logs {reports: [...], dropped} → 204. Browsers' reconnects, close codes, sync
// failures and errors (observability/client-reports.ts), logged with the signed-in user through the
// app's logger (stdout and, with LOKI_URL, Loki: {service="app"} | json | source = "browser").
// Who is asking (401) → parse (400) → rate limit per user (CLIENT_LOG_RATE_PER_MINUTE; excess counted, 204) → log.
import { z } from 'zod';
import { closeCodeName } from '@/lib/close-codes';
import { getApp } from '@/app/_server/context';
import { readJson, requireCaller, route } from '@/app/_server/http';
import { getAppMetrics } from '@/observability/app-metrics';

const id = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/);
const text = (n: number) => z.string().max(4000).transform((s) => s.slice(0, n));
const Report = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('close'), doc: id, cid: id, code: z.number().int().min(0).max(4999), reason: text(200), wasOpen: z.boolean(), openMs: z.number().nonnegative() }),
  z.object({ kind: z.literal('reconnect'), doc: id, cid: id, previousCid: id, previousCode: z.number().int().min(0).max(4999), offlineMs: z.number().nonnegative() }),
  z.object({ kind: z.literal('sync-failure'), doc: id, cid: id.optional(), reason: text(300) }),
  z.object({ kind: z.literal('error'), message: text(500), where: text(200).optional(), doc: id.optional() }),
]);
const Body = z.object({ reports: z.array(Report).max(100), dropped: z.number().int().nonnegative().max(1_000_000).default(0) });

const MESSAGES: Record<z.infer<typeof Report>['kind'], string> = {
  close: 'browser: collab connection closed',
  reconnect: 'browser: collab reconnected',
  'sync-failure': 'browser: sync failed',
  error: 'browser: client error',
};

// Per user, per minute, in this process: a broken client in a loop costs one log line a report at most this often.
const windows = new Map<string, { start: number; n: number }>();

export const POST = route(async (req) => {
  const app = getApp();
  const me = await requireCaller(req, app);
  const body = await readJson(req, Body);
  const metrics = getAppMetrics();
  const now = Date.now();
  let w = windows.get(me.user.id);
  if (!w || now - w.start > 60_000) {
    if (windows.size > 100_000) windows.clear();
    windows.set(me.user.id, (w = { start: now, n: 0 }));
  }
  let refused = 0;
  for (const r of body.reports) {
    if (w.n >= app.config.CLIENT_LOG_RATE_PER_MINUTE) {
      refused++;
      continue;
    }
    w.n++;
    const code = 'code' in r ? r.code : 'previousCode' in r ? r.previousCode : undefined;
    metrics.clientReports.inc({ kind: r.kind, code: code === undefined ? '' : closeCodeName(code) });
    // The user is the session's, never one the body names; `source` marks every browser line.
    app.log.info({ ...r, ...(code === undefined ? {} : { codeName: closeCodeName(code) }), source: 'browser', user: me.user.id }, MESSAGES[r.kind]);
  }
  if (refused) metrics.clientReportsDropped.inc({ reason: 'rate' }, refused);
  if (body.dropped) metrics.clientReportsDropped.inc({ reason: 'client-rate' }, body.dropped);
  return new Response(null, { status: 204 });
});
