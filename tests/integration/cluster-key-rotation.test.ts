// Key rotation and revocation scaled out: three collab-server child processes on PostgreSQL + Redis,
// keys by env (COLLAB_TOKEN_PUBLIC_KEY, as compose.yaml and `npm run cluster` pass them) plus a key-ring
// directory every instance reads (COLLAB_TOKEN_KEYS_DIR: a shared volume). 20 Tandem clients spread
// over the instances: `npm run keys -- rotate` closes no socket and every instance accepts both keys;
// revoking the leaked key closes its sockets on all three instances, re-authorized within 1 s.
// Path: client → collab-N (token checked against the shared ring) → PostgreSQL/Redis → the others.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import * as Y from 'yjs';
import WebSocket from 'ws';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { describe, expect, it } from 'vitest';
import { CollabClient } from '../../lib/collab-client';
import { readKeyRing, revokeKey } from '../../lib/key-ring';
import { signCollabToken } from '../../lib/token';
import { ROOT, sameState, waitFor } from '../helpers/fixture';
import { useCluster } from '../helpers/cluster';

const KEYS = (dataDir: string) => join(dataDir, 'keys');
const c = useCluster({ instances: 3, keyRing: true });
const kid = (token: string) => decodeProtectedHeader(token).kid!;

/** What the app does: sign with the ring's active key, with its kid. */
async function mint(userId: string, docId: string, instance: number): Promise<{ token: string; url: string; expiresAt: number }> {
  const ring = await readKeyRing({ dir: KEYS(c.dataDir), withPrivate: true });
  const t = await signCollabToken(ring.signing!.privateKey, { sub: userId, name: 'Sam Scale', doc: docId }, { ttlSeconds: 300, kid: ring.signing!.kid });
  return { token: t.token, url: c.instances[instance]!.url, expiresAt: decodeJwt(t.token).exp! * 1000 };
}

describe('key rotation and revocation across instances', () => {
  it('rotation closes none of 20 sockets on 3 instances; revocation closes and re-authorizes them within 1 s', async () => {
    const owner = await c.user();
    const docId = await c.doc(owner);
    const clients: { cl: CollabClient; closes: { code: number; at: number }[]; synced: number[] }[] = [];
    for (let i = 0; i < 20; i++) {
      const cl = await CollabClient.connect({ docId, doc: new Y.Doc(), WebSocketPolyfill: WebSocket, disableBc: true, getToken: () => mint(owner, docId, i % 3) });
      const w = { cl, closes: [] as { code: number; at: number }[], synced: [] as number[] };
      cl.provider.on('connection-close', (ev) => w.closes.push({ code: ev?.code ?? 0, at: Date.now() }));
      cl.provider.on('sync', (s: boolean) => s && w.synced.push(Date.now()));
      clients.push(w);
    }
    try {
      await waitFor(() => clients.every((w) => w.cl.provider.synced), { what: '20 synced' });
      const oldToken = (await mint(owner, docId, 0)).token;

      execFileSync(process.execPath, ['--import', 'tsx', join(ROOT, 'collab-server/ops/keys.ts'), 'rotate'], { env: { ...process.env, COLLAB_TOKEN_KEYS_DIR: KEYS(c.dataDir) } });
      const fresh = await mint(owner, docId, 1);
      expect(kid(fresh.token)).not.toBe(kid(oldToken));
      // Each instance takes both the new key (re-read on an unknown kid) and the old one, in band.
      for (let i = 0; i < 3; i++) expect(await clients[i]!.cl.renew()).toBe(true);
      clients[5]!.cl.provider.doc.getText('t').insert(0, 'rotated');
      await waitFor(() => clients.every((w) => sameState(w.cl.provider.doc, clients[5]!.cl.provider.doc)), { what: 'converged across instances' });
      expect(clients.flatMap((w) => w.closes)).toEqual([]);

      // The new key leaks: revoke it (a newer key signs from now on).
      const leaked = kid(fresh.token);
      const t0 = Date.now();
      await revokeKey(KEYS(c.dataDir), leaked);
      // Sockets opened or renewed with the leaked key (the 3 renewed ones) close 4401 and come back.
      await waitFor(() => clients.slice(0, 3).every((w) => w.closes.some((x) => x.at >= t0 && x.code === 4401) && w.synced.some((s) => s > t0)), { timeout: 5000, what: 'leaked-key sockets closed and re-synced' });
      const back = Math.max(...clients.slice(0, 3).map((w) => w.synced.find((s) => s > t0)! - t0));
      console.log(`[cluster-key-rotation] revoked key: its sockets on 3 instances re-authorized within ${back} ms`);
      expect(back).toBeLessThan(1000);
      // Sockets on the other (still valid, retired) key stay open.
      expect(clients.slice(3).flatMap((w) => w.closes)).toEqual([]);
      clients[9]!.cl.provider.doc.getText('t').insert(0, 'after revocation: ');
      await waitFor(() => clients.every((w) => w.cl.provider.doc.getText('t').toString() === 'after revocation: rotated'), { what: 'edits flow after revocation' });
    } finally {
      for (const w of clients) w.cl.destroy();
    }
  });
});
