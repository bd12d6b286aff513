/**
 * The app's handle on the shared SQLite database (<DATA_DIR>/tandem.db), the default engine.
 * collab-server opens the same WAL file in its own process; both run the idempotent schema, so
 * either may start first.
 */
import Database from 'better-sqlite3';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { migrateSqlite, sqlitePragmas } from '@/lib/db-schema';

export type Db = Database.Database;

/** Open (creating if needed) the database with the pragmas both processes rely on, migrated. */
export function openDb(file: string, synchronous: 'NORMAL' | 'FULL'): Db {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  // Accounts, sessions and documents: readable by this user only. Created 0600 before SQLite opens
  // it (SQLite gives its -wal and -shm files the database's mode), and tightened if an older
  // version (or collab-server starting first) created it world-readable.
  // turbopackIgnore: a runtime path, not a file to trace into the build output.
  closeSync(openSync(/*turbopackIgnore: true*/ file, 'a', 0o600));
  for (const f of [file, `${file}-wal`, `${file}-shm`]) if (existsSync(/*turbopackIgnore: true*/ f)) chmodSync(/*turbopackIgnore: true*/ f, 0o600);
  const db = new Database(file);
  for (const p of sqlitePragmas(synchronous)) db.pragma(p);
  migrateSqlite(db);
  return db;
}
