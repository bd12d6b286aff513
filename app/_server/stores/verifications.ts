/**
 * Email verification links. A pending sign-up (name + password hash, no account yet) or an address
 * check for an existing account (user_id) waits here under the SHA-256 of a random token that only
 * the mailbox receives; following the link consumes it. Several pending sign-ups for one address
 * may coexist: whoever reads that mailbox decides which one becomes the account.
 */
import crypto from 'node:crypto';
import type { Db } from './sqlite';
import type { PgDb } from './pg';

const hashToken = (token: string) => crypto.createHash('sha256').update(token).digest('hex');
const TOKEN_RE = /^[A-Za-z0-9_-]{43}$/;

export interface PendingVerification {
  email: string;
  name: string | null;
  password_hash: string | null;
  user_id: string | null;
  created_at: number;
  expires_at: number;
}

export interface VerificationStore {
  /** Store a pending verification; returns the token for the link (never stored). */
  create(v: { email: string; name?: string; passwordHash?: string; userId?: string }, ttlMs: number): Promise<string>;
  /** Take (delete) the verification for `token`; undefined when unknown or expired. */
  consume(token: string): Promise<PendingVerification | undefined>;
  /** Forget every pending verification for `email` (it has been decided). */
  clearEmail(email: string): Promise<void>;
}

interface Sql {
  insert(hash: string, v: { email: string; name?: string; passwordHash?: string; userId?: string }, now: number, exp: number): Promise<void>;
  take(hash: string): Promise<PendingVerification | undefined>;
  clear(email: string): Promise<void>;
  purge(now: number): Promise<void>;
}

function store(sql: Sql): VerificationStore {
  return {
    async create(v, ttlMs) {
      const now = Date.now();
      await sql.purge(now); // expired links are dead weight; creating one is a rare, cheap moment to drop them
      const token = crypto.randomBytes(32).toString('base64url');
      await sql.insert(hashToken(token), v, now, now + ttlMs);
      return token;
    },
    async consume(token) {
      if (!TOKEN_RE.test(token)) return undefined;
      const row = await sql.take(hashToken(token));
      return row && row.expires_at > Date.now() ? row : undefined;
    },
    clearEmail: (email) => sql.clear(email),
  };
}

export function createSqliteVerificationStore(db: Db): VerificationStore {
  const ins = db.prepare(
    'INSERT INTO email_verifications (token_hash, email, name, password_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
  );
  const take = db.prepare<[string], PendingVerification>(
    'DELETE FROM email_verifications WHERE token_hash = ? RETURNING email, name, password_hash, user_id, created_at, expires_at',
  );
  const clear = db.prepare<[string]>('DELETE FROM email_verifications WHERE email = ?');
  const purge = db.prepare<[number]>('DELETE FROM email_verifications WHERE expires_at <= ?');
  return store({
    insert: async (h, v, now, exp) => void ins.run(h, v.email, v.name ?? null, v.passwordHash ?? null, v.userId ?? null, now, exp),
    take: async (h) => take.get(h),
    clear: async (e) => void clear.run(e),
    purge: async (now) => void purge.run(now),
  });
}

export function createPgVerificationStore(pg: PgDb): VerificationStore {
  const t = `${pg.s}.email_verifications`;
  return store({
    insert: async (h, v, now, exp) =>
      void (await pg.query(`INSERT INTO ${t} (token_hash, email, name, password_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`, [
        h,
        v.email,
        v.name ?? null,
        v.passwordHash ?? null,
        v.userId ?? null,
        now,
        exp,
      ])),
    take: async (h) =>
      (await pg.query<PendingVerification>(`DELETE FROM ${t} WHERE token_hash = $1 RETURNING email, name, password_hash, user_id, created_at, expires_at`, [h])).rows[0],
    clear: async (e) => void (await pg.query(`DELETE FROM ${t} WHERE lower(email) = lower($1)`, [e])),
    purge: async (now) => void (await pg.query(`DELETE FROM ${t} WHERE expires_at <= $1`, [now])),
  });
}
