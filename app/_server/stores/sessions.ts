/**
 * Sign-in sessions. The client holds a random 256-bit token (cookie or bearer); the database holds
 * only its SHA-256, so a leaked database (or backup) does not hand out live sessions.
 */
import crypto from 'node:crypto';
import type { Db } from './sqlite';
import type { PgDb } from './pg';
import type { UserRow } from './users';

const hashToken = (token: string) => crypto.createHash('sha256').update(token).digest('hex');

/** Tokens are 43 base64url characters; anything else is rejected before touching the database. */
const TOKEN_RE = /^[A-Za-z0-9_-]{43}$/;

/** Sign-in sessions, looked up by token. */
export interface SessionStore {
  ttlSeconds: number;
  /** Start a session; returns the token to hand to the client (shown once, never stored). */
  create(userId: string): Promise<{ token: string; expiresAt: number }>;
  /** The signed-in user for a token, or undefined if unknown or expired. */
  user(token: string): Promise<UserRow | undefined>;
  destroy(token: string): Promise<void>;
}

/** The four statements a session store runs, per engine. */
interface SessionSql {
  purge(now: number): Promise<void>;
  insert(hash: string, userId: string, now: number, expiresAt: number): Promise<void>;
  lookup(hash: string, now: number): Promise<UserRow | undefined>;
  remove(hash: string): Promise<void>;
}

function sessionStore(sql: SessionSql, ttlSeconds: number): SessionStore {
  return {
    ttlSeconds,
    async create(userId) {
      const now = Date.now();
      // Expired rows are only ever dead weight; sign-in is a rare, cheap moment to drop them.
      await sql.purge(now);
      const token = crypto.randomBytes(32).toString('base64url');
      const expiresAt = now + ttlSeconds * 1000;
      await sql.insert(hashToken(token), userId, now, expiresAt);
      return { token, expiresAt };
    },
    async user(token) {
      if (!TOKEN_RE.test(token)) return undefined;
      return sql.lookup(hashToken(token), Date.now());
    },
    async destroy(token) {
      await sql.remove(hashToken(token));
    },
  };
}

export function createSqliteSessionStore(db: Db, ttlSeconds: number): SessionStore {
  const insert = db.prepare<[string, string, number, number]>('INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)');
  const lookup = db.prepare<[string, number], UserRow>(
    'SELECT u.* FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = ? AND s.expires_at > ?',
  );
  const remove = db.prepare<[string]>('DELETE FROM sessions WHERE token_hash = ?');
  const purge = db.prepare<[number]>('DELETE FROM sessions WHERE expires_at <= ?');
  return sessionStore(
    {
      purge: async (now) => void purge.run(now),
      insert: async (h, u, now, exp) => void insert.run(h, u, now, exp),
      lookup: async (h, now) => lookup.get(h, now),
      remove: async (h) => void remove.run(h),
    },
    ttlSeconds,
  );
}

export function createPgSessionStore(pg: PgDb, ttlSeconds: number): SessionStore {
  const s = pg.s;
  return sessionStore(
    {
      purge: async (now) => void (await pg.query(`DELETE FROM ${s}.sessions WHERE expires_at <= $1`, [now])),
      insert: async (h, u, now, exp) =>
        void (await pg.query(`INSERT INTO ${s}.sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)`, [h, u, now, exp])),
      lookup: async (h, now) =>
        (await pg.query<UserRow>(`SELECT u.* FROM ${s}.sessions s JOIN ${s}.users u ON u.id = s.user_id WHERE s.token_hash = $1 AND s.expires_at > $2`, [h, now]))
          .rows[0],
      remove: async (h) => void (await pg.query(`DELETE FROM ${s}.sessions WHERE token_hash = $1`, [h])),
    },
    ttlSeconds,
  );
}
