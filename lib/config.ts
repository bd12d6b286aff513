/**
 * Configuration schemas. Parsed once at process start (collab-server/main.ts, the app's server
 * bootstrap) from the environment; every option has a default that runs on one machine.
 * The README's configuration table lists the same names.
 */
import { z } from 'zod';

const int = (def: number) => z.coerce.number().int().nonnegative().default(def);
const bool = (def: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no', ''])
    .default(def ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes');
const list = z
  .string()
  .default('')
  .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean));

export const CollabConfigSchema = z.object({
  /** Listen address. Loopback by default (`npm start` serves this machine's browser); 0.0.0.0 behind a proxy on another host or in a container. */
  COLLAB_HOST: z.string().default('127.0.0.1'),
  COLLAB_PORT: int(1234),
  /** Directory for the SQLite database and generated keys. */
  DATA_DIR: z.string().default('./data'),
  /** Largest inbound WebSocket message (frame); bigger ones close with 4413 (permanent). Tandem's client chunks anything larger. */
  MAX_MESSAGE_BYTES: int(1024 * 1024),
  /** Chunk size of the CHUNK extension, both directions (at most MAX_MESSAGE_BYTES minus a few bytes of framing). */
  CHUNK_BYTES: int(256 * 1024),
  /** Largest message a client may send in chunks (declared total); more closes with 4413. */
  CHUNKED_MESSAGE_MAX_BYTES: int(64 * 1024 * 1024),
  /** A chunked message with no chunk for this long is dropped, its buffer freed, the socket closed 4508. */
  CHUNK_IDLE_TIMEOUT_MS: int(15_000),
  /** Largest encoded document state; a write that would take a document past it is refused (permission-denied, audited). */
  DOC_MAX_BYTES: int(64 * 1024 * 1024),
  /** Unsent bytes a socket may queue before it is closed with 1013 (it resyncs on reconnect). */
  SEND_BUFFER_CAP_BYTES: int(8 * 1024 * 1024),
  /** A socket that has not taken any of its unsent bytes for this long is closed with 1013 (it never reads). */
  SEND_STALL_MS: int(30_000),
  /** How often the users of open sockets are re-checked (deleted, signed out since their token, admin status changed). */
  IDENTITY_RECHECK_MS: int(10_000),
  /** Refused writes are logged and audited at most once per (user, document) per this interval, with a count. */
  REFUSAL_AUDIT_INTERVAL_MS: int(60_000),
  /** Serve the Server-Sent Events + HTTP POST fallback transport (GET/POST <prefix>/sse/<docId>) for networks that break WebSockets. */
  SSE_ENABLED: bool(true),
  /** Answer WebSocket upgrades (false = 503 to every upgrade, so clients use SSE; for testing the fallback and for proxies that mangle upgrades). */
  WEBSOCKET_UPGRADES: bool(true),
  /** Bytes of sent events each SSE stream keeps so a dropped stream resumes with Last-Event-ID without a gap; older = resync. */
  SSE_REPLAY_BYTES: int(1024 * 1024),
  /** A dropped SSE stream may resume for this long; then its connection closes (the client resyncs on its next stream). */
  SSE_RESUME_MS: int(15_000),
  /** Ping interval; a socket that misses a pong by the next ping is terminated. */
  KEEPALIVE_MS: int(30_000),
  /** Compact a document's update log into a snapshot after this many updates... */
  COMPACT_AFTER_UPDATES: int(500),
  /** ...or after this long without an update. */
  COMPACT_IDLE_MS: int(10_000),
  /** How long SIGTERM waits for in-flight work before exiting anyway. */
  SHUTDOWN_TIMEOUT_MS: int(10_000),
  /** SQLite `synchronous` in WAL mode: NORMAL survives process crashes; FULL also power loss. */
  SQLITE_SYNCHRONOUS: z.enum(['NORMAL', 'FULL']).default('NORMAL'),
  /** postgres://… to keep the update log and snapshots in PostgreSQL instead of SQLite. */
  DATABASE_URL: z.string().optional(),
  /** Schema for Tandem's tables in that database (one per deployment; tests use one per run). */
  DATABASE_SCHEMA: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/).default('tandem'),
  /** PostgreSQL connections per collab-server instance (one pool shared by the log, ACLs and audit). */
  DATABASE_POOL_SIZE: int(10),
  /** redis://… for fan-out between collab-server instances (with DATABASE_URL); unset = no Redis. */
  REDIS_URL: z.string().optional(),
  /** Prefix of every Redis key and channel (one per deployment; tests use one per run). */
  REDIS_PREFIX: z.string().default('tandem:'),
  /** Scaled out: how often loaded documents' log heads are compared with what this instance applied ("heard nothing for a while"). */
  CLUSTER_POLL_MS: int(2000),
  /** The same while Redis is down or not configured: the log then carries updates between instances. */
  CLUSTER_DEGRADED_POLL_MS: int(250),
  /** Scaled out: base URL other processes reach this instance's HTTP port at (admin API); default http://<COLLAB_HOST or 127.0.0.1>:<port>. */
  COLLAB_ADVERTISE_URL: z.string().url().optional(),
  /** Scaled out: how often this instance renews its entry in Redis's instance registry (and rewrites its socket counts). */
  CLUSTER_HEARTBEAT_MS: int(2000),
  /** Scaled out: an instance silent this long counts as dead: its sockets stop counting toward limits, it leaves the admin console. */
  CLUSTER_INSTANCE_TTL_MS: int(10_000),
  /**
   * Comma-separated browser Origins allowed to open sockets (`*` = any). Unset: the app's own origin,
   * from APP_PUBLIC_URL, else http://localhost:PORT and http://127.0.0.1:PORT (what `npm start` serves).
   * Clients that send no Origin (Node, native apps) are not browsers: the token alone decides.
   */
  ALLOWED_ORIGINS: list,
  /** The app's public base URL (shared with the app): its origin is the default of ALLOWED_ORIGINS. */
  APP_PUBLIC_URL: z.string().url().optional(),
  /** The app's port (shared with the app under `npm start`), for the default of ALLOWED_ORIGINS. */
  PORT: z.coerce.number().int().min(1).max(65_535).default(3000),
  /** Bearer token Prometheus sends to scrape /metrics; unset = only METRICS_ALLOWED_NETWORKS may scrape. */
  METRICS_TOKEN: z.string().min(16).max(500).optional(),
  /** Client networks that may read /metrics without the token (`loopback`, IPs, CIDRs; empty = none). */
  METRICS_ALLOWED_NETWORKS: z.string().max(2000).default('loopback'),
  /** PEM public key for collab tokens; default: <DATA_DIR>/keys/collab-token.pub (created by the app or on first start). */
  COLLAB_TOKEN_PUBLIC_KEY: z.string().optional(),
  /** The token key ring directory (rotation, revocation; lib/key-ring.ts); default <DATA_DIR>/keys, read only alongside COLLAB_TOKEN_PUBLIC_KEY when set explicitly. Re-read when it changes. */
  COLLAB_TOKEN_KEYS_DIR: z.string().optional(),
  /** Fetch verification keys from the app's JWKS instead (for separate machines). */
  COLLAB_JWKS_URL: z.string().url().optional(),
  /** Frames a socket may send before its token is verified (bounded in count, bytes and time). */
  PREAUTH_MAX_FRAMES: int(64),
  PREAUTH_MAX_BYTES: int(2 * 1024 * 1024),
  PREAUTH_TIMEOUT_MS: int(10_000),
  /** Sustained inbound messages per second per connection (token bucket; 0 = no limit); beyond it the connection is slowed, then closed 4429. */
  MESSAGE_RATE_PER_SEC: int(200),
  /** Burst size of that bucket (a reconnect's sync handshake or a burst of typing arrives at once). */
  MESSAGE_BURST: int(2000),
  /** Sustained inbound bytes per second per connection, and its burst (one large paste fits the burst). */
  INBOUND_BYTES_PER_SEC: int(4 * 1024 * 1024),
  INBOUND_BYTES_BURST: int(64 * 1024 * 1024),
  /** The same budgets per user, over all of the user's sockets on one instance. */
  USER_MESSAGE_RATE_PER_SEC: int(600),
  USER_MESSAGE_BURST: int(6000),
  USER_BYTES_PER_SEC: int(8 * 1024 * 1024),
  USER_BYTES_BURST: int(128 * 1024 * 1024),
  /** Presence (awareness) updates per second per connection, and burst; beyond it they are dropped (the next carries the latest state). */
  AWARENESS_RATE_PER_SEC: int(30),
  AWARENESS_BURST: int(120),
  /** A connection still slowed (over a budget or anomalous) after this long is closed 4429. */
  THROTTLE_CLOSE_AFTER_MS: int(5000),
  /** Anomaly throttling: a connection sending more than this many times its own recent per-second baseline is slowed (0 = off)... */
  ANOMALY_FACTOR: int(10),
  /** ...but never below these per-second ceilings (an idle connection may start typing or paste). */
  ANOMALY_MIN_MESSAGES_PER_SEC: int(100),
  ANOMALY_MIN_BYTES_PER_SEC: int(8 * 1024 * 1024),
  /** Concurrent sockets per user (0 = no limit), counted cluster-wide with Redis; beyond it the socket is closed 4429 with the reason. */
  MAX_CONNECTIONS_PER_USER: int(100),
  /** Concurrent sockets per client address (0 = no limit), cluster-wide with Redis; beyond it HTTP 429 before the upgrade. The address is X-Forwarded-For's only from TRUSTED_PROXIES. */
  MAX_CONNECTIONS_PER_IP: int(1000),
  /** Documents one user may have open at once on one instance (0 = no limit); beyond it 4429. */
  MAX_DOCS_PER_USER: int(50),
  /** Peers whose X-Forwarded-For names the client (comma-separated IPs/CIDRs, `loopback`; empty = none). Shared with the app. */
  TRUSTED_PROXIES: z.string().default('loopback'),
  /** Load shedding: event-loop delay (p99 of two 500 ms samples in a row) past which new sockets get HTTP 503 + Retry-After and /readyz 503 (0 = off). */
  SHED_EVENT_LOOP_LAG_MS: int(200),
  /** Memory budget (resident set, bytes): shed past 90 % of it. 0 = 85 % of V8's heap limit, on heap used. */
  MEMORY_BUDGET_BYTES: int(0),
  /** Shedding ends after this long below every threshold. */
  SHED_RECOVER_MS: int(2000),
  /** Retry-After (seconds) sent with a shed 503. */
  SHED_RETRY_AFTER_SEC: int(5),
  /** A socket whose tab said it went to the background may miss this many pings (KEEPALIVE_MS apart) before it is dropped. */
  KEEPALIVE_BACKGROUND_MISSED_PONGS: int(5),
  /** How often the ACL change feed is polled (SQLite); bounds how fast a revocation takes effect. */
  ACL_POLL_MS: int(200),
  /** Allow tokenless connections (development only: every connection is an anonymous editor). */
  ALLOW_ANONYMOUS: bool(false),
  LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  /** Grafana Loki base URL; when set, logs are also shipped there (batched, off the hot path). */
  LOKI_URL: z.string().url().optional(),
  /** How often batched log lines are pushed to Loki, and how long one push may take. */
  LOKI_BATCH_INTERVAL_MS: int(1000),
  LOKI_TIMEOUT_MS: int(5000),
  /** Turn OpenTelemetry tracing on (standard OTEL_* variables configure the exporter). */
  OTEL_ENABLED: bool(false),
  INSTANCE_ID: z.string().default(''),
  /** Version history: a changed document quiet this long gets an automatic version... */
  VERSION_QUIET_MS: int(120_000),
  /** ...and at least one this often while it keeps changing. */
  VERSION_MAX_INTERVAL_MS: int(600_000),
  /** A full keyframe every this many versions (the rest are diffs), bounding a rebuild's reads. */
  VERSION_KEYFRAME_EVERY: z.coerce.number().int().min(1).max(1000).default(20),
  /** Retention: every version younger than this many hours is kept... */
  VERSION_KEEP_ALL_HOURS: int(7 * 24),
  /** ...then the newest of each hour up to this age (hours)... */
  VERSION_KEEP_HOURLY_HOURS: int(30 * 24),
  /** ...then the newest of each day, up to this age in days (0 = forever). Named versions are always kept. */
  VERSION_KEEP_DAILY_DAYS: int(0),
  /** How often versions a timer could not take (unload, restart) are taken from the store, and retention runs; 0 = never. */
  VERSION_SWEEP_MS: int(60_000),
});

export type CollabConfig = z.infer<typeof CollabConfigSchema>;

/** The Origins collab-server admits (see ALLOWED_ORIGINS); null = any. */
export function allowedOriginsFor(cfg: Pick<CollabConfig, 'ALLOWED_ORIGINS' | 'APP_PUBLIC_URL' | 'PORT'>): string[] | null {
  if (cfg.ALLOWED_ORIGINS.includes('*')) return null;
  if (cfg.ALLOWED_ORIGINS.length) return cfg.ALLOWED_ORIGINS;
  if (cfg.APP_PUBLIC_URL) return [new URL(cfg.APP_PUBLIC_URL).origin];
  return [`http://localhost:${cfg.PORT}`, `http://127.0.0.1:${cfg.PORT}`, `http://[::1]:${cfg.PORT}`];
}

/** Parse env into a config, naming the variable at fault on error. */
export function parseCollabConfig(env: Record<string, string | undefined>): CollabConfig {
  const r = CollabConfigSchema.safeParse(env);
  if (!r.success) {
    const msg = r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`invalid configuration: ${msg}`);
  }
  return r.data;
}
