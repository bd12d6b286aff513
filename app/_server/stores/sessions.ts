/**
 * Sign-in sessions. The client holds a random 256-bit token (cookie or bearer); the database holds
 * only its SHA-256, so a leaked database (or backup) does not hand out live sessions. A session ends
 * at its absolute expiry or after idleSeconds without use, whichever comes first.
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
  idleSeconds: number;
  /** Start a session; returns the token to hand to the client (shown once, never stored). */
  create(userId: string): Promise<{ token: string; expiresAt: number }>;
  /** The signed-in user for a token, or undefined if unknown or expired. */
  user(token: string): Promise<UserRow | undefined>;
  destroy(token: string): Promise<void>;
  /** End every session of `userId` ("sign out everywhere"); returns how many ended. */
  destroyAll(userId: string): Promise<number>;
}

/** Last use is written at most this often, so reading a session is not a write per request. */
const TOUCH_EVERY_MS = 60_000;

/** The statements a session store runs, per engine. */
interface SessionSql {
  purge(now: number, idleBefore: number): Promise<void>;
  insert(hash: string, userId: string, now: number, expiresAt: number): Promise<void>;
  lookup(hash: string, now: number, idleBefore: number): Promise<UserRow | undefined>;
  touch(hash: string, now: number): Promise<void>;
  remove(hash: string): Promise<void>;
  removeAll(userId: string): Promise<number>;
}

function sessionStore(sql: SessionSql, ttlSeconds: number, idleSeconds: number): SessionStore {
  return {
    ttlSeconds,
    idleSeconds,
    async create(userId) {
      const now = Date.now();
      // Expired rows are only ever dead weight; sign-in is a rare, cheap moment to drop them.
      await sql.purge(now, now - idleSeconds * 1000);
      const token = crypto.randomBytes(32).toString('base64url');
      const expiresAt = now + ttlSeconds * 1000;
      await sql.insert(hashToken(token), userId, now, expiresAt);
      return { token, expiresAt };
    },
    async user(token) {
      if (!TOKEN_RE.test(token)) return undefined;
      const now = Date.now();
      const h = hashToken(token);
      const u = await sql.lookup(h, now, now - idleSeconds * 1000);
      if (u) await sql.touch(h, now);
      return u;
    },
    async destroy(token) {
      await sql.remove(hashToken(token));
    },
    destroyAll: (userId) => sql.removeAll(userId),
  };
}

export function createSqliteSessionStore(db: Db, ttlSeconds: number, idleSeconds: number): SessionStore {
  const insert = db.prepare<[string, string, number, number, number]>(
    'INSERT INTO sessions (token_hash, user_id, created_at, expires_at, last_seen_at) VALUES (?, ?, ?, ?, ?)',
  );
  const lookup = db.prepare<[string, number, number], UserRow>(
    'SELECT u.* FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = ? AND s.expires_at > ? AND COALESCE(s.last_seen_at, s.created_at) > ?',
  );
  const touch = db.prepare<[number, string, number]>('UPDATE sessions SET last_seen_at = ? WHERE token_hash = ? AND COALESCE(last_seen_at, created_at) < ?');
  const remove = db.prepare<[string]>('DELETE FROM sessions WHERE token_hash = ?');
  const removeAll = db.prepare<[string]>('DELETE FROM sessions WHERE user_id = ?');
  const purge = db.prepare<[number, number]>('DELETE FROM sessions WHERE expires_at <= ? OR COALESCE(last_seen_at, created_at) <= ?');
  return sessionStore(
    {
      purge: async (now, idle) => void purge.run(now, idle),
      insert: async (h, u, now, exp) => void insert.run(h, u, now, exp, now),
      lookup: async (h, now, idle) => lookup.get(h, now, idle),
      touch: async (h, now) => void touch.run(now, h, now - TOUCH_EVERY_MS),
      remove: async (h) => void remove.run(h),
      removeAll: async (u) => removeAll.run(u).changes,
    },
    ttlSeconds,
    idleSeconds,
  );
}

export function createPgSessionStore(pg: PgDb, ttlSeconds: number, idleSeconds: number): SessionStore {
  const s = pg.s;
  return sessionStore(
    {
      purge: async (now, idle) => void (await pg.query(`DELETE FROM ${s}.sessions WHERE expires_at <= $1 OR COALESCE(last_seen_at, created_at) <= $2`, [now, idle])),
      insert: async (h, u, now, exp) =>
        void (await pg.query(`INSERT INTO ${s}.sessions (token_hash, user_id, created_at, expires_at, last_seen_at) VALUES ($1, $2, $3, $4, $3)`, [h, u, now, exp])),
      lookup: async (h, now, idle) =>
        (
          await pg.query<UserRow>(
            `SELECT u.* FROM ${s}.sessions s JOIN ${s}.users u ON u.id = s.user_id WHERE s.token_hash = $1 AND s.expires_at > $2 AND COALESCE(s.last_seen_at, s.created_at) > $3`,
            [h, now, idle],
          )
        ).rows[0],
      touch: async (h, now) =>
        void (await pg.query(`UPDATE ${s}.sessions SET last_seen_at = $1 WHERE token_hash = $2 AND COALESCE(last_seen_at, created_at) < $3`, [now, h, now - TOUCH_EVERY_MS])),
      remove: async (h) => void (await pg.query(`DELETE FROM ${s}.sessions WHERE token_hash = $1`, [h])),
      removeAll: async (u) => (await pg.query(`DELETE FROM ${s}.sessions WHERE user_id = $1`, [u])).rowCount ?? 0,
    },
    ttlSeconds,
    idleSeconds,
  );
}
