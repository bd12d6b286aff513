// POST /api/client-logs (the real route handler, the app's real logger shipping to a Loki push-API
// receiver): who is asking first (401), then the body (400), then a per-user budget
// (CLIENT_LOG_RATE_PER_MINUTE: the excess is counted, not logged); accepted reports become app lines
// labelled {service="app", instance, level} carrying the signed-in user, never a user the body names.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as clientLogs from '../../app/api/client-logs/route';
import { getApp } from '../../app/_server/context';
import { getAppMetrics } from '../../observability/app-metrics';
import { call, expectError, signUp, useTempDataDir } from '../helpers/app';
import { startLokiReceiver, type LokiReceiver } from '../helpers/obs-loki-receiver';
import { waitFor } from '../helpers/wait';

let loki: LokiReceiver;
let env: { cleanup(): void };

beforeAll(async () => {
  loki = await startLokiReceiver();
  env = useTempDataDir({ LOKI_URL: loki.url, LOKI_BATCH_INTERVAL_MS: '100', LOG_LEVEL: 'info', INSTANCE_ID: 'app-logs-test', CLIENT_LOG_RATE_PER_MINUTE: '5' });
});
afterAll(async () => {
  await getApp().close();
  await loki.stop();
  env.cleanup();
});

const close = (doc: string, cid: string) => ({ kind: 'close', doc, cid, code: 4401, reason: 'token expired', wasOpen: true, openMs: 1200 });

describe('browser reports', () => {
  it('anonymous → 401 before the body is read; a bad body → 400', async () => {
    expectError(await call(clientLogs.POST, { method: 'POST', rawBody: 'not json' }), 401);
    const me = await signUp('Rory Reporter');
    expectError(await call(clientLogs.POST, { method: 'POST', token: me.token, body: { reports: [{ kind: 'close', doc: 'x', cid: 'y' }] } }), 400);
    expectError(await call(clientLogs.POST, { method: 'POST', token: me.token, body: { reports: [{ kind: 'nope' }] } }), 400);
  });

  it('are logged with the signed-in user and shipped to Loki with the app labels; over the budget they are counted', async () => {
    const me = await signUp('Rae Reconnect');
    const reports = [
      { ...close('docAAAAAAAAAAAAAAAAAAA', 'cid-one-0001'), user: 'someone-else' },
      { kind: 'reconnect', doc: 'docAAAAAAAAAAAAAAAAAAA', cid: 'cid-two-0002', previousCid: 'cid-one-0001', previousCode: 4401, offlineMs: 300 },
      { kind: 'sync-failure', doc: 'docAAAAAAAAAAAAAAAAAAA', reason: 'token renewal refused' },
      { kind: 'error', message: 'TypeError: x is undefined', where: 'app.js:1', source: 'spoofed' },
      close('docBBBBBBBBBBBBBBBBBBB', 'cid-three-03'),
      close('docCCCCCCCCCCCCCCCCCCC', 'cid-four-004'),
      close('docDDDDDDDDDDDDDDDDDDD', 'cid-five-005'),
    ];
    const r = await call(clientLogs.POST, { method: 'POST', token: me.token, body: { reports, dropped: 3 } });
    expect(r.status).toBe(204);
    const mine = () => loki.lines().filter((l) => l.log.source === 'browser' && l.log.user === me.user.id);
    await waitFor(() => mine().length === 5, { what: '5 browser lines in Loki' });
    const first = mine().find((l) => l.log.cid === 'cid-one-0001')!;
    expect(first.labels).toEqual({ service: 'app', instance: 'app-logs-test', level: 'info' });
    expect(first.log).toMatchObject({ msg: 'browser: collab connection closed', kind: 'close', doc: 'docAAAAAAAAAAAAAAAAAAA', code: 4401, codeName: 'UNAUTHORIZED', user: me.user.id });
    expect(mine().find((l) => l.log.kind === 'reconnect')!.log).toMatchObject({ previousCid: 'cid-one-0001', previousCode: 4401, codeName: 'UNAUTHORIZED' });
    // Budget of 5 per minute: the last two were counted, not logged; the page's own drops too.
    const dropped = await getAppMetrics().clientReportsDropped.get();
    const by = (reason: string) => dropped.values.find((v) => v.labels.reason === reason)?.value;
    expect(by('rate')).toBe(2);
    expect(by('client-rate')).toBe(3);
    expect(mine().some((l) => l.log.cid === 'cid-five-005')).toBe(false);
  });
});
