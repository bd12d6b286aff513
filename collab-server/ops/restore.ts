/**
 * `npm run restore -- <backup dir>`: into a fresh DATA_DIR (SQLite) or a fresh DATABASE_SCHEMA
 * (PostgreSQL, DATABASE_URL set), with Tandem stopped. Then start Tandem on it. What comes back, and
 * what open editors see: README "Backups and restore".
 */
import { resolve } from 'node:path';
import { parseCollabConfig } from '../../lib/config';
import { restorePostgres, restoreSqlite } from './backup-lib';

async function main(argv: string[]): Promise<void> {
  const cfg = parseCollabConfig(process.env);
  const from = argv.find((a) => !a.startsWith('-'));
  if (!from) throw new Error('usage: npm run restore -- <backup dir>');
  const backup = resolve(from);
  const m = cfg.DATABASE_URL ? await restorePostgres(backup, cfg.DATABASE_URL, cfg.DATABASE_SCHEMA) : restoreSqlite(backup, resolve(cfg.DATA_DIR));
  const when = new Date(m.takenAt).toISOString();
  console.log(`restored ${m.documents} documents and ${m.users} users as they were at ${when} into ${cfg.DATABASE_URL ? `schema ${cfg.DATABASE_SCHEMA}` : resolve(cfg.DATA_DIR)}.`);
  console.log(`Edits made after ${when} are not in it: editors that still have them open send them again when they reconnect; documents deleted after ${when} are back.`);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(`restore failed: ${(err as Error).message}`);
  process.exit(1);
});
