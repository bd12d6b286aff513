// Every process in Loki: the app (next start, LOKI_URL set) ships its lines to a Loki push-API
// receiver with the same labels as collab-server's ({service, instance, level}); a browser reconnect
// in Chromium (its token's key revoked: the server closes 4401) produces app log lines from the browser with the
// user, document and close code, carrying the same connection id (cid) as collab-server's line for
// that connection, so one Loki query shows both. The real `next start` serves /metrics only with
// the scrape token. Builds into its own directory (.next-e2e-obs).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kidOf, revokeKey } from '../../lib/key-ring';
import { startLokiReceiver, type LokiReceiver } from '../helpers/obs-loki-receiver';
import { newUser, signUpViaApi, startStack, waitFor, type Stack, type User } from './harness';

const TOKEN = 'e2e-scrape-token-0123456789abcdef';
let loki: LokiReceiver;
let stack: Stack;
let user: User;

beforeAll(async () => {
  loki = await startLokiReceiver();
  const shipping = { LOKI_URL: loki.url, LOKI_BATCH_INTERVAL_MS: '200', LOG_LEVEL: 'info' };
  stack = await startStack({
    distDir: '.next-e2e-obs',
    appEnv: { ...shipping, INSTANCE_ID: 'app-e2e', METRICS_TOKEN: TOKEN, METRICS_ALLOWED_NETWORKS: 'none' },
    collabEnv: { ...shipping, INSTANCE_ID: 'collab-e2e' },
  });
  user = await signUpViaApi(await newUser(stack, 'Rhea'));
}, 240_000);
afterAll(async () => {
  await user?.context.close();
  await stack?.stop();
  await loki?.stop();
});

const lines = (service: string) => loki.lines().filter((l) => l.labels.service === service);

describe('logs of every process in Loki', () => {
  it("the app's lines reach Loki labelled like collab-server's", async () => {
    await waitFor(() => lines('app').length > 0 && lines('collab-server').length > 0, { timeout: 20_000, what: 'lines from both processes' });
    const app = lines('app')[0]!;
    const collab = lines('collab-server')[0]!;
    expect(Object.keys(app.labels).sort()).toEqual(['instance', 'level', 'service']);
    expect(Object.keys(app.labels).sort()).toEqual(Object.keys(collab.labels).sort());
    expect(app.labels.instance).toBe('app-e2e');
    expect(collab.labels.instance).toBe('collab-e2e');
  });

  it("a browser reconnect is logged with user, document and close code, under the server's connection id", async () => {
    const r = await user.context.request.post('/api/docs', { data: { title: 'Reconnect me' } });
    const docId = ((await r.json()) as { doc: { id: string } }).doc.id;
    await user.page.goto(`/d/${docId}`);
    await user.page.locator('.tiptap').waitFor({ state: 'visible', timeout: 20_000 });
    const status = () => user.page.getByTestId('conn-status').getAttribute('data-status');
    await waitFor(async () => (await status()) === 'connected', { timeout: 20_000, what: 'connected' });
    const opened = await waitFor(() => lines('collab-server').find((l) => l.log.msg === 'connection opened' && l.log.doc === docId), { timeout: 10_000, what: 'server: connection opened' });
    const cid = opened.log.cid as string;
    expect(cid).toMatch(/^[\w-]{8,64}$/);

    // The server refuses the connection's token (its signing key is revoked: 4401); the editor gets
    // a new token and reconnects.
    await revokeKey(join(stack.dataDir, 'keys'), await kidOf(readFileSync(join(stack.dataDir, 'keys/collab-token.pub'), 'utf8')));
    const browserLine = (kind: string) => lines('app').find((l) => l.log.source === 'browser' && l.log.kind === kind && l.log.doc === docId);
    const closed = await waitFor(() => browserLine('close'), { timeout: 15_000, what: 'browser close report in Loki' });
    expect(closed.log).toMatchObject({ user: user.id, doc: docId, cid, code: 4401, codeName: 'UNAUTHORIZED', reason: 'token signing key revoked', msg: 'browser: collab connection closed' });
    const back = await waitFor(() => browserLine('reconnect'), { timeout: 15_000, what: 'browser reconnect report in Loki' });
    expect(back.log).toMatchObject({ user: user.id, doc: docId, previousCid: cid, previousCode: 4401 });
    await waitFor(async () => (await status()) === 'connected', { timeout: 20_000, what: 'reconnected' });
    // The server's side of the same connection, found by the same cid (one Loki query: | json | cid = "…").
    const server = await waitFor(() => lines('collab-server').find((l) => l.log.cid === cid && l.log.msg === 'connection closed'), { timeout: 10_000, what: "server's line for the cid" });
    expect(server.log).toMatchObject({ user: user.id, doc: docId, code: 4401 });
    // And the new connection's server line carries the reconnect's cid.
    await waitFor(() => lines('collab-server').some((l) => l.log.cid === back.log.cid && l.log.msg === 'connection opened'), { timeout: 10_000, what: 'server: reopened under the new cid' });
  });

  it('next start serves /metrics only with the scrape token', async () => {
    expect((await fetch(`${stack.baseUrl}/metrics`)).status).toBe(401);
    const ok = await fetch(`${stack.baseUrl}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(ok.status).toBe(200);
    const text = await ok.text();
    expect(text).toContain('tandem_app_client_reports_total{kind="close",code="UNAUTHORIZED"}');
  });
});
