/**
 * Pick the engine once: SQLite in DATA_DIR (one machine, nothing to install) or PostgreSQL when
 * DATABASE_URL is set (every store on one shared pool, so an instance holds few connections).
 */
import { join } from 'node:path';
import type { CollabConfig } from '../../lib/config';
import type { CollabMetrics } from '../../observability/metrics';
import type { Logger } from '../../observability/logger';
import { createOpenAclStore, createPostgresAclStore, createSqliteAclStore, type AclStore } from '../acl-store';
import { createPostgresAuditSink, createSqliteAuditSink, type AuditSink } from '../audit';
import type { DocStore } from './doc-store';
import { createPgVersionStore, createSqliteVersionStore, type VersionStore } from '../../lib/version-store';
import { createPostgresDocStoreOnPool } from './postgres';
import { openPgPool } from './pg-pool';
import { createSqliteDocStore, openSqlite } from './sqlite';

export interface Stores {
  engine: 'sqlite' | 'postgres';
  store: DocStore;
  acl: AclStore;
  audit: AuditSink;
  /** Version history (doc_versions) on the same handle. */
  versions: VersionStore;
  close(): Promise<void>;
}

export async function openStores(cfg: CollabConfig, dataDir: string, instance: string, metrics: CollabMetrics, log: Logger): Promise<Stores> {
  const onAclError = (err: unknown) => {
    metrics.errors.inc({ where: 'acl-feed' });
    log.warn({ err }, 'reading the access-change feed failed; retrying');
  };
  if (cfg.DATABASE_URL) {
    const pool = await openPgPool({ connectionString: cfg.DATABASE_URL, schema: cfg.DATABASE_SCHEMA, applicationName: `tandem-${instance}`, max: cfg.DATABASE_POOL_SIZE });
    return {
      engine: 'postgres',
      store: createPostgresDocStoreOnPool(pool, cfg.DATABASE_SCHEMA),
      acl: cfg.ALLOW_ANONYMOUS ? createOpenAclStore() : createPostgresAclStore(pool, cfg.DATABASE_SCHEMA, cfg.ACL_POLL_MS, onAclError),
      audit: createPostgresAuditSink(pool, cfg.DATABASE_SCHEMA, (err) => {
        metrics.errors.inc({ where: 'audit' });
        log.error({ err }, 'audit write failed');
      }),
      versions: createPgVersionStore(pool, cfg.DATABASE_SCHEMA),
      close: () => pool.end(),
    };
  }
  const db = openSqlite(join(dataDir, 'tandem.db'), cfg.SQLITE_SYNCHRONOUS);
  return {
    engine: 'sqlite',
    store: createSqliteDocStore(db),
    acl: cfg.ALLOW_ANONYMOUS ? createOpenAclStore() : createSqliteAclStore(db, cfg.ACL_POLL_MS, onAclError),
    audit: createSqliteAuditSink(db),
    versions: createSqliteVersionStore(db),
    close: async () => {
      db.close();
    },
  };
}
