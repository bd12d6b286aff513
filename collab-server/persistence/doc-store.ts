/** Where documents live. Every adapter passes tests/contract/doc-store.test.ts. */

export interface StoredDoc {
  /** The folded state up to the snapshot's sequence, or null if never compacted. */
  snapshot: Uint8Array | null;
  /** Updates after the snapshot, in log order. */
  updates: Uint8Array[];
  /** Highest sequence number stored (snapshot or update): everything up to it is in this value. */
  lastSeq: number;
  /** Yjs client id → the user who first wrote under it (ownership outlives sockets and unloads). */
  clientIds: Map<number, string>;
}

/** What a lagging instance reads to catch up: the log after a sequence number. */
export interface LogRange {
  /** Present when compaction folded away part of the requested range: covers seq ≤ uptoSeq. */
  snapshot: { data: Uint8Array; uptoSeq: number } | null;
  /** Updates after max(afterSeq, snapshot.uptoSeq), in log order. */
  updates: { seq: number; data: Uint8Array }[];
}

export interface DocStore {
  /** Snapshot plus every later update, read consistently. A document never written loads empty. */
  load(docId: string): Promise<StoredDoc>;
  /**
   * Append updates in one transaction. The store takes the sequence numbers (the document's log
   * head advances in the same transaction), so the log has one order per document however many
   * collab-servers append to it. `clientIds` records first writers of new Yjs client ids.
   * Resolves with the first sequence number only once durable: callers apply and broadcast after.
   */
  append(docId: string, updates: readonly Uint8Array[], clientIds?: ReadonlyMap<number, string>): Promise<number>;
  /** The log after `afterSeq` (see LogRange), read consistently with concurrent compaction. */
  readSince(docId: string, afterSeq: number): Promise<LogRange>;
  /** The log head (last sequence number) of each document that has one. */
  heads(docIds: readonly string[]): Promise<Map<string, number>>;
  /**
   * Replace the snapshot with `snapshot` (covering seq ≤ uptoSeq) and drop those updates, never
   * moving the snapshot backwards. One writer per document: false when another compactor holds
   * the document's lease (nothing changed). `text`, when given, replaces the document's plain-text
   * extract in doc_text (what the app's list searches) in the same transaction.
   */
  compact(docId: string, snapshot: Uint8Array, uptoSeq: number, text?: string): Promise<boolean>;
  /** Remove everything stored for a deleted document (idempotent). */
  delete(docId: string): Promise<void>;
  /** A named, monotonic position kept by collab-server (e.g. how far deletions were purged). */
  getCursor(name: string): Promise<number>;
  setCursor(name: string, value: number): Promise<void>;
  /** Resolves when the store can serve requests (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
