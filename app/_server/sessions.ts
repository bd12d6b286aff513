/**
 * Sign-in sessions. The client holds a random 256-bit token (cookie or bearer); the database holds
 * only its SHA-256, so a leaked database (or backup) does not hand out live sessions.
 */
import crypto from 'node:crypto';
import type { Db } from './db';
import type { UserRow } from './users';

const hashToken = (token: string) => crypto.createHash('sha256').update(token).digest('hex');

/** Tokens are 43 base64url characters; anything else is rejected before touching the database. */
const TOKEN_RE = /^[A-Za-z0-9_-]{43}$/;

export function createSessionStore(db: Db, ttlSeconds: number) {
  const insert = db.prepare<[string, string, number, number]>('INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)');
  const lookup = db.prepare<[string, number], UserRow>(
    'SELECT u.* FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = ? AND s.expires_at > ?',
  );
  const remove = db.prepare<[string]>('DELETE FROM sessions WHERE token_hash = ?');
  const purge = db.prepare<[number]>('DELETE FROM sessions WHERE expires_at <= ?');

  return {
    ttlSeconds,
    /** Start a session; returns the token to hand to the client (shown once, never stored). */
    create(userId: string): { token: string; expiresAt: number } {
      const now = Date.now();
      // Expired rows are only ever dead weight; sign-in is a rare, cheap moment to drop them.
      purge.run(now);
      const token = crypto.randomBytes(32).toString('base64url');
      const expiresAt = now + ttlSeconds * 1000;
      insert.run(hashToken(token), userId, now, expiresAt);
      return { token, expiresAt };
    },
    /** The signed-in user for a token, or undefined if unknown or expired. */
    user(token: string): UserRow | undefined {
      if (!TOKEN_RE.test(token)) return undefined;
      return lookup.get(hashToken(token), Date.now());
    },
    destroy(token: string): void {
      remove.run(hashToken(token));
    },
  };
}

export type SessionStore = ReturnType<typeof createSessionStore>;
