/**
 * The app's stores, one interface per concern, each with a SQLite adapter (the default, embedded)
 * and a PostgreSQL adapter (DATABASE_URL set). tests/contract/app-stores.test.ts runs one suite
 * against both.
 */
import type { Db } from './sqlite';
import type { PgDb } from './pg';
import { createPgUserStore, createSqliteUserStore, type UserStore } from './users';
import { createPgSessionStore, createSqliteSessionStore, type SessionStore } from './sessions';
import { createPgDocStore, createSqliteDocStore, type DocStore } from './docs';
import { createPgAuditStore, createSqliteAuditStore, type AuditStore } from './audit';
import { createPgAccessStore, createSqliteAccessStore, type AccessStore } from './access';
import { createPgSettingsStore, createSqliteSettingsStore, type SettingsStore } from './settings';
import { createPgVerificationStore, createSqliteVerificationStore, type VerificationStore } from './verifications';
import { createPgImageStore, createSqliteImageStore, type ImageStore } from './images';

export interface Stores {
  users: UserStore;
  sessions: SessionStore;
  docs: DocStore;
  audit: AuditStore;
  access: AccessStore;
  settings: SettingsStore;
  verifications: VerificationStore;
  images: ImageStore;
}

export interface StoreOptions {
  sessionTtlSeconds: number;
  sessionIdleSeconds: number;
}

/** Every store on one open SQLite database. */
export function createSqliteStores(db: Db, opts: StoreOptions): Stores {
  return {
    users: createSqliteUserStore(db),
    sessions: createSqliteSessionStore(db, opts.sessionTtlSeconds, opts.sessionIdleSeconds),
    docs: createSqliteDocStore(db),
    audit: createSqliteAuditStore(db),
    access: createSqliteAccessStore(db),
    settings: createSqliteSettingsStore(db),
    verifications: createSqliteVerificationStore(db),
    images: createSqliteImageStore(db),
  };
}

/** Every store on one PostgreSQL pool and schema (each query waits for the migration). */
export function createPgStores(pg: PgDb, opts: StoreOptions): Stores {
  return {
    users: createPgUserStore(pg),
    sessions: createPgSessionStore(pg, opts.sessionTtlSeconds, opts.sessionIdleSeconds),
    docs: createPgDocStore(pg),
    audit: createPgAuditStore(pg),
    access: createPgAccessStore(pg),
    settings: createPgSettingsStore(pg),
    verifications: createPgVerificationStore(pg),
    images: createPgImageStore(pg),
  };
}

export type { UserStore, SessionStore, DocStore, AuditStore, AccessStore, SettingsStore, VerificationStore, ImageStore };
export type { UserRow } from './users';
export type { DocRow, LoadedDoc } from './docs';
export type { AccessTarget } from './access';
export type { AuditRecord, AuditQuery } from './audit';
