// A client moving from one instance to another that lags behind the log (Redis lost the
// messages and the poll has not run yet) re-sends, in its sync step 2, other writers' updates the
// new instance has not applied. They must not be refused as a clock gap or a squatted id, nor
// bound to the wrong user: the instance reads the log first, then admits what is really new.
// Path: U1 → instance A → PostgreSQL; U2 (saw it on A) → instance B (behind) → log catch-up → B.
import { afterAll, beforeAll, expect, it } from 'vitest';
import * as Y from 'yjs';
import type { WebsocketProvider } from 'y-websocket';
import { provider, sameState, synced, waitFor } from '../helpers/fixture';
import { createPgFixture, startPgInstance, type ClusterInstance, type PgFixture } from '../helpers/pg-fixture';

let fx: PgFixture;
let a: ClusterInstance;
let b: ClusterInstance;
const open: WebsocketProvider[] = [];

beforeAll(async () => {
  fx = await createPgFixture();
  // No Redis and a log poll far beyond the test: B learns of A's updates only by catching up.
  const lagging = { redisUrl: false as const, pollMs: 600_000, degradedPollMs: 600_000 };
  a = await startPgInstance(fx, 'collab-a', lagging);
  b = await startPgInstance(fx, 'collab-b', lagging);
});
afterAll(async () => {
  for (const p of open) p.destroy();
  await a?.close();
  await b?.close();
  await fx?.cleanup();
});

it('a client that moves to a lagging instance is admitted, and nobody’s client id is taken over', async () => {
  const u1 = await fx.user({ name: 'U1' });
  const u2 = await fx.user({ name: 'U2' });
  const docId = await fx.doc(u1, { general: 'editor' });
  // B has the document loaded (and so can lag) before anything is written.
  const observer = provider(b.url, docId, await fx.token(u1, docId));
  open.push(observer);
  await synced(observer);

  const p1 = provider(a.url, docId, await fx.token(u1, docId));
  const d2 = new Y.Doc();
  const p2 = provider(a.url, docId, await fx.token(u2, docId), d2);
  open.push(p1, p2);
  await Promise.all([synced(p1), synced(p2)]);
  p1.doc.getText('t').insert(0, 'u1 ');
  await waitFor(() => d2.getText('t').toString() === 'u1 ', { what: 'U2 saw U1’s edit on A' });
  expect(observer.doc.getText('t').toString()).toBe('');

  // U2 moves to B and types there: its sync step 2 carries U1's structs, which B lacks.
  p2.destroy();
  d2.getText('t').insert(3, 'u2 ');
  const p2b = provider(b.url, docId, await fx.token(u2, docId), d2);
  open.push(p2b);
  await synced(p2b);
  await waitFor(() => observer.doc.getText('t').toString() === 'u1 u2 ', { what: 'B admitted U2’s edit with U1’s underneath' });
  expect(p2b.doc.getText('t').toString()).toBe('u1 u2 ');

  // U1's client id still belongs to U1 on B: U1 moves there too and keeps writing.
  p1.destroy();
  const p1b = provider(b.url, docId, await fx.token(u1, docId), p1.doc);
  open.push(p1b);
  await synced(p1b);
  p1.doc.getText('t').insert(0, 'again ');
  await waitFor(() => observer.doc.getText('t').toString() === 'again u1 u2 ' && sameState(observer.doc, p1.doc) && sameState(observer.doc, d2), {
    what: 'U1 writes on B under its own client id',
  });
  expect(sameState(await fx.stored(docId), observer.doc)).toBe(true);
  // The catch-up happened because of the move, not because of a poll.
  expect((await b.metrics.clusterCatchUps.get()).values.find((v) => v.labels.reason === 'behind')?.value).toBeGreaterThan(0);
});
