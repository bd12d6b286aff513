/**
 * The app side of collab-server's admin endpoints: check the caller is an instance admin, mint a
 * 60-second admin JWT with the app's signing key, and forward to collab-server's HTTP port.
 */
import { signAdminToken } from '@/lib/token';
import { TandemError } from '@/lib/errors';
import { getApp } from '@/app/_server/context';
import { requireCaller } from '@/app/_server/http';

/** collab-server's HTTP base URL (its WebSocket port also serves HTTP). */
function collabHttpUrl(): string {
  return (process.env.COLLAB_HTTP_URL || `http://127.0.0.1:${process.env.COLLAB_PORT || 1234}`).replace(/\/+$/, '');
}

export interface LiveSession {
  connId: string;
  docId: string;
  userId: string;
  name: string;
  role: string | null;
  openedAt: string;
  remoteAddress?: string;
}

/** The calling instance admin, or 401/403. */
export async function requireAdmin(req: Request) {
  const app = getApp();
  const me = await requireCaller(req, app);
  if (!me.principal.isAdmin) throw new TandemError('forbidden', 'only instance admins can manage live sessions');
  return { app, me };
}

/** Call collab-server's admin API as the requesting instance admin; returns its status and JSON body. */
export async function callCollabAdmin(req: Request, method: 'GET' | 'DELETE', path: string): Promise<{ status: number; body: unknown }> {
  const { app, me } = await requireAdmin(req);
  const keys = await app.keys();
  const token = await signAdminToken(keys.privateKey, { sub: me.user.id });
  let res: Response;
  try {
    res = await fetch(`${collabHttpUrl()}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}` },
      cache: 'no-store',
      signal: AbortSignal.timeout(5000),
    });
  } catch (err) {
    app.log.warn({ err, path }, 'collab-server admin endpoint unreachable');
    throw new TandemError('unavailable', 'collab-server is not reachable');
  }
  const text = await res.text();
  let body: unknown = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = { error: 'internal', message: text.slice(0, 200) };
  }
  return { status: res.status, body };
}
