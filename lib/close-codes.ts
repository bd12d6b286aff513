/**
 * WebSocket close codes Tandem uses, by name. 4400–4499 are permanent: the stock y-websocket
 * client stops reconnecting on them, so they are reserved for "retrying will not help".
 */
export const CloseCode = {
  /** Normal closure (client or server finished). */
  NORMAL: 1000,
  /** The server is going away without restarting soon. */
  GOING_AWAY: 1001,
  /** ws itself uses this for malformed frames (bad RSV bits, bad opcode, unmasked frame). */
  PROTOCOL_ERROR: 1002,
  /** A message of a type Tandem does not speak (a text frame, an unknown message type). */
  UNSUPPORTED_DATA: 1003,
  /** Bytes that cannot be decoded: truncated varint, a Yjs update that does not parse. */
  INVALID_PAYLOAD: 1007,
  /** Policy violation: bad Origin, abuse. */
  POLICY_VIOLATION: 1008,
  /** An inbound message over the configured maximum size. */
  MESSAGE_TOO_BIG: 1009,
  /** Something failed on the server (e.g. the store refused an append); reconnecting resyncs. */
  INTERNAL_ERROR: 1011,
  /** The server is restarting (graceful shutdown); reconnect. */
  SERVICE_RESTART: 1012,
  /** Overloaded or too slow to keep up (send buffer over its cap); reconnect and resync. */
  TRY_AGAIN_LATER: 1013,
  /** Token missing, invalid or expired (permanent unless the client gets a new token). */
  UNAUTHORIZED: 4401,
  /** No access to this document, or access revoked (permanent). */
  FORBIDDEN: 4403,
  /**
   * A chunked message broke the CHUNK extension's rules (interleaved, out of order, past its
   * declared total, empty). Permanent: the same client would do the same again.
   */
  BAD_CHUNKS: 4400,
  /**
   * A message over the limit: an unchunked one over MAX_MESSAGE_BYTES, or a chunked one declaring
   * more than CHUNKED_MESSAGE_MAX_BYTES. Permanent, so a stock client that cannot chunk stops
   * instead of re-sending the same oversize sync step 2 on every reconnect; its edits stay local.
   */
  MESSAGE_TOO_LARGE: 4413,
  /** Rate limited. */
  RATE_LIMITED: 4429,
  /**
   * The server cannot reach its store (PostgreSQL): nothing of the client's was accepted or shown
   * to anyone. Mirrors HTTP 503, outside 4400–4499, so clients keep their edits and retry; the
   * editor says saving is paused.
   */
  STORAGE_UNAVAILABLE: 4503,
  /**
   * A chunked message stalled: no chunk for CHUNK_IDLE_TIMEOUT_MS before its declared total
   * arrived. Its buffer is freed. Not permanent (a slow network is not the client's fault): the
   * client reconnects and the sync handshake sends the edit again.
   */
  CHUNK_TIMEOUT: 4508,
} as const;

export type CloseCodeName = keyof typeof CloseCode;
export type CloseCodeValue = (typeof CloseCode)[CloseCodeName];

const byValue = new Map<number, CloseCodeName>(
  Object.entries(CloseCode).map(([k, v]) => [v, k as CloseCodeName]),
);

/** Name of a close code for logs and metric labels (bounded cardinality: unknown → "OTHER"). */
export function closeCodeName(code: number): string {
  return byValue.get(code) ?? (code === 1005 ? 'NO_STATUS' : code === 1006 ? 'ABNORMAL' : 'OTHER');
}

/** True for codes after which a client must not reconnect on its own. */
export function isPermanentClose(code: number): boolean {
  return code >= 4400 && code < 4500;
}
