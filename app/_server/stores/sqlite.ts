/**
 * The app's handle on the shared SQLite database (<DATA_DIR>/tandem.db), the default engine.
 * collab-server opens the same WAL file in its own process; both run the idempotent schema, so
 * either may start first.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { migrateSqlite, sqlitePragmas } from '@/lib/db-schema';

export type Db = Database.Database;

/** Open (creating if needed) the database with the pragmas both processes rely on, migrated. */
export function openDb(file: string, synchronous: 'NORMAL' | 'FULL'): Db {
  mkdirSync(dirname(file), { recursive: true });
  const db = new Database(file);
  for (const p of sqlitePragmas(synchronous)) db.pragma(p);
  migrateSqlite(db);
  return db;
}
