/**
 * Backups of Tandem's data, consistent while it serves, and restores into a fresh place.
 *
 * - SQLite (one machine): SQLite's online backup API (better-sqlite3 `db.backup`) copies
 *   DATA_DIR/tandem.db in ONE step, i.e. inside one read transaction: a consistent snapshot of every
 *   table (app and collab-server share the file) while writers keep committing to the WAL.
 * - PostgreSQL: `pg_dump --format=custom --schema=<DATABASE_SCHEMA>` (one repeatable-read snapshot of
 *   Tandem's schema), restored with `pg_restore`; into a schema of another name through a scratch
 *   database (pg_restore cannot rename a schema): restore there, ALTER SCHEMA … RENAME, dump, restore.
 *
 * A backup is a directory: the database (tandem.db or tandem.pgdump), the token keys (keys/, private
 * key 0600: protect the backup like the key), and manifest.json (what, when, from where).
 */
import { execFile } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import pg from 'pg';
import { pgIdent } from '../../lib/db-schema';

const run = promisify(execFile);

export interface Manifest {
  format: 1;
  engine: 'sqlite' | 'postgres';
  /** When the snapshot was taken (ms since epoch). */
  takenAt: number;
  /** PostgreSQL: the schema dumped. */
  schema?: string;
  documents: number;
  users: number;
  updateLogRows: number;
  serverVersion?: string;
  keys: boolean;
}

const MANIFEST = 'manifest.json';

/** Read a backup's manifest (throws a clear error when `dir` is not a Tandem backup). */
export function readManifest(dir: string): Manifest {
  const f = join(dir, MANIFEST);
  if (!existsSync(f)) throw new Error(`${dir} is not a Tandem backup (no ${MANIFEST})`);
  return JSON.parse(readFileSync(f, 'utf8')) as Manifest;
}

function copyKeys(from: string, to: string): boolean {
  if (!existsSync(from)) return false;
  mkdirSync(to, { recursive: true, mode: 0o700 });
  cpSync(from, to, { recursive: true, filter: (src) => !src.endsWith('.tmp') });
  for (const f of readdirSync(to)) if (f.endsWith('.key')) chmodSync(join(to, f), 0o600);
  return true;
}

/** SQLite: a consistent copy of DATA_DIR/tandem.db (and the keys) into `out`, while the processes keep serving. */
export async function backupSqlite(dataDir: string, out: string): Promise<Manifest> {
  const file = join(dataDir, 'tandem.db');
  if (!existsSync(file)) throw new Error(`no database at ${file} (DATA_DIR=${dataDir})`);
  mkdirSync(out, { recursive: true, mode: 0o700 });
  const src = new Database(file, { fileMustExist: true });
  try {
    // Wait out a writer's lock instead of failing; one step (all pages) = one consistent snapshot.
    src.pragma('busy_timeout = 5000');
    const takenAt = Date.now();
    await src.backup(join(out, 'tandem.db'), { progress: () => 2_000_000_000 });
    chmodSync(join(out, 'tandem.db'), 0o600);
    const copy = new Database(join(out, 'tandem.db'), { readonly: true });
    const count = (t: string) => (copy.prepare(`SELECT count(*) AS n FROM ${t}`).get() as { n: number }).n;
    const m: Manifest = { format: 1, engine: 'sqlite', takenAt, documents: count('docs'), users: count('users'), updateLogRows: count('doc_updates'), keys: copyKeys(join(dataDir, 'keys'), join(out, 'keys')) };
    copy.close();
    writeFileSync(join(out, MANIFEST), `${JSON.stringify(m, null, 2)}\n`);
    return m;
  } finally {
    src.close();
  }
}

/** SQLite: put a backup into a fresh DATA_DIR (refuses to overwrite a database; stop the processes first). */
export function restoreSqlite(backup: string, dataDir: string): Manifest {
  const m = readManifest(backup);
  if (m.engine !== 'sqlite') throw new Error(`${backup} is a ${m.engine} backup; restore it with DATABASE_URL set`);
  const target = join(dataDir, 'tandem.db');
  if (existsSync(target)) throw new Error(`${target} exists: restore into a fresh DATA_DIR (or move the old database away after stopping Tandem)`);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  copyFileSync(join(backup, 'tandem.db'), target);
  chmodSync(target, 0o600);
  if (m.keys && !existsSync(join(dataDir, 'keys'))) copyKeys(join(backup, 'keys'), join(dataDir, 'keys'));
  return m;
}

async function major(bin: string): Promise<number> {
  const { stdout } = await run(bin, ['--version']);
  return Number(/(\d+)(\.\d+)?/.exec(stdout)![1]);
}

/** The server's major version; pg_dump must be at least as new (Debian 12 ships 15, as the server here). */
async function checkVersions(client: pg.Client): Promise<string> {
  const v = (await client.query<{ server_version: string; n: string }>("SELECT current_setting('server_version') AS server_version, current_setting('server_version_num') AS n")).rows[0]!;
  const server = Math.floor(Number(v.n) / 10000);
  const dump = await major('pg_dump');
  if (dump < server) throw new Error(`pg_dump ${dump} is older than the PostgreSQL server (${v.server_version}): install postgresql-client-${server}`);
  return v.server_version;
}

/** PostgreSQL: pg_dump of Tandem's schema (one consistent snapshot) into `out`. */
export async function backupPostgres(url: string, schema: string, dataDir: string | null, out: string): Promise<Manifest> {
  const client = new pg.Client({ connectionString: url, application_name: 'tandem-backup' });
  await client.connect();
  try {
    const serverVersion = await checkVersions(client);
    const s = pgIdent(schema);
    if (!(await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema])).rowCount) throw new Error(`schema ${schema} does not exist`);
    mkdirSync(out, { recursive: true, mode: 0o700 });
    const takenAt = Date.now();
    await run('pg_dump', ['--format=custom', `--schema=${schema}`, '--no-owner', '--no-privileges', `--file=${join(out, 'tandem.pgdump')}`, `--dbname=${url}`]);
    chmodSync(join(out, 'tandem.pgdump'), 0o600);
    // Counts for the manifest (read after the dump; informational).
    const count = async (t: string) => Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${s}.${t}`)).rows[0]!.n);
    const m: Manifest = {
      format: 1,
      engine: 'postgres',
      takenAt,
      schema,
      documents: await count('docs'),
      users: await count('users'),
      updateLogRows: await count('doc_updates'),
      serverVersion,
      keys: dataDir ? copyKeys(join(dataDir, 'keys'), join(out, 'keys')) : false,
    };
    writeFileSync(join(out, MANIFEST), `${JSON.stringify(m, null, 2)}\n`);
    return m;
  } finally {
    await client.end();
  }
}

const withDb = (url: string, db: string) => {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
};

/** PostgreSQL: restore a backup into `schema`, which must not exist yet (a fresh schema; stop Tandem first). */
export async function restorePostgres(backup: string, url: string, schema: string): Promise<Manifest> {
  const m = readManifest(backup);
  if (m.engine !== 'postgres') throw new Error(`${backup} is a ${m.engine} backup; restore it without DATABASE_URL`);
  pgIdent(schema);
  const file = join(backup, 'tandem.pgdump');
  const client = new pg.Client({ connectionString: url, application_name: 'tandem-restore' });
  await client.connect();
  try {
    await checkVersions(client);
    if ((await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema])).rowCount) {
      throw new Error(`schema ${schema} exists: restore into a fresh schema (DATABASE_SCHEMA), or drop it after stopping Tandem`);
    }
    const restore = (dbUrl: string, f: string) => run('pg_restore', ['--no-owner', '--no-privileges', '--exit-on-error', `--dbname=${dbUrl}`, f]);
    if (m.schema === schema) {
      await restore(url, file);
      return m;
    }
    // Another name: through a scratch database, where the schema can be renamed before it is copied over.
    const scratch = `tandem_restore_${randomBytes(5).toString('hex')}`;
    await client.query(`CREATE DATABASE ${scratch}`);
    const tmp = join(backup, `.renamed-${scratch}.pgdump`);
    try {
      await restore(withDb(url, scratch), file);
      const sc = new pg.Client({ connectionString: withDb(url, scratch), application_name: 'tandem-restore' });
      await sc.connect();
      await sc.query(`ALTER SCHEMA ${pgIdent(m.schema!)} RENAME TO ${pgIdent(schema)}`);
      await sc.end();
      await run('pg_dump', ['--format=custom', `--schema=${schema}`, '--no-owner', '--no-privileges', `--file=${tmp}`, `--dbname=${withDb(url, scratch)}`]);
      await restore(url, tmp);
    } finally {
      rmSync(tmp, { force: true });
      await client.query(`DROP DATABASE IF EXISTS ${scratch}`);
    }
    return m;
  } finally {
    await client.end();
  }
}
