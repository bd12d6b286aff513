/**
 * Everything a request handler needs, built once per process on first use: config, stores (SQLite,
 * or PostgreSQL when DATABASE_URL is set), sign-in throttle (Redis when REDIS_URL is set), logger and
 * the token signing key. Built by a factory (so a test could build two); the
 * one process-wide instance lives on globalThis so Next's dev reloads do not open a second handle.
 */
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import type { CryptoKey, JWK } from 'jose';
import { ensureKeyFiles } from '@/lib/keys';
import { createKeyRingWatcher, splitPems } from '@/lib/key-ring';
import { createLogger, type Logger } from '@/observability/logger';
import { createLokiShipper, lokiWorkerPath } from '@/observability/loki';
import { getAppMetrics } from '@/observability/app-metrics';
import { Redis } from 'ioredis';
import { parseAppConfig, type AppConfig } from './config';
import { openDb } from './stores/sqlite';
import { openPg } from './stores/pg';
import { createPgStores, createSqliteStores, type Stores } from './stores';
import { createMemoryLoginThrottle, createRedisLoginThrottle, type LoginThrottle } from './login-throttle';
import { createAuthLimits } from './auth-limits';
import { parseTrustedProxies } from './client-address';
import { createMailer } from './mailer';
import { SETUP_TOKEN_SETTING } from './stores/users';

export interface SigningKeys {
  privateKey: CryptoKey;
  publicPem: string;
  kid: string;
  /** Every verification key (signing, next, retired; not revoked), for /.well-known/jwks.json. */
  jwks: { keys: JWK[] };
}

/** PEMs passed through env files often arrive with literal "\n" instead of newlines. */
const unescapePem = (s: string) => (s.includes('\\n') ? s.replace(/\\n/g, '\n') : s);

/**
 * The signing key from the key ring (lib/key-ring.ts): COLLAB_TOKEN_PRIVATE_KEY, or the keys
 * directory (created on first use), re-read when it changes so a rotation or revocation applies
 * without a restart. Also every verification key, for the JWKS.
 */
function createSigningKeys(cfg: AppConfig, dataDir: string): () => Promise<SigningKeys> {
  const dir = cfg.COLLAB_TOKEN_KEYS_DIR ?? (cfg.COLLAB_TOKEN_PRIVATE_KEY ? undefined : join(dataDir, 'keys'));
  const watcher = createKeyRingWatcher({
    dir,
    privatePem: cfg.COLLAB_TOKEN_PRIVATE_KEY ? unescapePem(cfg.COLLAB_TOKEN_PRIVATE_KEY) : undefined,
    publicPems: cfg.COLLAB_TOKEN_PUBLIC_KEY ? splitPems(cfg.COLLAB_TOKEN_PUBLIC_KEY) : [],
    withPrivate: true,
    // Checked on every use (a readdir and a few stats): a token is never minted with a key revoked a moment ago.
    pollMs: 0,
  });
  let created: Promise<unknown> | null = null;
  return async () => {
    // Same directory collab-server reads in single-machine mode.
    if (dir && !cfg.COLLAB_TOKEN_PRIVATE_KEY) await (created ??= ensureKeyFiles(dir).catch((err: unknown) => ((created = null), Promise.reject(err))));
    const ring = await watcher.current();
    if (!ring.signing) throw new Error('no collab token signing key (missing or revoked): see README "Signing-key rotation"');
    return { privateKey: ring.signing.privateKey, publicPem: ring.signing.publicPem, kid: ring.signing.kid, jwks: ring.jwks };
  };
}

/** The database the stores run on: PostgreSQL when DATABASE_URL is set, else SQLite in DATA_DIR. */
function openStores(config: AppConfig, dataDir: string, instance: string): { engine: 'sqlite' | 'postgres'; stores: Stores; ready(): Promise<void>; close(): Promise<void> } {
  const opts = { sessionTtlSeconds: config.SESSION_TTL_SECONDS, sessionIdleSeconds: config.SESSION_IDLE_SECONDS };
  if (config.DATABASE_URL) {
    const pg = openPg({ connectionString: config.DATABASE_URL, schema: config.DATABASE_SCHEMA, applicationName: `tandem-${instance}` });
    return { engine: 'postgres', stores: createPgStores(pg, opts), ready: pg.ready, close: pg.close };
  }
  const db = openDb(join(dataDir, 'tandem.db'), config.SQLITE_SYNCHRONOUS);
  return { engine: 'sqlite', stores: createSqliteStores(db, opts), ready: async () => {}, close: async () => void db.close() };
}

/** Build the app's dependencies from a parsed config. Nothing here waits: PostgreSQL is migrated before its first query. */
export function createAppContext(config: AppConfig) {
  const dataDir = resolve(config.DATA_DIR);
  const instance = config.INSTANCE_ID ?? `app-${process.pid}`;
  // LOKI_URL: ship the app's lines to Loki like collab-server's (labels {service, instance, level}).
  const loki = config.LOKI_URL
    ? createLokiShipper({ url: config.LOKI_URL, service: 'app', instance, intervalMs: config.LOKI_BATCH_INTERVAL_MS, timeoutMs: config.LOKI_TIMEOUT_MS, workerPath: lokiWorkerPath(), onDropped: (n) => getAppMetrics().logLinesDropped.inc(n) })
    : undefined;
  const log: Logger = createLogger({ service: 'app', instance, level: config.LOG_LEVEL, streams: loki ? [loki.stream] : undefined });
  const db = openStores(config, dataDir, instance);
  const limits = { maxFailures: config.LOGIN_MAX_FAILURES, windowMs: config.LOGIN_WINDOW_SECONDS * 1000 };
  // Commands fail fast while Redis is away (the throttle then falls back to memory) instead of queueing.
  const redis = config.REDIS_URL ? new Redis(config.REDIS_URL, { maxRetriesPerRequest: 1, connectTimeout: 2000, lazyConnect: true }) : null;
  redis?.on('error', (err: unknown) => log.warn({ err }, 'redis connection error'));
  const loginThrottle: LoginThrottle = redis
    ? createRedisLoginThrottle({ ...limits, redis, prefix: config.REDIS_PREFIX, onError: (err, op) => log.warn({ err, op }, 'login throttle: Redis failed, counting in memory') })
    : createMemoryLoginThrottle(limits);
  const authLimits = createAuthLimits({
    perAddress: config.AUTH_RATE_PER_ADDRESS,
    global: config.AUTH_RATE_GLOBAL,
    windowMs: config.AUTH_RATE_WINDOW_SECONDS * 1000,
    hashConcurrency: config.AUTH_HASH_CONCURRENCY,
    hashQueue: config.AUTH_HASH_QUEUE,
    hashPerAddress: config.AUTH_HASH_PER_ADDRESS,
    redis,
    prefix: config.REDIS_PREFIX,
    onError: (err, op) => log.warn({ err, op }, 'auth limits: Redis failed, counting in memory'),
  });
  const trustedProxy = parseTrustedProxies(config.TRUSTED_PROXIES);
  const mailer = createMailer({ smtpUrl: config.SMTP_URL, from: config.MAIL_FROM, log });
  const signingKeys = createSigningKeys(config, dataDir);
  let setup: Promise<void> | null = null;
  return {
    config,
    dataDir,
    engine: db.engine,
    log,
    ...db.stores,
    /** The shared Redis client when REDIS_URL is set (connects on first use), else null. */
    redis,
    loginThrottle,
    /** Per-address and global sign-in/sign-up limits and the password-hash slots. */
    authLimits,
    /** Whether a peer is a trusted proxy (its X-Forwarded-For is believed). */
    trustedProxy,
    mailer,
    /** Resolves once the database is usable (PostgreSQL migrated); stores also wait for it themselves. */
    ready: db.ready,
    /** The token signing key, generated into <DATA_DIR>/keys on first use unless given by env. */
    keys(): Promise<SigningKeys> {
      return signingKeys();
    },
    /**
     * While the instance has no admin, make sure a setup token exists (SETUP_TOKEN, else one
     * generated once and kept in app_settings so every instance accepts the same one) and print
     * it with the setup page's address. Once per process; harmless to call again.
     */
    announceSetup(): Promise<void> {
      setup ??= (async () => {
        if (await db.stores.users.hasAdmin()) return;
        const token = config.SETUP_TOKEN ?? (await db.stores.settings.putIfAbsent(SETUP_TOKEN_SETTING, randomBytes(24).toString('base64url')));
        log.warn(
          { setup: '/setup' },
          config.SETUP_TOKEN
            ? 'no instance admin yet: open /setup and enter SETUP_TOKEN to create the first admin'
            : `no instance admin yet: open /setup and enter this one-time setup token to create the first admin: ${token}`,
        );
      })().catch((err: unknown) => {
        setup = null;
        throw err;
      });
      return setup;
    },
    /** The setup token accepted now, or null once an admin exists. */
    async setupToken(): Promise<string | null> {
      if (await db.stores.users.hasAdmin()) return null;
      return config.SETUP_TOKEN ?? (await db.stores.settings.putIfAbsent(SETUP_TOKEN_SETTING, randomBytes(24).toString('base64url')));
    },
    /** Close the database (synchronously for SQLite), Redis and the mail pool. */
    async close(): Promise<void> {
      mailer.close();
      const closing = db.close();
      redis?.disconnect();
      await closing;
      await loki?.close();
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

/** Start-up hook (instrumentation.ts can call it): migrate the database and create keys now rather than on the first request. */
export async function bootstrapApp(): Promise<void> {
  const app = getApp();
  await app.ready();
  await app.keys();
  await app.announceSetup();
}
