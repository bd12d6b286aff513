/** Where documents live. Every adapter passes tests/contract/doc-store.test.ts. */

export interface StoredDoc {
  /** The folded state up to `snapshotSeq`, or null if never compacted. */
  snapshot: Uint8Array | null;
  /** Updates after the snapshot, in append order. */
  updates: Uint8Array[];
  /** Highest sequence number stored (snapshot or update); the next append continues from here. */
  lastSeq: number;
}

export interface DocStore {
  /** Snapshot plus every later update. A document never written loads empty. */
  load(docId: string): Promise<StoredDoc>;
  /**
   * Append updates with sequence numbers firstSeq, firstSeq+1, … in one transaction. Resolves only
   * once they are durable: callers apply and broadcast after this, never before.
   */
  append(docId: string, firstSeq: number, updates: readonly Uint8Array[]): Promise<void>;
  /** Atomically replace the snapshot with `snapshot` (covering seq ≤ uptoSeq) and drop those updates. */
  compact(docId: string, snapshot: Uint8Array, uptoSeq: number): Promise<void>;
  /** Remove everything stored for a deleted document. */
  delete(docId: string): Promise<void>;
  /** Resolves when the store can serve requests (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
