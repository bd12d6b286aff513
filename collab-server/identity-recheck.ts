/**
 * Open sockets follow what happens to their user after connect (issue 11): every `intervalMs` one
 * query reads the status of every user with an open socket here. A user who was deleted, or who
 * signed out after the socket's token was issued (`tokens_not_before`, set by the app), is closed
 * 4401; an instance admin who was demoted (or a user promoted) has the role on each open socket
 * decided again — a lost role closes 4403, a changed one is told to extension clients.
 */
import { CloseCode } from '../lib/close-codes';
import { encode } from '../lib/protocol';
import type { CollabMetrics } from '../observability/metrics';
import type { Logger } from '../observability/logger';
import type { AclStore } from './acl-store';
import type { Connection } from './connection';

export interface IdentityRecheckDeps {
  acl: Pick<AclStore, 'userStatus'>;
  connections: ReadonlySet<Connection>;
  metrics: CollabMetrics;
  log: Logger;
  intervalMs: number;
}

/** Start the periodic re-check; returns a stop function. Also exposes `runOnce` for tests. */
export function startIdentityRecheck(d: IdentityRecheckDeps): { stop(): void; runOnce(): Promise<void> } {
  let running = false;
  async function runOnce(): Promise<void> {
    if (running) return;
    running = true;
    try {
      // Anonymous development mode (jti '') has no accounts to re-check.
      const conns = [...d.connections].filter((c) => c.authorized && !c.closed && c.identity?.jti);
      if (conns.length === 0) return;
      const status = await d.acl.userStatus([...new Set(conns.map((c) => c.userId))]);
      for (const c of conns) {
        if (c.closed) continue;
        const s = status.get(c.userId);
        if (!s) {
          c.close(CloseCode.UNAUTHORIZED, 'account not found');
          continue;
        }
        if ((c.identity!.issuedAt ?? 0) < s.tokensNotBefore) {
          c.close(CloseCode.UNAUTHORIZED, 'token revoked: signed out');
          continue;
        }
        if (c.identity!.isAdmin === s.isAdmin || !c.doc) continue;
        const before = c.role;
        c.setAdmin(s.isAdmin);
        const after = c.doc.decideRole(c);
        d.log.info({ conn: c.id, doc: c.docId, user: c.userId, admin: s.isAdmin, role: after }, 'instance admin status changed on an open socket');
        if (!after) c.close(CloseCode.FORBIDDEN, 'access revoked');
        else if (after !== before && c.ext) c.send(encode.role(after), 'role');
      }
    } catch (err) {
      d.metrics.errors.inc({ where: 'identity-recheck' });
      d.log.warn({ err }, 're-checking the users of open sockets failed; retrying at the next interval');
    } finally {
      running = false;
    }
  }
  const timer = setInterval(() => void runOnce(), d.intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer), runOnce };
}
