/**
 * Tandem's tables, for both engines. Each process runs the whole idempotent DDL at start, so either
 * may start first; on PostgreSQL under an advisory lock, so several instances starting at once do
 * not race each other's CREATEs.
 *
 * Ownership (who writes what; the other side only reads, never writes):
 * - the app: users, sessions, email_verifications, app_settings, docs, grants, invitations,
 *   doc_images (images pasted or dropped into a document; they go with the docs row),
 *   doc_visits (who opened a document through general access, so it stays in their list),
 *   acl_changes (the access-change feed), audit (collab-server
 *   also appends `write.refused` rows through its AuditSink);
 * - collab-server: doc_updates (the update log), doc_snapshots, doc_heads (per-document log head and
 *   last edit time: the app's document list reads last_edit_at from here), doc_client_ids (who wrote
 *   under which Yjs client id), collab_cursors (e.g. how far deleted documents have been purged),
 *   doc_text (a plain-text extract of each document, rewritten when its log is compacted: the app's
 *   list searches content here with LIKE/ILIKE and never reads the update log or snapshots).
 * A deleted document reaches collab-server through the feed (acl_changes.deleted = 1), which purges
 * its content; the app never deletes collab-server's rows.
 * - doc_versions (version history, through lib/version-store.ts) has two writers by row and column:
 *   collab-server adds automatic versions and applies retention (folding removed versions into the
 *   next one); the app adds named and "restored" versions, renames, and deletes unnamed versions on
 *   request (folding likewise). Every insert and fold holds the document's version lock, so the
 *   chain of diffs stays whole whoever writes. Deleting a document purges its versions with the
 *   rest of its content (collab-server).
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
  created_at INTEGER NOT NULL,
  -- 1 once the owner of the address followed a mailed link (grants to it wait as invitations until then)
  email_verified INTEGER NOT NULL DEFAULT 0,
  -- collab tokens issued before this (ms) are void: the app sets it to now on sign-out; collab-server
  -- refuses such tokens at connect and renewal and closes their open sockets (4401)
  tokens_not_before INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS sessions (
  token_hash TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  -- last use (updated at most once a minute); NULL = never since created_at (idle timeout)
  last_seen_at INTEGER
);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions(user_id);
-- Pending sign-ups and address checks: the account is created (or marked verified) only when the
-- mailed link is followed, so nobody can claim an address they cannot read mail for.
CREATE TABLE IF NOT EXISTS email_verifications (
  token_hash TEXT PRIMARY KEY,
  email TEXT NOT NULL COLLATE NOCASE,
  name TEXT,
  password_hash TEXT,
  user_id TEXT REFERENCES users(id) ON DELETE CASCADE,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS email_verifications_email ON email_verifications(email);
-- Instance-wide settings (the first-admin setup token while there is no admin).
CREATE TABLE IF NOT EXISTS app_settings (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS docs (
  id TEXT PRIMARY KEY,
  title TEXT NOT NULL,
  owner_id TEXT NOT NULL REFERENCES users(id),
  general_access TEXT CHECK (general_access IN ('viewer', 'editor')),
  acl_version INTEGER NOT NULL DEFAULT 1,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  -- unused since last edit times moved to doc_heads (kept: older databases have it)
  last_edit_at INTEGER
);
CREATE TABLE IF NOT EXISTS grants (
  doc_id TEXT NOT NULL REFERENCES docs(id) ON DELETE CASCADE,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  role TEXT NOT NULL CHECK (role IN ('viewer', 'editor')),
  PRIMARY KEY (doc_id, user_id)
);
CREATE INDEX IF NOT EXISTS grants_user ON grants(user_id);
-- Shares to an address with no verified account yet: they become grants when it is verified.
CREATE TABLE IF NOT EXISTS invitations (
  doc_id TEXT NOT NULL REFERENCES docs(id) ON DELETE CASCADE,
  email TEXT NOT NULL COLLATE NOCASE,
  role TEXT NOT NULL CHECK (role IN ('viewer', 'editor')),
  invited_by TEXT,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (doc_id, email)
);
CREATE INDEX IF NOT EXISTS invitations_email ON invitations(email);
-- Images pasted or dropped into a document, served to whoever may read it. Content-addressed per
-- document (sha256), so pasting one image twice stores it once.
CREATE TABLE IF NOT EXISTS doc_images (
  id TEXT PRIMARY KEY,
  doc_id TEXT NOT NULL REFERENCES docs(id) ON DELETE CASCADE,
  sha256 TEXT NOT NULL,
  mime TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  data BLOB NOT NULL,
  created_by TEXT,
  created_at INTEGER NOT NULL,
  UNIQUE (doc_id, sha256)
);
-- Documents a user opened through general access (no grant): written when the app mints a collab
-- token for them, so the document stays in their list while general access still lets them read it.
CREATE TABLE IF NOT EXISTS doc_visits (
  doc_id TEXT NOT NULL REFERENCES docs(id) ON DELETE CASCADE,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  at INTEGER NOT NULL,
  PRIMARY KEY (doc_id, user_id)
);
CREATE INDEX IF NOT EXISTS doc_visits_user ON doc_visits(user_id);
-- Every access change appends here; collab-server tails it (by seq) to re-check open connections.
-- deleted = 1: the document was deleted (collab-server closes its sockets and purges its content).
CREATE TABLE IF NOT EXISTS acl_changes (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  doc_id TEXT NOT NULL,
  version INTEGER NOT NULL,
  at INTEGER NOT NULL,
  deleted INTEGER NOT NULL DEFAULT 0
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
-- The head of each document's log: the sequence is taken here in the append transaction, so the
-- log has one order per document however many collab-servers append to it.
CREATE TABLE IF NOT EXISTS doc_heads (
  doc_id TEXT PRIMARY KEY,
  last_seq INTEGER NOT NULL,
  last_edit_at INTEGER NOT NULL
);
-- Plain text of each document as of its last compaction, for the list's content search.
CREATE TABLE IF NOT EXISTS doc_text (
  doc_id TEXT PRIMARY KEY,
  text TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);
-- Who first wrote under each Yjs client id of a document (client-id ownership outlives the socket).
CREATE TABLE IF NOT EXISTS doc_client_ids (
  doc_id TEXT NOT NULL,
  client_id INTEGER NOT NULL,
  user_id TEXT NOT NULL,
  PRIMARY KEY (doc_id, client_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS collab_cursors (
  name TEXT PRIMARY KEY,
  value INTEGER NOT NULL
);
-- Version history: each version is the Yjs update from its base version's state vector (base_id
-- NULL = a keyframe holding the whole state), so rebuilding one reads at most a keyframe interval
-- of rows. Separate from the log and snapshots, so compaction never touches it.
CREATE TABLE IF NOT EXISTS doc_versions (
  id TEXT PRIMARY KEY,
  doc_id TEXT NOT NULL,
  n INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('auto', 'named', 'restore')),
  name TEXT,
  created_by TEXT,
  contributors TEXT NOT NULL,
  last_edit_at INTEGER,
  upto_seq INTEGER NOT NULL,
  base_id TEXT,
  depth INTEGER NOT NULL,
  sv BLOB NOT NULL,
  data BLOB NOT NULL,
  bytes INTEGER NOT NULL,
  restored_from TEXT,
  UNIQUE (doc_id, n)
);
`;

/**
 * Columns added after a table first shipped: SQLite has no ADD COLUMN IF NOT EXISTS, so each is
 * added when table_info lacks it. Run after SQLITE_SCHEMA.
 */
export const SQLITE_ADDED_COLUMNS: { table: string; column: string; ddl: string }[] = [
  { table: 'acl_changes', column: 'deleted', ddl: 'ALTER TABLE acl_changes ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0' },
  // Accounts from before verification existed are unverified: they keep their grants, new ones wait.
  { table: 'users', column: 'email_verified', ddl: 'ALTER TABLE users ADD COLUMN email_verified INTEGER NOT NULL DEFAULT 0' },
  { table: 'sessions', column: 'last_seen_at', ddl: 'ALTER TABLE sessions ADD COLUMN last_seen_at INTEGER' },
  { table: 'users', column: 'tokens_not_before', ddl: 'ALTER TABLE users ADD COLUMN tokens_not_before INTEGER NOT NULL DEFAULT 0' },
];

/** Apply SQLITE_SCHEMA and the added columns to an open better-sqlite3 handle. */
export function migrateSqlite(db: { exec(sql: string): unknown; prepare(sql: string): { all(): unknown[] } }): void {
  db.exec(SQLITE_SCHEMA);
  for (const c of SQLITE_ADDED_COLUMNS) {
    const cols = db.prepare(`PRAGMA table_info(${c.table})`).all() as { name: string }[];
    if (!cols.some((x) => x.name === c.column)) db.exec(c.ddl);
  }
}

/** A PostgreSQL schema name (one per deployment, or per test run). */
export function pgIdent(s: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(s)) throw new Error(`invalid schema name: ${s}`);
  return `"${s}"`;
}

/** Key of the advisory lock every process takes around the PostgreSQL DDL. */
export const PG_MIGRATION_LOCK = 7_463_810_021;

/**
 * The PostgreSQL DDL in schema `schema`. Timestamps are BIGINT milliseconds like SQLite's INTEGER
 * (read them through a BIGINT→number type parser); is_admin and deleted stay 0/1 integers so rows
 * have one shape on both engines. Emails are unique case-insensitively, as with COLLATE NOCASE.
 */
export function postgresSchema(schema: string): string {
  const s = pgIdent(schema);
  return `
CREATE SCHEMA IF NOT EXISTS ${s};
CREATE TABLE IF NOT EXISTS ${s}.users (
  id TEXT PRIMARY KEY,
  email TEXT NOT NULL,
  name TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  is_admin INTEGER NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL,
  email_verified INTEGER NOT NULL DEFAULT 0,
  tokens_not_before BIGINT NOT NULL DEFAULT 0
);
ALTER TABLE ${s}.users ADD COLUMN IF NOT EXISTS email_verified INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ${s}.users ADD COLUMN IF NOT EXISTS tokens_not_before BIGINT NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX IF NOT EXISTS users_email_ci ON ${s}.users (lower(email));
CREATE TABLE IF NOT EXISTS ${s}.sessions (
  token_hash TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES ${s}.users(id) ON DELETE CASCADE,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  last_seen_at BIGINT
);
ALTER TABLE ${s}.sessions ADD COLUMN IF NOT EXISTS last_seen_at BIGINT;
CREATE INDEX IF NOT EXISTS sessions_user ON ${s}.sessions(user_id);
CREATE TABLE IF NOT EXISTS ${s}.email_verifications (
  token_hash TEXT PRIMARY KEY,
  email TEXT NOT NULL,
  name TEXT,
  password_hash TEXT,
  user_id TEXT REFERENCES ${s}.users(id) ON DELETE CASCADE,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS email_verifications_email ON ${s}.email_verifications (lower(email));
CREATE TABLE IF NOT EXISTS ${s}.app_settings (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ${s}.docs (
  id TEXT PRIMARY KEY,
  title TEXT NOT NULL,
  owner_id TEXT NOT NULL REFERENCES ${s}.users(id),
  general_access TEXT CHECK (general_access IN ('viewer', 'editor')),
  acl_version INTEGER NOT NULL DEFAULT 1,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS docs_owner ON ${s}.docs(owner_id);
CREATE TABLE IF NOT EXISTS ${s}.grants (
  doc_id TEXT NOT NULL REFERENCES ${s}.docs(id) ON DELETE CASCADE,
  user_id TEXT NOT NULL REFERENCES ${s}.users(id) ON DELETE CASCADE,
  role TEXT NOT NULL CHECK (role IN ('viewer', 'editor')),
  PRIMARY KEY (doc_id, user_id)
);
CREATE INDEX IF NOT EXISTS grants_user ON ${s}.grants(user_id);
CREATE TABLE IF NOT EXISTS ${s}.invitations (
  doc_id TEXT NOT NULL REFERENCES ${s}.docs(id) ON DELETE CASCADE,
  email TEXT NOT NULL,
  role TEXT NOT NULL CHECK (role IN ('viewer', 'editor')),
  invited_by TEXT,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (doc_id, email)
);
CREATE INDEX IF NOT EXISTS invitations_email ON ${s}.invitations (lower(email));
CREATE TABLE IF NOT EXISTS ${s}.doc_images (
  id TEXT PRIMARY KEY,
  doc_id TEXT NOT NULL REFERENCES ${s}.docs(id) ON DELETE CASCADE,
  sha256 TEXT NOT NULL,
  mime TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  data BYTEA NOT NULL,
  created_by TEXT,
  created_at BIGINT NOT NULL,
  UNIQUE (doc_id, sha256)
);
CREATE TABLE IF NOT EXISTS ${s}.doc_visits (
  doc_id TEXT NOT NULL REFERENCES ${s}.docs(id) ON DELETE CASCADE,
  user_id TEXT NOT NULL REFERENCES ${s}.users(id) ON DELETE CASCADE,
  at BIGINT NOT NULL,
  PRIMARY KEY (doc_id, user_id)
);
CREATE INDEX IF NOT EXISTS doc_visits_user ON ${s}.doc_visits(user_id);
CREATE TABLE IF NOT EXISTS ${s}.acl_changes (
  seq BIGSERIAL PRIMARY KEY,
  doc_id TEXT NOT NULL,
  version INTEGER NOT NULL,
  at BIGINT NOT NULL,
  deleted INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS ${s}.audit (
  id BIGSERIAL PRIMARY KEY,
  at BIGINT NOT NULL,
  actor_id TEXT,
  action TEXT NOT NULL,
  doc_id TEXT,
  target TEXT,
  detail TEXT
);
CREATE INDEX IF NOT EXISTS audit_at ON ${s}.audit(at);
CREATE TABLE IF NOT EXISTS ${s}.doc_updates (
  doc_id TEXT NOT NULL,
  seq BIGINT NOT NULL,
  data BYTEA NOT NULL,
  PRIMARY KEY (doc_id, seq)
);
CREATE TABLE IF NOT EXISTS ${s}.doc_snapshots (
  doc_id TEXT PRIMARY KEY,
  upto_seq BIGINT NOT NULL,
  data BYTEA NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS ${s}.doc_heads (
  doc_id TEXT PRIMARY KEY,
  last_seq BIGINT NOT NULL,
  last_edit_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS ${s}.doc_text (
  doc_id TEXT PRIMARY KEY,
  text TEXT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS ${s}.doc_client_ids (
  doc_id TEXT NOT NULL,
  client_id BIGINT NOT NULL,
  user_id TEXT NOT NULL,
  PRIMARY KEY (doc_id, client_id)
);
CREATE TABLE IF NOT EXISTS ${s}.collab_cursors (
  name TEXT PRIMARY KEY,
  value BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS ${s}.doc_versions (
  id TEXT PRIMARY KEY,
  doc_id TEXT NOT NULL,
  n INTEGER NOT NULL,
  created_at BIGINT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('auto', 'named', 'restore')),
  name TEXT,
  created_by TEXT,
  contributors TEXT NOT NULL,
  last_edit_at BIGINT,
  upto_seq BIGINT NOT NULL,
  base_id TEXT,
  depth INTEGER NOT NULL,
  sv BYTEA NOT NULL,
  data BYTEA NOT NULL,
  bytes INTEGER NOT NULL,
  restored_from TEXT,
  UNIQUE (doc_id, n)
);
`;
}

/** The part of a pg Pool the migration needs (lib opens no handles; callers pass theirs). */
export interface PgQueryable {
  connect(): Promise<{ query(sql: string, params?: unknown[]): Promise<unknown>; release(): void }>;
}

/**
 * Run the PostgreSQL DDL once per process start: idempotent, and serialized across instances by a
 * session advisory lock (concurrent CREATE TABLE IF NOT EXISTS can otherwise fail on the catalog's
 * unique index when two instances start at the same moment).
 */
export async function migratePostgres(pool: PgQueryable, schema: string): Promise<void> {
  const c = await pool.connect();
  try {
    await c.query('SELECT pg_advisory_lock($1)', [PG_MIGRATION_LOCK]);
    try {
      await c.query(postgresSchema(schema));
    } finally {
      await c.query('SELECT pg_advisory_unlock($1)', [PG_MIGRATION_LOCK]);
    }
  } finally {
    c.release();
  }
}

