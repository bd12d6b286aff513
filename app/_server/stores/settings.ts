/** Instance-wide settings (app_settings): e.g. the first-admin setup token while there is no admin. */
import type { Db } from './sqlite';
import type { PgDb } from './pg';

export interface SettingsStore {
  get(name: string): Promise<string | undefined>;
  /** Store `value` unless `name` already has one; returns the value that is stored now (first writer wins across instances). */
  putIfAbsent(name: string, value: string): Promise<string>;
}

export function createSqliteSettingsStore(db: Db): SettingsStore {
  const get = db.prepare<[string], { value: string }>('SELECT value FROM app_settings WHERE name = ?');
  const put = db.prepare<[string, string]>('INSERT INTO app_settings (name, value) VALUES (?, ?) ON CONFLICT(name) DO NOTHING');
  return {
    async get(name) {
      return get.get(name)?.value;
    },
    async putIfAbsent(name, value) {
      put.run(name, value);
      return get.get(name)!.value;
    },
  };
}

export function createPgSettingsStore(pg: PgDb): SettingsStore {
  const t = `${pg.s}.app_settings`;
  const get = async (name: string) => (await pg.query<{ value: string }>(`SELECT value FROM ${t} WHERE name = $1`, [name])).rows[0]?.value;
  return {
    get,
    async putIfAbsent(name, value) {
      await pg.query(`INSERT INTO ${t} (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`, [name, value]);
      return (await get(name))!;
    },
  };
}
