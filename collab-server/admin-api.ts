/**
 * Live sessions for the admin console on collab-server's HTTP port: `GET /admin/sessions` and
 * `DELETE /admin/sessions/:connId` (closes that socket with 4403, permanent). Authorized by a
 * 60-second admin JWT the app signs for a user who is an instance admin right now.
 */
import type http from 'node:http';
import { CloseCode } from '../lib/close-codes';
import type { CollabMetrics } from '../observability/metrics';
import type { Logger } from '../observability/logger';
import type { Authenticator } from './auth';
import type { Connection } from './connection';

export interface AdminApiDeps {
  auth: Pick<Authenticator, 'verifyAdmin'>;
  /** This instance's sockets (the server's live set). */
  connections: ReadonlySet<Connection>;
  metrics: CollabMetrics;
  log: Logger;
  /** Cluster instance id, reported with every session so the app can route a DELETE back here. */
  instanceId?: string;
}

/** One live session as the admin console shows it. */
export interface AdminSession {
  connId: string;
  docId: string;
  userId: string;
  name: string;
  role: string | null;
  openedAt: string;
  remoteAddress: string;
  instance?: string;
}

const PREFIX = '/admin/sessions';

/** The admin API as a request handler: returns false (and does nothing) for paths it does not own. */
export function createAdminApi(deps: AdminApiDeps): (req: http.IncomingMessage, res: http.ServerResponse) => boolean {
  const { metrics, log } = deps;

  function json(res: http.ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse, path: string): Promise<void> {
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (!bearer) return json(res, 401, { error: 'unauthorized', message: 'admin token missing' });
    let adminId: string;
    try {
      adminId = await deps.auth.verifyAdmin(bearer);
    } catch (err) {
      return json(res, 403, { error: 'forbidden', message: (err as Error).message });
    }
    if (path === PREFIX && req.method === 'GET') {
      const sessions: AdminSession[] = [...deps.connections]
        .filter((c) => c.authorized && !c.closed)
        .map((c) => ({
          connId: c.id,
          docId: c.docId,
          userId: c.userId,
          name: c.identity?.name ?? '',
          role: c.role,
          openedAt: new Date(c.openedAt).toISOString(),
          remoteAddress: c.remoteAddress,
          ...(deps.instanceId ? { instance: deps.instanceId } : {}),
        }));
      return json(res, 200, { sessions, ...(deps.instanceId ? { instance: deps.instanceId } : {}) });
    }
    const connId = decodeURIComponent(path.slice(PREFIX.length + 1));
    if (req.method === 'DELETE' && connId) {
      const conn = [...deps.connections].find((c) => c.id === connId);
      if (!conn) return json(res, 404, { error: 'not_found', message: 'no such session' });
      log.info({ conn: conn.id, doc: conn.docId, user: conn.userId, admin: adminId }, 'session disconnected by an administrator');
      conn.close(CloseCode.FORBIDDEN, 'disconnected by an administrator');
      return json(res, 200, { closed: connId });
    }
    return json(res, 405, { error: 'method_not_allowed', message: 'use GET /admin/sessions or DELETE /admin/sessions/:connId' });
  }

  return (req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    if (path !== PREFIX && !path.startsWith(`${PREFIX}/`)) return false;
    handle(req, res, path).catch((err: Error) => {
      metrics.errors.inc({ where: 'admin-api' });
      log.error({ err }, 'admin endpoint failed');
      if (!res.headersSent) json(res, 500, { error: 'internal', message: 'admin endpoint failed' });
    });
    return true;
  };
}
