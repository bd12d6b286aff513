/**
 * Everything a request handler needs, built once per process on first use: config, database,
 * stores, logger and the token signing key. Built by a factory (so a test could build two); the
 * one process-wide instance lives on globalThis so Next's dev reloads do not open a second handle.
 */
import { createPublicKey } from 'node:crypto';
import { join, resolve } from 'node:path';
import type { CryptoKey } from 'jose';
import { ensureKeyFiles, importPrivateKey, publicJwks } from '@/lib/keys';
import { createLogger, type Logger } from '@/observability/logger';
import { parseAppConfig, type AppConfig } from './config';
import { openDb, type Db } from './db';
import { createUserStore } from './users';
import { createSessionStore } from './sessions';
import { createDocStore } from './docs';
import { createAuditStore } from './audit';
import { createAccessStore } from './access';
import { createLoginThrottle } from './login-throttle';

export interface SigningKeys {
  privateKey: CryptoKey;
  publicPem: string;
  kid: string;
}

/** PEMs passed through env files often arrive with literal "\n" instead of newlines. */
const unescapePem = (s: string) => (s.includes('\\n') ? s.replace(/\\n/g, '\n') : s);

async function loadKeys(cfg: AppConfig, dataDir: string): Promise<SigningKeys> {
  let privatePem: string;
  let publicPem: string;
  if (cfg.COLLAB_TOKEN_PRIVATE_KEY) {
    privatePem = unescapePem(cfg.COLLAB_TOKEN_PRIVATE_KEY);
    publicPem = createPublicKey(privatePem).export({ type: 'spki', format: 'pem' }).toString();
  } else {
    // Same directory collab-server reads its public key from in single-machine mode.
    ({ privatePem, publicPem } = await ensureKeyFiles(join(dataDir, 'keys')));
  }
  const jwks = await publicJwks(publicPem);
  return { privateKey: await importPrivateKey(privatePem), publicPem, kid: jwks.keys[0]!.kid! };
}

/** Build the app's dependencies from a parsed config. */
export function createAppContext(config: AppConfig) {
  const dataDir = resolve(config.DATA_DIR);
  const db: Db = openDb(join(dataDir, 'tandem.db'), config.SQLITE_SYNCHRONOUS);
  const log: Logger = createLogger({ service: 'app', instance: `app-${process.pid}`, level: config.LOG_LEVEL });
  const audit = createAuditStore(db);
  let keys: Promise<SigningKeys> | null = null;
  return {
    config,
    dataDir,
    db,
    log,
    users: createUserStore(db),
    sessions: createSessionStore(db, config.SESSION_TTL_SECONDS),
    docs: createDocStore(db),
    audit,
    access: createAccessStore(db, audit),
    loginThrottle: createLoginThrottle({ maxFailures: config.LOGIN_MAX_FAILURES, windowMs: config.LOGIN_WINDOW_SECONDS * 1000 }),
    /** The token signing key, generated into <DATA_DIR>/keys on first use unless given by env. */
    keys(): Promise<SigningKeys> {
      keys ??= loadKeys(config, dataDir).catch((err: unknown) => {
        keys = null; // let the next request retry (e.g. a read-only data dir that gets fixed)
        throw err;
      });
      return keys;
    },
    close(): void {
      db.close();
    },
  };
}

export type AppContext = ReturnType<typeof createAppContext>;

const KEY = Symbol.for('tandem.app.context');
type Holder = { [KEY]?: AppContext };

/** The process-wide context, built from process.env on first call. */
export function getApp(): AppContext {
  const g = globalThis as Holder;
  return (g[KEY] ??= createAppContext(parseAppConfig(process.env)));
}

/** Start-up hook (instrumentation.ts can call it): open the database and create keys now rather than on the first request. */
export async function bootstrapApp(): Promise<void> {
  await getApp().keys();
}
