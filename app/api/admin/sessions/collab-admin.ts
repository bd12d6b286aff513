/**
 * The app side of collab-server's admin endpoints: check the caller is an instance admin, mint a
 * 60-second admin JWT with the app's signing key, and forward to collab-server's HTTP port.
 * Scaled out (REDIS_URL): every live instance in Redis's instance registry is asked in parallel,
 * and a disconnect goes to the instance named in the connection id (`<instance>:c<n>`).
 * On one machine: the single collab-server at COLLAB_HTTP_URL.
 */
import type { Redis } from 'ioredis';
import { signAdminToken } from '@/lib/token';
import { TandemError } from '@/lib/errors';
import { instanceKeys, instanceOfConnId, parseInstanceInfo } from '@/lib/cluster-instances';
import { getApp, type AppContext } from '@/app/_server/context';
import { requireCaller } from '@/app/_server/http';

/** One instance's admin API takes at most this long before it is reported unreachable. */
const INSTANCE_TIMEOUT_MS = 3000;

export interface LiveSession {
  connId: string;
  docId: string;
  userId: string;
  name: string;
  role: string | null;
  openedAt: string;
  remoteAddress?: string;
  /** The collab-server instance holding the socket (null on a single machine). */
  instance?: string | null;
}

/** A collab-server to ask: `instance` is null on a single machine. */
export interface CollabTarget {
  instance: string | null;
  url: string;
}

/** An instance that did not answer (the listing still shows every other instance's sessions). */
export interface UnreachableInstance {
  instance: string | null;
  url: string;
  message: string;
}

/** The calling instance admin, or 401/403. */
export async function requireAdmin(req: Request) {
  const app = getApp();
  const me = await requireCaller(req, app);
  if (!me.principal.isAdmin) throw new TandemError('forbidden', 'only instance admins can manage live sessions');
  return { app, me };
}

/** collab-server's HTTP base URL on a single machine (its WebSocket port also serves HTTP). */
function collabHttpUrl(): string {
  return (process.env.COLLAB_HTTP_URL || `http://127.0.0.1:${process.env.COLLAB_PORT || 1234}`).replace(/\/+$/, '');
}

/** Live collab-server instances from the Redis registry (see lib/cluster-instances.ts). */
async function liveInstances(app: AppContext, redis: Redis): Promise<CollabTarget[]> {
  const keys = instanceKeys(app.config.REDIS_PREFIX);
  try {
    // Redis's clock, as the instances' heartbeats use it.
    const [sec, usec] = await redis.time();
    const now = Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
    const ids = await redis.zrangebyscore(keys.live, `(${now}`, '+inf');
    const infos = ids.length ? await redis.hmget(keys.info, ...ids) : [];
    const targets: CollabTarget[] = [];
    ids.forEach((id, i) => {
      const info = parseInstanceInfo(infos[i] ?? null);
      // Registered but not listening yet: it has no sessions to show.
      if (info) targets.push({ instance: id, url: info.url.replace(/\/+$/, '') });
    });
    return targets;
  } catch (err) {
    app.log.warn({ err }, 'instance registry unreachable');
    throw new TandemError('unavailable', 'the cluster registry (Redis) is not reachable');
  }
}

/** The collab-servers whose sessions the admin console shows (also where a REST restore is sent). */
export async function collabTargets(app: AppContext): Promise<CollabTarget[]> {
  return app.redis ? liveInstances(app, app.redis) : [{ instance: null, url: collabHttpUrl() }];
}

/** Call one collab-server's admin API with `token`; throws on a network failure or timeout. */
async function callInstance(target: CollabTarget, token: string, method: 'GET' | 'DELETE', path: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${target.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}` },
    cache: 'no-store',
    signal: AbortSignal.timeout(INSTANCE_TIMEOUT_MS),
  });
  const text = await res.text();
  let body: unknown = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = { error: 'internal', message: text.slice(0, 200) };
  }
  return { status: res.status, body };
}

const messageOf = (body: unknown, status: number) => (body as { message?: string } | null)?.message ?? `collab-server answered ${status}`;

async function adminToken(app: AppContext, userId: string): Promise<string> {
  const keys = await app.keys();
  return signAdminToken(keys.privateKey, { sub: userId }, { kid: keys.kid });
}

/** Ask every target for its sessions in parallel; failures are collected, not thrown. */
async function gather(app: AppContext, targets: CollabTarget[], token: string) {
  const sessions: LiveSession[] = [];
  const unreachable: UnreachableInstance[] = [];
  let forbidden: string | null = null;
  await Promise.all(
    targets.map(async (t) => {
      try {
        const { status, body } = await callInstance(t, token, 'GET', '/admin/sessions');
        if (status === 200) {
          for (const s of (body as { sessions?: LiveSession[] }).sessions ?? []) sessions.push({ ...s, instance: t.instance });
        } else if (status === 401 || status === 403) {
          forbidden = messageOf(body, status);
        } else {
          unreachable.push({ instance: t.instance, url: t.url, message: messageOf(body, status) });
        }
      } catch (err) {
        app.log.warn({ err, instance: t.instance, url: t.url }, 'collab-server admin endpoint unreachable');
        unreachable.push({ instance: t.instance, url: t.url, message: `not reachable: ${(err as Error).message}` });
      }
    }),
  );
  return { sessions, unreachable, forbidden: forbidden as string | null };
}

/**
 * Every live session of every collab-server, as the requesting instance admin. On a single machine
 * an unreachable collab-server is a 503 (there is nothing else to show); in a cluster it is listed
 * in `unreachable` beside the other instances' sessions.
 */
export async function listLiveSessions(req: Request): Promise<{ sessions: LiveSession[]; unreachable: UnreachableInstance[] }> {
  const { app, me } = await requireAdmin(req);
  const targets = await collabTargets(app);
  const { sessions, unreachable, forbidden } = await gather(app, targets, await adminToken(app, me.user.id));
  if (forbidden) throw new TandemError('forbidden', forbidden);
  if (!app.redis && unreachable.length) throw new TandemError('unavailable', 'collab-server is not reachable');
  sessions.sort((a, b) => a.openedAt.localeCompare(b.openedAt));
  return { sessions, unreachable };
}

/**
 * Force-disconnect `connId` on the instance that holds it (4403 there). Returns the session as it
 * was listed (for the audit entry); 404 when no live instance has it.
 */
export async function disconnectSession(req: Request, connId: string): Promise<LiveSession | null> {
  const { app, me } = await requireAdmin(req);
  let targets = await collabTargets(app);
  if (app.redis) {
    const owner = instanceOfConnId(connId);
    const holder = targets.filter((t) => t.instance === owner);
    // An id naming no live instance: its instance is gone, and its sockets with it. An id without
    // an instance (an older collab-server) could be anywhere.
    if (owner && !holder.length) throw new TandemError('not_found', 'that session has already ended');
    if (holder.length) targets = holder;
  }
  const token = await adminToken(app, me.user.id);
  // Look the session up first so the audit entry names the document and the user.
  const { sessions } = await gather(app, targets, token);
  const session = sessions.find((s) => s.connId === connId) ?? null;
  const results = await Promise.all(
    targets.map((t) =>
      callInstance(t, token, 'DELETE', `/admin/sessions/${encodeURIComponent(connId)}`).catch((err: Error) => {
        app.log.warn({ err, instance: t.instance, url: t.url }, 'collab-server admin endpoint unreachable');
        return { status: 0, body: { message: 'collab-server is not reachable' } };
      }),
    ),
  );
  if (results.some((r) => r.status === 200)) return session;
  const denied = results.find((r) => r.status === 401 || r.status === 403);
  if (denied) throw new TandemError('forbidden', messageOf(denied.body, denied.status));
  const failed = results.find((r) => r.status !== 404);
  if (failed) throw new TandemError('unavailable', messageOf(failed.body, failed.status));
  throw new TandemError('not_found', 'that session has already ended');
}
