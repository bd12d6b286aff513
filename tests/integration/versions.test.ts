// Version history on one machine (SQLite): the app's route handlers and an in-process collab-server
// with the version capture on one data directory. The same behaviours run on PostgreSQL + Redis in
// versions-postgres.test.ts.
import { join } from 'node:path';
import { afterAll, beforeAll, describe } from 'vitest';
import { getApp } from '../../app/_server/context';
import { closeVersions } from '../../app/_server/stores/versions';
import { createSqliteVersionStore } from '../../lib/version-store';
import { createVersionCapture } from '../../collab-server/versions';
import { createSqliteDocStore, openSqlite } from '../../collab-server/persistence/sqlite';
import { createLogger } from '../../observability/logger';
import { createCollabMetrics } from '../../observability/metrics';
import { createFixture, startServer, type Fixture, type InProcessServer } from '../helpers/fixture';
import { setAppEnv } from '../helpers/app';
import { versionBehaviours, type VersionEnv } from '../helpers/versions-suite';

let fx: Fixture;
let srv: InProcessServer;
let env: VersionEnv;
const HOUR = 3_600_000;

async function start(port = 0): Promise<InProcessServer> {
  const db = openSqlite(join(fx.dir, 'tandem.db'));
  const metrics = createCollabMetrics({ defaultMetrics: false });
  const versions = createVersionCapture({
    versions: createSqliteVersionStore(db),
    store: createSqliteDocStore(db),
    metrics,
    log: createLogger({ service: 'collab-server', instance: 'versions-test', level: 'silent' }),
    quietMs: 400,
    maxIntervalMs: 5000,
    keyframeEvery: 3,
    retention: { keepAllMs: 24 * HOUR, keepHourlyMs: 48 * HOUR, keepDailyMs: 0 },
    sweepMs: 500,
  });
  const s = await startServer(fx, { versions, compactIdleMs: 300 });
  const close = s.close;
  s.close = async () => {
    await close();
    versions.close();
    db.close();
  };
  void port;
  return s;
}

beforeAll(async () => {
  fx = await createFixture();
  srv = await start();
  setAppEnv(fx.dir, { COLLAB_PUBLIC_URL: srv.url, COLLAB_HTTP_URL: `http://127.0.0.1:${srv.port}` });
  env = {
    wsUrl: () => srv.url,
    providers: [],
    async restart() {
      for (const p of env.providers) p.destroy();
      env.providers = [];
      await srv.close();
      srv = await start();
      process.env.COLLAB_HTTP_URL = `http://127.0.0.1:${srv.port}`;
    },
    async logRows(docId) {
      return (fx.db.prepare('SELECT count(*) AS n FROM doc_updates WHERE doc_id = ?').get(docId) as { n: number }).n;
    },
  };
});

afterAll(async () => {
  for (const p of env?.providers ?? []) p.destroy();
  await srv?.close();
  await closeVersions(getApp());
  await getApp().close();
  fx?.cleanup();
});

describe('version history on SQLite', () => {
  versionBehaviours(() => env);
});
