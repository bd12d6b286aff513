// Refused writes are logged and audited per (user, document) with counts, not per connection
// (issue 11): a viewer who reconnects after every refused write gets one audit row for the
// interval, whose count (with the rows after it) adds up to every refusal.
import { afterAll, describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { encode } from '../../lib/protocol';
import { createFixture, startServer, waitFor, type Fixture, type InProcessServer } from '../helpers/fixture';
import { rawConnect } from '../helpers/raw-client';

let fx: Fixture | undefined;
let srv: InProcessServer | undefined;
afterAll(async () => {
  await srv?.close();
  fx?.cleanup();
});

const rows = (f: Fixture, docId: string, actor: string) =>
  f.db
    .prepare<[string, string], { detail: string | null }>("SELECT detail FROM audit WHERE doc_id = ? AND actor_id = ? AND action = 'write.refused' ORDER BY id")
    .all(docId, actor)
    .map((r) => JSON.parse(r.detail ?? '{}') as { count?: number; reason?: string });

describe('refused writes in the audit table', () => {
  it('20 reconnects with one refused write each: one row at once, the rest counted in one more; counts add up to 20', async () => {
    fx = await createFixture();
    srv = await startServer(fx, { refusalAuditIntervalMs: 2000 });
    const owner = fx.user();
    const viewer = fx.user();
    const docId = fx.doc(owner);
    fx.grant(docId, viewer, 'viewer');
    for (let i = 0; i < 20; i++) {
      const v = await rawConnect(srv.url, docId, { token: await fx.token(viewer, docId), autoSend: false });
      await v.synced();
      const d = new Y.Doc();
      d.getText('t').insert(0, `try ${i}`);
      v.send(encode.update(Y.encodeStateAsUpdate(d)));
      await waitFor(() => v.of('auth').length > 0, { what: `refusal ${i}` });
      v.close();
      await v.closed;
    }
    // Within the interval: only the first refusal wrote a row (per connection, it was one per socket).
    expect(rows(fx, docId, viewer)).toHaveLength(1);
    const lines = srv.logs.lines.filter((l) => l.msg === 'write refused' && l.doc === docId);
    expect(lines).toHaveLength(1);
    // After the interval the sweep writes the other 19 as one row.
    const all = await waitFor(() => (rows(fx!, docId, viewer).length === 2 ? rows(fx!, docId, viewer) : null), { timeout: 10_000, what: 'the counted row' });
    expect(all.map((r) => r.count)).toEqual([1, 19]);
    expect(all[0]!.reason).toMatch(/viewer/);
  }, 60_000);
});
