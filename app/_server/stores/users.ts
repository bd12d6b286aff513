/** Accounts: creation (the first one becomes instance admin) and lookup, on SQLite or PostgreSQL. */
import { newId } from '@/lib/ids';
import { TandemError } from '@/lib/errors';
import type { UserView } from '@/lib/api-schemas';
import type { Db } from './sqlite';
import { isUniqueViolation, type PgDb } from './pg';

export interface UserRow {
  id: string;
  email: string;
  name: string;
  password_hash: string;
  is_admin: number;
  created_at: number;
}

export const userView = (u: UserRow): UserView => ({ id: u.id, email: u.email, name: u.name, isAdmin: u.is_admin === 1, createdAt: u.created_at });

/** Accounts. Emails are unique case-insensitively on both engines. */
export interface UserStore {
  /** Create an account; the first account on the instance is its admin. Conflict if the email is taken. */
  create(email: string, name: string, passwordHash: string): Promise<UserRow>;
  byEmail(email: string): Promise<UserRow | undefined>;
  byId(id: string): Promise<UserRow | undefined>;
}

const emailTaken = () => new TandemError('conflict', 'an account with this email already exists', 'email');

/** SQLite: the email column is COLLATE NOCASE, so `=` is already case-insensitive. */
export function createSqliteUserStore(db: Db): UserStore {
  const byEmail = db.prepare<[string], UserRow>('SELECT * FROM users WHERE email = ?');
  const byId = db.prepare<[string], UserRow>('SELECT * FROM users WHERE id = ?');
  const count = db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM users');
  const insert = db.prepare<[string, string, string, string, number, number]>(
    'INSERT INTO users (id, email, name, password_hash, is_admin, created_at) VALUES (?, ?, ?, ?, ?, ?)',
  );
  // IMMEDIATE takes the write lock before counting, so two concurrent first sign-ups (even from
  // two app processes) cannot both see an empty table and both become admin.
  const createTx = db.transaction((email: string, name: string, hash: string): UserRow => {
    if (byEmail.get(email)) throw emailTaken();
    const isAdmin = count.get()!.n === 0 ? 1 : 0;
    const id = newId();
    insert.run(id, email, name, hash, isAdmin, Date.now());
    return byId.get(id)!;
  });
  return {
    async create(email, name, passwordHash) {
      return createTx.immediate(email, name, passwordHash);
    },
    async byEmail(email) {
      return byEmail.get(email);
    },
    async byId(id) {
      return byId.get(id);
    },
  };
}

/** PostgreSQL: emails compared through lower(), which the users_email_ci unique index covers. */
export function createPgUserStore(pg: PgDb): UserStore {
  const t = `${pg.s}.users`;
  // One lock per schema serializes sign-ups across app instances, so exactly one account sees an
  // empty table (READ COMMITTED alone lets two concurrent transactions both count zero).
  const lockKey = `${pg.schemaName}:users.create`;
  return {
    async create(email, name, passwordHash) {
      try {
        return await pg.tx(async (c) => {
          await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [lockKey]);
          const taken = await c.query(`SELECT 1 FROM ${t} WHERE lower(email) = lower($1)`, [email]);
          if (taken.rowCount) throw emailTaken();
          const n = await c.query<{ any: boolean }>(`SELECT EXISTS (SELECT 1 FROM ${t}) AS any`);
          const r = await c.query<UserRow>(
            `INSERT INTO ${t} (id, email, name, password_hash, is_admin, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`,
            [newId(), email, name, passwordHash, n.rows[0]!.any ? 0 : 1, Date.now()],
          );
          return r.rows[0]!;
        });
      } catch (err) {
        // Belt and braces: the unique index is the final word on "taken".
        if (isUniqueViolation(err)) throw emailTaken();
        throw err;
      }
    },
    async byEmail(email) {
      return (await pg.query<UserRow>(`SELECT * FROM ${t} WHERE lower(email) = lower($1)`, [email])).rows[0];
    },
    async byId(id) {
      return (await pg.query<UserRow>(`SELECT * FROM ${t} WHERE id = $1`, [id])).rows[0];
    },
  };
}
