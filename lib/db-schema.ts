/**
 * The SQLite schema shared by the app (accounts, documents, access) and collab-server (update log,
 * snapshots; reads access). Both processes open the same WAL database file, and both run this
 * idempotent DDL at start, so either may start first.
 */
/**
 * Connection settings both processes apply before the schema: WAL so readers never block the
 * writer, a busy timeout so one process waits out the other's short transactions instead of
 * failing, and enforced foreign keys.
 */
export function sqlitePragmas(synchronous: 'NORMAL' | 'FULL'): string[] {
  return ['journal_mode = WAL', `synchronous = ${synchronous}`, 'busy_timeout = 5000', 'foreign_keys = ON'];
}

export const SQLITE_SCHEMA = `
CREATE TABLE IF NOT EXISTS users (
  id TEXT PRIMARY KEY,
  email TEXT NOT NULL UNIQUE COLLATE NOCASE,
  name TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  is_admin INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
  token_hash TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions(user_id);
CREATE TABLE IF NOT EXISTS docs (
  id TEXT PRIMARY KEY,
  title TEXT NOT NULL,
  owner_id TEXT NOT NULL REFERENCES users(id),
  general_access TEXT CHECK (general_access IN ('viewer', 'editor')),
  acl_version INTEGER NOT NULL DEFAULT 1,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  last_edit_at INTEGER
);
CREATE TABLE IF NOT EXISTS grants (
  doc_id TEXT NOT NULL REFERENCES docs(id) ON DELETE CASCADE,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  role TEXT NOT NULL CHECK (role IN ('viewer', 'editor')),
  PRIMARY KEY (doc_id, user_id)
);
CREATE INDEX IF NOT EXISTS grants_user ON grants(user_id);
-- Every access change appends here; collab-server tails it (by seq) to re-check open connections.
CREATE TABLE IF NOT EXISTS acl_changes (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  doc_id TEXT NOT NULL,
  version INTEGER NOT NULL,
  at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  actor_id TEXT,
  action TEXT NOT NULL,
  doc_id TEXT,
  target TEXT,
  detail TEXT
);
CREATE INDEX IF NOT EXISTS audit_at ON audit(at);
-- The update log: every accepted update, appended before it is applied or broadcast.
CREATE TABLE IF NOT EXISTS doc_updates (
  doc_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  data BLOB NOT NULL,
  PRIMARY KEY (doc_id, seq)
) WITHOUT ROWID;
-- One snapshot per document: the log folded up to upto_seq.
CREATE TABLE IF NOT EXISTS doc_snapshots (
  doc_id TEXT PRIMARY KEY,
  upto_seq INTEGER NOT NULL,
  data BLOB NOT NULL,
  updated_at INTEGER NOT NULL
);
`;
