/**
 * Every span name and span attribute key Tandem emits, in one file. Where OpenTelemetry semantic
 * conventions define a name (client.address, url.path, messaging.*, db.*, user.id, error.type)
 * we use it; Tandem-specific ones live under `tandem.*`. Grafana's trace search and the
 * per-document dashboard query these exact strings.
 */

export const SpanName = {
  /** An HTTP → WebSocket upgrade and its authentication/authorization. */
  WS_UPGRADE: 'ws.upgrade',
  /** One inbound WebSocket frame (child of the browser's edit span when it sent trace context). */
  MESSAGE: 'collab.message',
  /** The per-update ACL check. */
  AUTHZ: 'collab.authz',
  /** The group-committed update-log append that made this update durable. */
  APPEND: 'update_log.append',
  /** Applying the update to the live Y.Doc. */
  APPLY: 'collab.apply',
  /** Handing the encoded update to the document's other sockets. */
  BROADCAST: 'collab.broadcast',
  DOC_LOAD: 'doc.load',
  DOC_COMPACT: 'doc.compact',
  ACL_CHANGE: 'acl.change',
  /** Browser: one local edit sent to the server. */
  BROWSER_EDIT: 'editor.edit',
  /** Browser: a remote edit applied and rendered (child of the server's broadcast span). */
  BROWSER_RENDER: 'editor.render',
} as const;

export const Attr = {
  // --- semantic conventions ---
  /** semconv: the peer's address. */
  CLIENT_ADDRESS: 'client.address',
  URL_PATH: 'url.path',
  /** semconv (registry): the authenticated user. Traces only, never a metric label. */
  USER_ID: 'user.id',
  /** semconv: low-cardinality class of error that ended the operation. */
  ERROR_TYPE: 'error.type',
  HTTP_STATUS: 'http.response.status_code',
  /** semconv messaging: size of one message body in bytes. */
  MESSAGE_BYTES: 'messaging.message.body.size',
  /** semconv messaging: how many messages one batch carried (group commit). */
  BATCH_SIZE: 'messaging.batch.message_count',
  /** semconv database. */
  DB_SYSTEM: 'db.system.name',
  DB_OPERATION: 'db.operation.name',
  DB_BATCH_SIZE: 'db.operation.batch.size',

  // --- Tandem ---
  DOC_ID: 'tandem.doc.id',
  CONNECTION_ID: 'tandem.connection.id',
  /** Frame kind: sync-step1, sync-step2, update, awareness, … (lib/protocol FrameKind). */
  MESSAGE_TYPE: 'tandem.message.type',
  /** allow | deny. */
  AUTHZ_DECISION: 'tandem.authz.decision',
  /** Why: the role that allowed it, or the refusal reason. */
  AUTHZ_REASON: 'tandem.authz.reason',
  ROLE: 'tandem.role',
  /** Named close code (lib/close-codes) a refusal or close used. */
  CLOSE_CODE: 'tandem.close_code',
  /** Sockets one broadcast was written to. */
  FANOUT_COUNT: 'tandem.fanout.recipients',
  /** Bytes written per recipient by one broadcast. */
  FANOUT_BYTES: 'tandem.fanout.bytes',
  /** Total bytes written by one broadcast (recipients × frame size). */
  FANOUT_TOTAL_BYTES: 'tandem.fanout.total_bytes',
  /** Admission result for writes that passed authz but failed a pre-check (clock-gap, …). */
  ADMIT_RESULT: 'tandem.admit.result',
  UPDATES: 'tandem.doc.updates',
  SNAPSHOT_BYTES: 'tandem.doc.snapshot_bytes',
  ACL_VERSION: 'tandem.acl.version',
  CONNECTIONS: 'tandem.doc.connections',
  CONNECTIONS_CLOSED: 'tandem.acl.connections_closed',
  DOC_FOUND: 'tandem.doc.found',
  /** Browser: an editor.edit span for edits made while disconnected, sent as sync step 2 on reconnect. */
  EDIT_OFFLINE: 'tandem.edit.offline',
  /** Local updates made while disconnected that this reconnect's sync step 2 carries. */
  EDIT_OFFLINE_UPDATES: 'tandem.edit.offline_updates',
  INSTANCE: 'service.instance.id',
} as const;

/** Exemplar label carrying the trace id on histogram buckets (Grafana: exemplarTraceIdDestinations). */
export const EXEMPLAR_TRACE_ID = 'trace_id';
