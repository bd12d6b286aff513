// Version history scaled out: the same behaviours as versions.test.ts with DATABASE_URL on
// PostgreSQL (a schema of its own, dropped after) and two collab-server instances on a Redis bus
// (a key prefix of their own). Clients are spread over both instances, so a restore written on
// instance 1 reaches instance 2's clients through the log and Redis (app → c1 → PostgreSQL → Redis
// → c2 → provider), and both instances' quiet timers race for the same automatic version.
import { afterAll, beforeAll, describe } from 'vitest';
import { getApp } from '../../app/_server/context';
import { closeVersions } from '../../app/_server/stores/versions';
import { createPgVersionStore } from '../../lib/version-store';
import { createVersionCapture } from '../../collab-server/versions';
import { openPgPool } from '../../collab-server/persistence/pg-pool';
import { createPostgresDocStoreOnPool } from '../../collab-server/persistence/postgres';
import { createLogger } from '../../observability/logger';
import { createCollabMetrics } from '../../observability/metrics';
import { createPgFixture, startPgInstance, PG_URL, type ClusterInstance, type PgFixture } from '../helpers/pg-fixture';
import { setAppEnv } from '../helpers/app';
import { versionBehaviours, type VersionEnv } from '../helpers/versions-suite';

let fx: PgFixture;
let instances: ClusterInstance[] = [];
let env: VersionEnv;
const HOUR = 3_600_000;

async function start(name: string): Promise<ClusterInstance> {
  const pool = await openPgPool({ connectionString: PG_URL, schema: fx.schema, applicationName: `tandem-${fx.schema}-${name}-versions`, max: 2 });
  const versions = createVersionCapture({
    versions: createPgVersionStore(pool, fx.schema),
    store: createPostgresDocStoreOnPool(pool, fx.schema),
    metrics: createCollabMetrics({ defaultMetrics: false }),
    log: createLogger({ service: 'collab-server', instance: name, level: 'silent' }),
    quietMs: 400,
    maxIntervalMs: 5000,
    keyframeEvery: 3,
    retention: { keepAllMs: 24 * HOUR, keepHourlyMs: 48 * HOUR, keepDailyMs: 0 },
    sweepMs: 500,
  });
  const inst = await startPgInstance(fx, name, { pollMs: 300, overrides: { versions, compactIdleMs: 300 } });
  const close = inst.close;
  inst.close = async () => {
    await close();
    versions.close();
    await pool.end();
  };
  return inst;
}

beforeAll(async () => {
  fx = await createPgFixture();
  instances = [await start('c1'), await start('c2')];
  // The app on the same schema; it sends REST restores to instance 1.
  setAppEnv(fx.dir, { DATABASE_URL: PG_URL, DATABASE_SCHEMA: fx.schema, COLLAB_PUBLIC_URL: instances[0]!.url, COLLAB_HTTP_URL: `http://127.0.0.1:${instances[0]!.port}`, INSTANCE_ID: `app-${fx.schema}` });
  env = {
    wsUrl: (i) => instances[i % instances.length]!.url,
    providers: [],
    async restart() {
      for (const p of env.providers) p.destroy();
      env.providers = [];
      for (const i of instances) await i.close();
      instances = [await start('c1'), await start('c2')];
      process.env.COLLAB_HTTP_URL = `http://127.0.0.1:${instances[0]!.port}`;
    },
    logRows: (docId) => fx.logRows(docId),
  };
});

afterAll(async () => {
  for (const p of env?.providers ?? []) p.destroy();
  for (const i of instances) await i.close();
  await closeVersions(getApp());
  await getApp().close();
  await fx?.cleanup();
});

describe('version history on PostgreSQL + Redis, two collab-servers', () => {
  versionBehaviours(() => env);
});
