/**
 * Merges the Yjs updates of a large paste off the main thread (large-paste.ts): Y.mergeUpdates over
 * 5 MB took 170–230 ms, the page's longest task after batching.
 */
import * as Y from 'yjs';

const scope = self as unknown as { onmessage: ((e: MessageEvent<Uint8Array[]>) => void) | null; postMessage(m: unknown, transfer: Transferable[]): void };
scope.onmessage = (e) => {
  const merged = Y.mergeUpdates(e.data);
  scope.postMessage(merged, [merged.buffer]);
};
