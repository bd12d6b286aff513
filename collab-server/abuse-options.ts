/**
 * The abuse and overload options of a collab-server, from its parsed config: one mapping, used by
 * main.ts and by the tests that must run "exactly as main.ts configures it".
 */
import type { CollabConfig } from '../lib/config';
import { parseTrustedProxies } from '../lib/client-address';

export function abuseOptions(cfg: CollabConfig) {
  return {
    limits: {
      messagesPerSec: cfg.MESSAGE_RATE_PER_SEC,
      messageBurst: cfg.MESSAGE_BURST,
      connectionsPerUser: cfg.MAX_CONNECTIONS_PER_USER,
      connectionsPerIp: cfg.MAX_CONNECTIONS_PER_IP,
    },
    inbound: {
      bytesPerSec: cfg.INBOUND_BYTES_PER_SEC,
      bytesBurst: cfg.INBOUND_BYTES_BURST,
      userMessagesPerSec: cfg.USER_MESSAGE_RATE_PER_SEC,
      userMessageBurst: cfg.USER_MESSAGE_BURST,
      userBytesPerSec: cfg.USER_BYTES_PER_SEC,
      userBytesBurst: cfg.USER_BYTES_BURST,
      awarenessPerSec: cfg.AWARENESS_RATE_PER_SEC,
      awarenessBurst: cfg.AWARENESS_BURST,
      closeAfterMs: cfg.THROTTLE_CLOSE_AFTER_MS,
      anomalyFactor: cfg.ANOMALY_FACTOR,
      anomalyMinMessagesPerSec: cfg.ANOMALY_MIN_MESSAGES_PER_SEC,
      anomalyMinBytesPerSec: cfg.ANOMALY_MIN_BYTES_PER_SEC,
    },
    maxDocsPerUser: cfg.MAX_DOCS_PER_USER,
    trustedProxy: parseTrustedProxies(cfg.TRUSTED_PROXIES),
  };
}
