/**
 * collab-server entry point: parse the configuration once, build every dependency, listen, and
 * stop gracefully on SIGTERM/SIGINT (exit 0 within SHUTDOWN_TIMEOUT_MS).
 */
import { join, resolve } from 'node:path';
import { createRemoteJWKSet } from 'jose';
import { Redis } from 'ioredis';
import { allowedOriginsFor, parseCollabConfig } from '../lib/config';
import { createScrapeAccess } from '../observability/scrape-access';
import { CloseCode } from '../lib/close-codes';
import { createLogger } from '../observability/logger';
import { createLokiShipper } from '../observability/loki';
import { startTracing } from '../observability/tracing';
import { createCollabMetrics } from '../observability/metrics';
import { openStores } from './persistence/open-stores';
import { createRedisBus } from './cluster/redis-bus';
import { createDocSync } from './cluster/doc-sync';
import { createInstanceRegistry } from './cluster/instances';
import { createRedisConnectionLimits } from './limits';
import { abuseOptions } from './abuse-options';
import { createAnonymousAuthenticator, createTokenAuthenticator, type Authenticator } from './auth';
import { createTokenKeys, type TokenKeys } from './token-keys';
import { createCollabServer, type CollabServer } from './server';
import { createVersionCapture } from './versions';

async function main(): Promise<void> {
  const cfg = parseCollabConfig(process.env);
  const instance = cfg.INSTANCE_ID || `collab-${process.pid}`;
  const metrics = createCollabMetrics();
  // Telemetry switches: OTEL_ENABLED (tracing; off loads no SDK) and LOKI_URL (log shipping).
  const loki = cfg.LOKI_URL
    ? createLokiShipper({ url: cfg.LOKI_URL, service: 'collab-server', instance, intervalMs: cfg.LOKI_BATCH_INTERVAL_MS, timeoutMs: cfg.LOKI_TIMEOUT_MS, onDropped: (n) => metrics.logLinesDropped.inc(n) })
    : undefined;
  const log = createLogger({ service: 'collab-server', instance, level: cfg.LOG_LEVEL, streams: loki ? [loki.stream] : undefined });
  const tracing = await startTracing({ enabled: cfg.OTEL_ENABLED, serviceName: 'collab-server', instance, contextManager: 'sync' });
  const dataDir = resolve(cfg.DATA_DIR);
  const { engine, store, acl, audit, versions, close: closeStores } = await openStores(cfg, dataDir, instance, metrics, log);
  const HOUR = 3_600_000;
  const versionCapture = createVersionCapture({
    versions,
    store,
    metrics,
    log,
    quietMs: cfg.VERSION_QUIET_MS,
    maxIntervalMs: cfg.VERSION_MAX_INTERVAL_MS,
    keyframeEvery: cfg.VERSION_KEYFRAME_EVERY,
    retention: { keepAllMs: cfg.VERSION_KEEP_ALL_HOURS * HOUR, keepHourlyMs: cfg.VERSION_KEEP_HOURLY_HOURS * HOUR, keepDailyMs: cfg.VERSION_KEEP_DAILY_DAYS * 24 * HOUR },
    sweepMs: cfg.VERSION_SWEEP_MS,
  });
  // Scaled out: Redis carries updates and presence between instances, the shared log fills in for
  // whatever it drops. PostgreSQL without Redis still works: the log poll alone carries them.
  const bus = cfg.REDIS_URL ? createRedisBus({ url: cfg.REDIS_URL, prefix: cfg.REDIS_PREFIX, instanceId: instance, metrics, log }) : undefined;
  const sync = engine === 'postgres' ? createDocSync({ store, bus, metrics, log, pollMs: cfg.CLUSTER_POLL_MS, degradedPollMs: cfg.CLUSTER_DEGRADED_POLL_MS }) : undefined;
  if (bus && engine !== 'postgres') log.warn('REDIS_URL is set without DATABASE_URL: Redis is used only with PostgreSQL (one SQLite file serves one collab-server)');
  // Scaled out: this instance in Redis's instance registry (admin console fan-out, liveness) and
  // per-user / per-IP socket counts shared by all instances. Commands fail fast while Redis is away.
  const redis = cfg.REDIS_URL ? new Redis(cfg.REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectionName: `${instance}:state` }) : undefined;
  redis?.on('error', (err: Error) => log.debug({ err: err.message }, 'redis connection error (instance registry, limits)'));
  const instances = redis && createInstanceRegistry({ redis, prefix: cfg.REDIS_PREFIX, instanceId: instance, heartbeatMs: cfg.CLUSTER_HEARTBEAT_MS, ttlMs: cfg.CLUSTER_INSTANCE_TTL_MS, metrics, log });
  const connectionLimits =
    redis && instances
      ? createRedisConnectionLimits({
          redis,
          prefix: cfg.REDIS_PREFIX,
          instanceId: instance,
          liveKey: instances.liveKey,
          connectionsPerUser: cfg.MAX_CONNECTIONS_PER_USER,
          connectionsPerIp: cfg.MAX_CONNECTIONS_PER_IP,
          resyncMs: cfg.CLUSTER_HEARTBEAT_MS,
          keyTtlMs: 3 * cfg.CLUSTER_INSTANCE_TTL_MS,
          // A socket's authorization waits at most this long for Redis before counting locally.
          timeoutMs: 500,
          metrics,
          log,
        })
      : undefined;
  let auth: Authenticator | undefined;
  let tokenKeys: TokenKeys | undefined;
  let server: CollabServer | undefined;
  if (cfg.ALLOW_ANONYMOUS) {
    log.warn('ALLOW_ANONYMOUS is on: every socket may edit every document (development only)');
    auth = createAnonymousAuthenticator();
  } else if (cfg.COLLAB_JWKS_URL) {
    auth = createTokenAuthenticator(createRemoteJWKSet(new URL(cfg.COLLAB_JWKS_URL)), acl);
  } else {
    // The key ring (lib/key-ring.ts): several verification keys by kid, re-read when the directory
    // changes (rotation without a restart); a revoked key's sockets are closed at once (4401), and
    // clients reconnect with a fresh token. PEMs in COLLAB_TOKEN_PUBLIC_KEY (one or more) verify too.
    const keysDir = cfg.COLLAB_TOKEN_KEYS_DIR ?? (cfg.COLLAB_TOKEN_PUBLIC_KEY ? undefined : join(dataDir, 'keys'));
    // Never create keys here: collab-server must only ever hold public keys (issue 11). The app
    // creates the pair before it signs its first token; the key ring's re-read picks it up.
    tokenKeys = createTokenKeys({
      dir: keysDir,
      publicPem: cfg.COLLAB_TOKEN_PUBLIC_KEY,
      onRevoked: (kids) => {
        let closed = 0;
        for (const conn of server?.connections ?? []) {
          const kid = auth?.keyOf?.(conn.identity);
          if (kid && kids.has(kid)) {
            conn.close(CloseCode.UNAUTHORIZED, 'token signing key revoked');
            closed++;
          }
        }
        log.warn({ kids: [...kids], closed }, 'token signing key revoked: its sockets are closed and must reconnect with a new token');
      },
      onError: (err) => log.warn({ err }, 'key ring: reading the keys directory failed; keeping the last keys'),
    });
    auth = createTokenAuthenticator(tokenKeys.getKey, acl);
  }

  server = createCollabServer({
    tracer: tracing.tracer,
    store,
    sync,
    versions: versionCapture,
    acl,
    auth,
    metrics,
    log,
    maxMessageBytes: cfg.MAX_MESSAGE_BYTES,
    chunks: { chunkBytes: cfg.CHUNK_BYTES, maxTotalBytes: cfg.CHUNKED_MESSAGE_MAX_BYTES, idleTimeoutMs: cfg.CHUNK_IDLE_TIMEOUT_MS },
    docMaxBytes: cfg.DOC_MAX_BYTES,
    sendBufferCap: cfg.SEND_BUFFER_CAP_BYTES,
    sendStallMs: cfg.SEND_STALL_MS,
    identityRecheckMs: cfg.IDENTITY_RECHECK_MS,
    refusalAuditIntervalMs: cfg.REFUSAL_AUDIT_INTERVAL_MS,
    keepaliveMs: cfg.KEEPALIVE_MS,
    sse: cfg.SSE_ENABLED ? { replayBytes: cfg.SSE_REPLAY_BYTES, resumeMs: cfg.SSE_RESUME_MS } : undefined,
    websocketUpgrades: () => cfg.WEBSOCKET_UPGRADES,
    compactAfterUpdates: cfg.COMPACT_AFTER_UPDATES,
    compactIdleMs: cfg.COMPACT_IDLE_MS,
    shutdownTimeoutMs: cfg.SHUTDOWN_TIMEOUT_MS,
    allowedOrigins: allowedOriginsFor(cfg) ?? [],
    metricsAccess: createScrapeAccess({ token: cfg.METRICS_TOKEN, allowedNetworks: cfg.METRICS_ALLOWED_NETWORKS }),
    preauth: { maxFrames: cfg.PREAUTH_MAX_FRAMES, maxBytes: cfg.PREAUTH_MAX_BYTES, timeoutMs: cfg.PREAUTH_TIMEOUT_MS },
    ...abuseOptions(cfg),
    shedding: { eventLoopLagMs: cfg.SHED_EVENT_LOOP_LAG_MS, memoryBudgetBytes: cfg.MEMORY_BUDGET_BYTES, recoverMs: cfg.SHED_RECOVER_MS, retryAfterSec: cfg.SHED_RETRY_AFTER_SEC },
    backgroundMissedPongs: cfg.KEEPALIVE_BACKGROUND_MISSED_PONGS,
    connectionLimits,
    instanceId: redis ? instance : undefined,
    onRefusedWrite: (who, reason, count) => {
      try {
        audit.record({ actorId: who.userId || null, action: 'write.refused', docId: who.docId, detail: { reason, count } });
      } catch (err) {
        metrics.errors.inc({ where: 'audit' });
        log.error({ err, doc: who.docId }, 'audit write failed');
      }
    },
  });
  const port = await server.listen(cfg.COLLAB_PORT, cfg.COLLAB_HOST);
  log.info({ port, host: cfg.COLLAB_HOST, dataDir }, 'collab-server listening');
  const advertiseHost = cfg.COLLAB_HOST === '0.0.0.0' || cfg.COLLAB_HOST === '::' ? '127.0.0.1' : cfg.COLLAB_HOST;
  await instances?.advertise(cfg.COLLAB_ADVERTISE_URL ?? `http://${advertiseHost.includes(':') ? `[${advertiseHost}]` : advertiseHost}:${port}`);
  // Machine-readable line for supervisors and tests that start us on port 0.
  process.stdout.write(`${JSON.stringify({ msg: 'collab-server ready', port })}\n`);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    await server!.close();
    tokenKeys?.close();
    versionCapture.close();
    await connectionLimits?.close();
    await instances?.close();
    redis?.disconnect();
    await tracing.shutdown();
    await bus?.close();
    await store.close();
    await closeStores();
    log.info('stopped');
    log.flush?.();
    await loki?.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
