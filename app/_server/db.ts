/**
 * The app's handle on the shared SQLite database (<DATA_DIR>/tandem.db). collab-server opens the
 * same WAL file in its own process; both run the idempotent schema, so either may start first.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { SQLITE_SCHEMA } from '@/lib/db-schema';

export type Db = Database.Database;

/** Open (creating if needed) the database with the pragmas both processes rely on. */
export function openDb(file: string, synchronous: 'NORMAL' | 'FULL'): Db {
  mkdirSync(dirname(file), { recursive: true });
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${synchronous}`);
  // collab-server appends updates to the same file: wait out its short transactions, never fail.
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  db.exec(SQLITE_SCHEMA);
  return db;
}
