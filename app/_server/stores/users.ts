/**
 * Accounts on SQLite or PostgreSQL. Nobody becomes instance admin by signing up: the first admin is
 * created with the one-time setup token (createFirstAdmin), later ones by an admin.
 */
import { newId } from '@/lib/ids';
import { TandemError } from '@/lib/errors';
import type { UserView } from '@/lib/api-schemas';
import type { Db } from './sqlite';
import { isUniqueViolation, type PgDb, type PgQueryable } from './pg';

export interface UserRow {
  id: string;
  email: string;
  name: string;
  password_hash: string;
  is_admin: number;
  created_at: number;
  /** 1 once the address was verified by a mailed link. */
  email_verified: number;
}

export const userView = (u: UserRow): UserView => ({
  id: u.id,
  email: u.email,
  name: u.name,
  isAdmin: u.is_admin === 1,
  emailVerified: u.email_verified === 1,
  createdAt: u.created_at,
});

/** The app_settings row holding the first-admin setup token while there is no admin. */
export const SETUP_TOKEN_SETTING = 'setup_token';

/** Accounts. Emails are unique case-insensitively on both engines. */
export interface UserStore {
  /** Create an ordinary account (verified or not). Conflict if the email is taken. */
  create(email: string, name: string, passwordHash: string, opts?: { verified?: boolean }): Promise<UserRow>;
  /**
   * Create the first instance admin (verified) and drop the stored setup token, in one transaction;
   * forbidden once any admin exists, so a setup token works at most once.
   */
  createFirstAdmin(email: string, name: string, passwordHash: string): Promise<UserRow>;
  /** True when the instance has an admin. */
  hasAdmin(): Promise<boolean>;
  /** Mark the address verified; with a password hash (a pending sign-up won over an unverified account) also replace password and name. */
  markVerified(id: string, replace?: { passwordHash: string; name: string }): Promise<UserRow | undefined>;
  byEmail(email: string): Promise<UserRow | undefined>;
  byId(id: string): Promise<UserRow | undefined>;
  /**
   * Void every collab token issued to `id` before this second (sign-out): collab-server refuses them
   * and closes their open sockets (users.tokens_not_before). Whole seconds, as a token's iat.
   */
  revokeCollabTokens(id: string, now?: number): Promise<void>;
}

const notBefore = (now: number) => now - (now % 1000);

const adminExists = () => new TandemError('forbidden', 'this instance already has an admin');

const emailTaken = () => new TandemError('conflict', 'an account with this email already exists', 'email');

/** SQLite: the email column is COLLATE NOCASE, so `=` is already case-insensitive. */
export function createSqliteUserStore(db: Db): UserStore {
  const byEmail = db.prepare<[string], UserRow>('SELECT * FROM users WHERE email = ?');
  const byId = db.prepare<[string], UserRow>('SELECT * FROM users WHERE id = ?');
  const admins = db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM users WHERE is_admin = 1');
  const insert = db.prepare<[string, string, string, string, number, number, number]>(
    'INSERT INTO users (id, email, name, password_hash, is_admin, created_at, email_verified) VALUES (?, ?, ?, ?, ?, ?, ?)',
  );
  const dropSetup = db.prepare<[string]>('DELETE FROM app_settings WHERE name = ?');
  const verify = db.prepare<[string]>('UPDATE users SET email_verified = 1 WHERE id = ?');
  const verifyReplace = db.prepare<[string, string, string]>('UPDATE users SET email_verified = 1, password_hash = ?, name = ? WHERE id = ?');
  const createTx = db.transaction((email: string, name: string, hash: string, verified: boolean): UserRow => {
    if (byEmail.get(email)) throw emailTaken();
    const id = newId();
    insert.run(id, email, name, hash, 0, Date.now(), verified ? 1 : 0);
    return byId.get(id)!;
  });
  // IMMEDIATE takes the write lock before counting, so two concurrent setups (even from two app
  // processes) cannot both see no admin.
  const firstAdminTx = db.transaction((email: string, name: string, hash: string): UserRow => {
    if (admins.get()!.n > 0) throw adminExists();
    if (byEmail.get(email)) throw emailTaken();
    const id = newId();
    insert.run(id, email, name, hash, 1, Date.now(), 1);
    dropSetup.run(SETUP_TOKEN_SETTING);
    return byId.get(id)!;
  });
  return {
    async create(email, name, passwordHash, opts) {
      return createTx.immediate(email, name, passwordHash, opts?.verified ?? false);
    },
    async createFirstAdmin(email, name, passwordHash) {
      return firstAdminTx.immediate(email, name, passwordHash);
    },
    async hasAdmin() {
      return admins.get()!.n > 0;
    },
    async markVerified(id, replace) {
      if (replace) verifyReplace.run(replace.passwordHash, replace.name, id);
      else verify.run(id);
      return byId.get(id);
    },
    async byEmail(email) {
      return byEmail.get(email);
    },
    async byId(id) {
      return byId.get(id);
    },
    async revokeCollabTokens(id, now = Date.now()) {
      db.prepare<[number, string]>('UPDATE users SET tokens_not_before = MAX(tokens_not_before, ?) WHERE id = ?').run(notBefore(now), id);
    },
  };
}

/** PostgreSQL: emails compared through lower(), which the users_email_ci unique index covers. */
export function createPgUserStore(pg: PgDb): UserStore {
  const t = `${pg.s}.users`;
  // One lock per schema serializes sign-ups across app instances, so exactly one account sees an
  // empty table (READ COMMITTED alone lets two concurrent transactions both count zero).
  const lockKey = `${pg.schemaName}:users.create`;
  const insert = async (c: PgQueryable, email: string, name: string, hash: string, admin: boolean, verified: boolean) => {
    const taken = await c.query(`SELECT 1 FROM ${t} WHERE lower(email) = lower($1)`, [email]);
    if (taken.rowCount) throw emailTaken();
    const r = await c.query<UserRow>(
      `INSERT INTO ${t} (id, email, name, password_hash, is_admin, created_at, email_verified) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *`,
      [newId(), email, name, hash, admin ? 1 : 0, Date.now(), verified ? 1 : 0],
    );
    return r.rows[0]!;
  };
  const uniqueAsTaken = (err: unknown): never => {
    // Belt and braces: the unique index is the final word on "taken".
    if (isUniqueViolation(err)) throw emailTaken();
    throw err;
  };
  return {
    async create(email, name, passwordHash, opts) {
      return pg.tx((c) => insert(c, email, name, passwordHash, false, opts?.verified ?? false)).catch(uniqueAsTaken);
    },
    async createFirstAdmin(email, name, passwordHash) {
      return pg
        .tx(async (c) => {
          // One lock per schema serializes setups across app instances (READ COMMITTED alone lets
          // two concurrent transactions both see no admin).
          await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [lockKey]);
          const any = await c.query(`SELECT 1 FROM ${t} WHERE is_admin = 1 LIMIT 1`);
          if (any.rowCount) throw adminExists();
          const u = await insert(c, email, name, passwordHash, true, true);
          await c.query(`DELETE FROM ${pg.s}.app_settings WHERE name = $1`, [SETUP_TOKEN_SETTING]);
          return u;
        })
        .catch(uniqueAsTaken);
    },
    async hasAdmin() {
      return Boolean((await pg.query(`SELECT 1 FROM ${t} WHERE is_admin = 1 LIMIT 1`)).rowCount);
    },
    async markVerified(id, replace) {
      const r = replace
        ? await pg.query<UserRow>(`UPDATE ${t} SET email_verified = 1, password_hash = $1, name = $2 WHERE id = $3 RETURNING *`, [replace.passwordHash, replace.name, id])
        : await pg.query<UserRow>(`UPDATE ${t} SET email_verified = 1 WHERE id = $1 RETURNING *`, [id]);
      return r.rows[0];
    },
    async byEmail(email) {
      return (await pg.query<UserRow>(`SELECT * FROM ${t} WHERE lower(email) = lower($1)`, [email])).rows[0];
    },
    async byId(id) {
      return (await pg.query<UserRow>(`SELECT * FROM ${t} WHERE id = $1`, [id])).rows[0];
    },
    async revokeCollabTokens(id, now = Date.now()) {
      await pg.query(`UPDATE ${t} SET tokens_not_before = GREATEST(tokens_not_before, $1) WHERE id = $2`, [notBefore(now), id]);
    },
  };
}
