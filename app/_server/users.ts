/** Accounts: creation (the first one becomes instance admin) and lookup. */
import { newId } from '@/lib/ids';
import { TandemError } from '@/lib/errors';
import type { UserView } from '@/lib/api-schemas';
import type { Db } from './db';

export interface UserRow {
  id: string;
  email: string;
  name: string;
  password_hash: string;
  is_admin: number;
  created_at: number;
}

export const userView = (u: UserRow): UserView => ({ id: u.id, email: u.email, name: u.name, isAdmin: u.is_admin === 1, createdAt: u.created_at });

export function createUserStore(db: Db) {
  const byEmail = db.prepare<[string], UserRow>('SELECT * FROM users WHERE email = ?');
  const byId = db.prepare<[string], UserRow>('SELECT * FROM users WHERE id = ?');
  const count = db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM users');
  const insert = db.prepare<[string, string, string, string, number, number]>(
    'INSERT INTO users (id, email, name, password_hash, is_admin, created_at) VALUES (?, ?, ?, ?, ?, ?)',
  );
  // IMMEDIATE takes the write lock before counting, so two concurrent first sign-ups (even from
  // two app processes) cannot both see an empty table and both become admin.
  const createTx = db.transaction((email: string, name: string, hash: string): UserRow => {
    if (byEmail.get(email)) throw new TandemError('conflict', 'an account with this email already exists', 'email');
    const isAdmin = count.get()!.n === 0 ? 1 : 0;
    const id = newId();
    insert.run(id, email, name, hash, isAdmin, Date.now());
    return byId.get(id)!;
  });

  return {
    /** Create an account; the first account on the instance is its admin. */
    create(email: string, name: string, passwordHash: string): UserRow {
      return createTx.immediate(email, name, passwordHash);
    },
    byEmail(email: string): UserRow | undefined {
      return byEmail.get(email);
    },
    byId(id: string): UserRow | undefined {
      return byId.get(id);
    },
  };
}

export type UserStore = ReturnType<typeof createUserStore>;
