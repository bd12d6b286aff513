/**
 * The app's configuration: one zod schema over the environment, parsed once, on first use (not at
 * import time, so tests and `next build` can import route modules without a configured env).
 */
import { z } from 'zod';

/** Unset and empty variables both mean "use the default" (compose files often pass VAR=). */
const opt = <T extends z.ZodTypeAny>(s: T) => z.preprocess((v) => (v === '' ? undefined : v), s);
const int = (def: number, min: number, max: number) => opt(z.coerce.number().int().min(min).max(max).default(def));

export const AppConfigSchema = z.object({
  /** Directory for tandem.db and the generated token keys (shared with collab-server). */
  DATA_DIR: opt(z.string().default('./data')),
  /** PEM (PKCS#8 Ed25519) private key for collab tokens; default: generated into <DATA_DIR>/keys. */
  COLLAB_TOKEN_PRIVATE_KEY: opt(z.string().optional()),
  /** More public keys (PEM blocks) published in the JWKS beside the signing key's: a rotation's next or previous key when keys come by env. */
  COLLAB_TOKEN_PUBLIC_KEY: opt(z.string().optional()),
  /** The token key ring directory (rotation, revocation; lib/key-ring.ts); default <DATA_DIR>/keys, read only alongside COLLAB_TOKEN_PRIVATE_KEY when set explicitly. */
  COLLAB_TOKEN_KEYS_DIR: opt(z.string().optional()),
  /** Collab token lifetime; short because a token is re-minted (or refreshed in band) cheaply. */
  COLLAB_TOKEN_TTL_SECONDS: int(300, 10, 86_400),
  /** WebSocket base URL clients are told to use; default ws://<request hostname>:<COLLAB_PORT>. */
  COLLAB_PUBLIC_URL: opt(
    z
      .string()
      .url()
      .refine((u) => /^wss?:\/\//.test(u), 'must be a ws:// or wss:// URL')
      .optional(),
  ),
  COLLAB_PORT: int(1234, 1, 65_535),
  /** How long a sign-in lasts at most, however active (absolute lifetime). */
  SESSION_TTL_SECONDS: int(14 * 24 * 3600, 60, 365 * 24 * 3600),
  /** A session unused for this long ends (idle timeout); 3 days survive a weekend away. */
  SESSION_IDLE_SECONDS: int(3 * 24 * 3600, 60, 365 * 24 * 3600),
  /**
   * log2 of scrypt's cost N. 17 (128 MiB, r=8, p=1) is OWASP's current minimum for scrypt; ~0.4 s
   * per hash here. Stored per hash, so older (cheaper) hashes still verify after raising it.
   */
  PASSWORD_SCRYPT_LOG2N: int(17, 14, 20),
  /** Wrong passwords allowed per email within LOGIN_WINDOW_SECONDS before logins for it get 429. */
  LOGIN_MAX_FAILURES: int(10, 1, 10_000),
  LOGIN_WINDOW_SECONDS: int(900, 1, 86_400),
  /**
   * Sign-in and sign-up attempts (each costs one password hash) allowed per client address, and for
   * the whole instance (all app instances with REDIS_URL), per AUTH_RATE_WINDOW_SECONDS; 0 = no limit.
   */
  AUTH_RATE_PER_ADDRESS: int(30, 0, 10_000_000),
  AUTH_RATE_GLOBAL: int(600, 0, 10_000_000),
  AUTH_RATE_WINDOW_SECONDS: int(60, 1, 86_400),
  /**
   * Password hashes computed at once by this process; more wait in line (up to
   * AUTH_HASH_QUEUE waiting, then 429), so a flood cannot starve the event loop's thread pool.
   */
  AUTH_HASH_CONCURRENCY: int(2, 1, 64),
  AUTH_HASH_QUEUE: int(16, 0, 100_000),
  /** Password hashes running or waiting at once for one client address; 0 = no limit. */
  AUTH_HASH_PER_ADDRESS: int(2, 0, 100_000),
  /**
   * Peers whose X-Forwarded-For is believed (comma-separated IPs or CIDRs, or `loopback`): the
   * client address of rate limits is the rightmost address not in this list. Empty = never.
   */
  TRUSTED_PROXIES: opt(z.string().max(2000).default('loopback')),
  /** required: sign-up finishes (and shares apply) only once the address is verified by a mailed link; off: for development and test harnesses. */
  EMAIL_VERIFICATION: opt(z.enum(['required', 'off']).default('required')),
  /** smtp(s)://user:pass@host:port for verification mail; unset = the link is printed to the log. */
  SMTP_URL: opt(
    z
      .string()
      .refine((u) => /^smtps?:\/\//.test(u), 'must be an smtp:// or smtps:// URL')
      .optional(),
  ),
  MAIL_FROM: opt(z.string().max(200).default('Tandem <tandem@localhost>')),
  /** Base URL of the app in mailed links (e.g. https://docs.example.com); default: the request's own origin. */
  APP_PUBLIC_URL: opt(z.string().url().refine((u) => /^https?:\/\//.test(u), 'must be an http(s) URL').optional()),
  /** One-time token that creates the first instance admin (/setup); unset = generated and printed to the log while there is no admin. */
  SETUP_TOKEN: opt(z.string().min(16, 'must be at least 16 characters').max(200).optional()),
  /** Secure cookies: auto = when the request arrived over https (or X-Forwarded-Proto says so). */
  COOKIE_SECURE: opt(z.enum(['auto', 'true', 'false']).default('auto')),
  SQLITE_SYNCHRONOUS: opt(z.enum(['NORMAL', 'FULL']).default('NORMAL')),
  /** postgres://… : users, sessions, documents, access and audit in PostgreSQL; unset = SQLite in DATA_DIR. */
  DATABASE_URL: opt(
    z
      .string()
      .refine((u) => /^postgres(ql)?:\/\//.test(u), 'must be a postgres:// or postgresql:// URL')
      .optional(),
  ),
  /** The PostgreSQL schema holding Tandem's tables (one per deployment; the same for app and collab-server). */
  DATABASE_SCHEMA: opt(
    z
      .string()
      .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a lowercase SQL identifier (a-z, 0-9, _; at most 63 characters)')
      .default('tandem'),
  ),
  /** redis://… : the sign-in throttle's counts are shared by every app instance; unset = in memory. */
  REDIS_URL: opt(
    z
      .string()
      .refine((u) => /^rediss?:\/\//.test(u), 'must be a redis:// or rediss:// URL')
      .optional(),
  ),
  /** This instance's name in logs and PostgreSQL's application_name; default app-<pid>. */
  INSTANCE_ID: opt(z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1-64 letters, digits, _ . or -').optional()),
  /** Prefix of every Redis key, so deployments (or test runs) can share one Redis. */
  REDIS_PREFIX: opt(z.string().min(1).max(64).default('tandem:')),
  LOG_LEVEL: opt(z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info')),
  /** Grafana Loki base URL; when set, the app's logs (and browsers' reports) are also shipped there, like collab-server's. */
  LOKI_URL: opt(z.string().url().optional()),
  /** How often batched log lines are pushed to Loki, and how long one push may take. */
  LOKI_BATCH_INTERVAL_MS: int(1000, 50, 60_000),
  LOKI_TIMEOUT_MS: int(5000, 100, 60_000),
  /** Bearer token Prometheus sends to scrape /metrics (`authorization: {credentials: …}`); unset = only METRICS_ALLOWED_NETWORKS may scrape. */
  METRICS_TOKEN: opt(z.string().min(16, 'must be at least 16 characters').max(500).optional()),
  /** Client networks that may read /metrics without the token (`loopback`, IPs, CIDRs, comma-separated; empty or `none` = token only). The client is the address TRUSTED_PROXIES resolves, not the proxy. */
  METRICS_ALLOWED_NETWORKS: z.string().max(2000).default('loopback'),
  /** Browser reports (reconnects, close codes, sync failures, client errors) accepted per signed-in user per minute; more are counted and dropped. */
  CLIENT_LOG_RATE_PER_MINUTE: int(60, 0, 100_000),
  /** Version history: a full keyframe every this many versions (the same as collab-server's). */
  VERSION_KEYFRAME_EVERY: int(20, 1, 1000),
  /** How long a restore done in the editor may take to reach the store before POST …/restore gives up (409). */
  VERSION_RESTORE_WAIT_MS: int(5000, 0, 60_000),
  /** Largest image a user may paste or drop into a document (bytes); larger ones are refused with a message. */
  IMAGE_MAX_BYTES: int(5 * 1024 * 1024, 1024, 50 * 1024 * 1024),
});

export type AppConfig = z.infer<typeof AppConfigSchema>;

/** Parse `env` into a config, naming the variable at fault on error. */
export function parseAppConfig(env: Record<string, string | undefined>): AppConfig {
  const r = AppConfigSchema.safeParse(env);
  if (!r.success) {
    throw new Error(`invalid configuration: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  return r.data;
}
