/**
 * `npm run backup [-- --out <dir>]`: a consistent backup while Tandem serves. SQLite (DATA_DIR) or,
 * with DATABASE_URL, PostgreSQL (DATABASE_SCHEMA). Default <dir>: ./backups/tandem-<time>.
 * See README "Backups and restore" and ./backup-lib.ts.
 */
import { resolve } from 'node:path';
import { parseCollabConfig } from '../../lib/config';
import { backupPostgres, backupSqlite } from './backup-lib';

async function main(argv: string[]): Promise<void> {
  const cfg = parseCollabConfig(process.env);
  const i = argv.indexOf('--out');
  const out = resolve(i >= 0 && argv[i + 1] ? argv[i + 1]! : `backups/tandem-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  const dataDir = resolve(cfg.DATA_DIR);
  const m = cfg.DATABASE_URL ? await backupPostgres(cfg.DATABASE_URL, cfg.DATABASE_SCHEMA, dataDir, out) : await backupSqlite(dataDir, out);
  console.log(`backup of ${m.engine}${m.schema ? ` schema ${m.schema}` : ''} taken at ${new Date(m.takenAt).toISOString()}: ${m.documents} documents, ${m.users} users, ${m.updateLogRows} update-log rows${m.keys ? ', token keys (keep this backup private)' : ''}`);
  console.log(out);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(`backup failed: ${(err as Error).message}`);
  process.exit(1);
});
