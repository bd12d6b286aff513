// Issue 13: through the chaos proxy (200 ms ± 50 ms latency, stalls, random resets) 10 clients
// edit one document for 30 s and converge with every edit they made present (each client's edit
// log checked against every final copy and against a fresh reader); the same with the server
// SIGKILLed and restarted three times during the run.
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import * as Y from 'yjs';
import { CollabClient } from '../../lib/collab-client';
import { createFixture, provider, spawnServer, waitFor, type ChildServer } from '../helpers/fixture';
import { startChaosProxy } from './chaos-proxy';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const RUN_MS = Number(process.env.CHAOS_RUN_MS ?? 30_000);

async function run(opts: { kills: number }) {
  const fx = await createFixture();
  cleanups.push(() => fx.cleanup());
  const owner = fx.user();
  const docId = fx.doc(owner, { general: 'editor' });
  let srv: ChildServer = await spawnServer(fx);
  const port = srv.port;
  cleanups.push(() => srv.proc.kill('SIGKILL'));
  const proxy = await startChaosProxy({ targetPort: port, latencyMs: 200, jitterMs: 50, resetEveryMs: 3000, stallEveryMs: 7000, stallMs: 1500 });
  cleanups.push(() => proxy.close());
  const url = `ws://127.0.0.1:${proxy.port}`;
  const clients: CollabClient[] = [];
  const docs: Y.Doc[] = [];
  const logs: string[][] = [];
  for (let i = 0; i < 10; i++) {
    const user = fx.user();
    const doc = new Y.Doc();
    docs.push(doc);
    logs.push([]);
    const token = async () => ({ token: await fx.token(user, docId), url, expiresAt: Date.now() + 300_000 });
    // Back-off capped low so a client is not away for long stretches of a 30 s run.
    clients.push(new CollabClient({ docId, doc, WebSocketPolyfill: WebSocket, disableBc: true, getToken: token, backoff: { capMs: 2000 } }, await token()));
  }
  cleanups.push(() => clients.forEach((c) => c.destroy()));
  await waitFor(() => clients.every((c) => c.provider.synced), { timeout: 30_000, what: 'clients synced through the proxy' });
  const started = Date.now();
  let n = 0;
  const typing = setInterval(() => {
    const i = n++ % docs.length;
    const t = docs[i]!.getText('t');
    const mark = `c${i}e${logs[i]!.length};`;
    // At a random edit boundary (inside another marker would split it and hide both from the check).
    const s = t.toString();
    const cuts = [0];
    for (let j = s.indexOf(';'); j >= 0; j = s.indexOf(';', j + 1)) cuts.push(j + 1);
    t.insert(cuts[Math.floor(Math.random() * cuts.length)]!, mark);
    logs[i]!.push(mark);
  }, 40);
  cleanups.push(() => clearInterval(typing));
  for (let k = 0; k < opts.kills; k++) {
    await waitFor(() => Date.now() - started >= ((k + 1) * RUN_MS) / (opts.kills + 1), { timeout: RUN_MS + 5000, interval: 50 });
    srv.proc.kill('SIGKILL');
    await srv.exited;
    srv = await spawnServer(fx, {}, port);
  }
  await waitFor(() => Date.now() - started >= RUN_MS, { timeout: RUN_MS + 30_000, interval: 100 });
  clearInterval(typing);
  proxy.calm();
  proxy.setLatency(0, 0);
  const all = logs.flat();
  const text = (d: Y.Doc) => d.getText('t').toString();
  await waitFor(() => docs.every((d) => text(d) === text(docs[0]!)) && all.every((m) => text(docs[0]!).includes(m)), { timeout: 60_000, interval: 100, what: 'all copies converged with every edit' }).catch((err) => {
    console.log(clients.map((c, i) => `client ${i}: connected ${c.provider.wsconnected} synced ${c.provider.synced} status ${JSON.stringify(c.status)} missing ${all.filter((m) => !text(docs[i]!).includes(m)).length}/${all.length}`).join('\n'));
    throw err;
  });
  // The server has it too: a fresh reader, straight to the server.
  const reader = provider(srv.url, docId, await fx.token(owner, docId));
  cleanups.push(() => reader.destroy());
  await waitFor(() => reader.synced && all.every((m) => text(reader.doc).includes(m)), { timeout: 20_000, what: 'a fresh reader sees every edit' });
  expect(text(reader.doc)).toBe(text(docs[0]!));
  console.log(`chaos run (kills ${opts.kills}): ${all.length} edits by 10 clients in ${RUN_MS / 1000} s, all present; proxy ${JSON.stringify(proxy.stats)}`);
}

describe('chaos: bad network', () => {
  it('10 clients through latency, jitter, stalls and resets converge with every edit', () => run({ kills: 0 }), 150_000);
  it('the same with the server SIGKILLed and restarted three times', () => run({ kills: 3 }), 150_000);
});
