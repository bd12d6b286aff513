/**
 * Very large pastes (issue 10): ProseMirror handles a paste in one task — paste rules over every
 * pasted character, the DOM of every block, a forced layout, the Yjs translation — which froze the
 * page for seconds at 5 MB. Above `minSize` we take the already-parsed slice and insert its blocks
 * in time-boxed batches with a yield between them, so no task runs long. Collaborators still get
 * the paste only when it is complete: the provider's outgoing updates are held meanwhile and sent
 * merged as one update (the chunk transport then streams it with progress). It is one undo step.
 */
import { Extension } from '@tiptap/core';
import { Plugin, PluginKey, TextSelection, type EditorState, type Transaction } from '@tiptap/pm/state';
import { Fragment, Slice, type Node as PMNode } from '@tiptap/pm/model';
import { canJoin } from '@tiptap/pm/transform';
import type { EditorView } from '@tiptap/pm/view';
import { absolutePositionToRelativePosition, relativePositionToAbsolutePosition, ySyncPluginKey, yUndoPluginKey } from '@tiptap/y-tiptap';
import * as Y from 'yjs';

export interface LargePasteOptions {
  /** Pastes whose parsed slice is at least this big (ProseMirror positions ≈ characters) are batched. */
  minSize: number;
  /** Time one batch may take; the batch size adapts to it. */
  batchMs: number;
  /** Start holding the collab provider's outgoing updates; returns the release (sends them merged), or null offline. */
  holdOutgoing: () => (() => Promise<void>) | null;
}

const key = new PluginKey<boolean>('largePaste');
/** Past this many top-level blocks the editor skips layout and paint of off-screen blocks. */
const LONG_DOC_BLOCKS = 2000;

/** Anything the collab provider needs to hold and release its updates (y-websocket's WebsocketProvider). */
interface UpdateSender {
  doc: Y.Doc;
  _updateHandler: (update: Uint8Array, origin: unknown) => void;
}

/** Y.mergeUpdates in a worker (merge-updates.worker.ts); on this thread if the worker fails. */
function mergeOffThread(updates: Uint8Array[]): Promise<Uint8Array> {
  if (updates.length === 1) return Promise.resolve(updates[0]!);
  return new Promise((resolve) => {
    let worker: Worker;
    try {
      worker = new Worker(new URL('./merge-updates.worker.ts', import.meta.url), { type: 'module' });
    } catch (err) {
      console.warn('large paste: merging on the main thread', err);
      resolve(Y.mergeUpdates(updates));
      return;
    }
    worker.onmessage = (e: MessageEvent<Uint8Array>) => {
      worker.terminate();
      resolve(e.data);
    };
    worker.onerror = (e) => {
      e.preventDefault();
      worker.terminate();
      console.warn('large paste: merging on the main thread', e.message);
      resolve(Y.mergeUpdates(updates));
    };
    // Copied, not transferred: the fallback above still needs them.
    worker.postMessage(updates);
  });
}

/**
 * Stop the provider sending each local update; the returned function sends everything held since
 * as ONE merged update (merged off the main thread), then anything made meanwhile, and resumes
 * normal sending. Remote updates are not ours to send and pass.
 */
export function holdProviderUpdates(provider: unknown): () => Promise<void> {
  const p = provider as UpdateSender;
  const held: Uint8Array[] = [];
  const collect = (u: Uint8Array, origin: unknown) => {
    if (origin !== provider) held.push(u);
  };
  p.doc.off('update', p._updateHandler);
  p.doc.on('update', collect);
  let released = false;
  return async () => {
    if (released) return;
    released = true;
    const paste = held.splice(0);
    const merged = paste.length ? await mergeOffThread(paste) : null;
    p.doc.off('update', collect);
    p.doc.on('update', p._updateHandler);
    if (merged) p._updateHandler(merged, null);
    for (const u of held) p._updateHandler(u, null);
  };
}

const nextTask = () => new Promise<void>((r) => setTimeout(r, 0));

/** Batched insertion of large pastes; see the file comment. */
export const LargePaste = Extension.create<LargePasteOptions>({
  name: 'largePaste',
  // Ahead of other paste handlers: we take the paste before anything else acts on it.
  priority: 1000,
  addOptions() {
    return { minSize: 256 * 1024, batchMs: 60, holdOutgoing: () => null };
  },
  addProseMirrorPlugins() {
    const options = this.options;
    return [
      new Plugin<boolean>({
        key,
        state: {
          init: () => false,
          apply: (tr, busy) => (tr.getMeta(key) as boolean | undefined) ?? busy,
        },
        props: {
          // Read-only while the paste streams in: typing would land between its batches.
          editable: (state) => !key.getState(state),
          // Long documents render only what is near the viewport (globals.css, .tandem-long).
          attributes: (state): Record<string, string> => (key.getState(state) || state.doc.childCount > LONG_DOC_BLOCKS ? { class: 'tandem-long' } : {}),
          handleDOMEvents: {
            // Large plain text is split into paragraphs here, before ProseMirror would build (and
            // parse back) a DOM of every line in the paste's own task.
            paste(view, event) {
              const data = event.clipboardData;
              if (!data || !view.editable || key.getState(view.state) || data.types.includes('text/html') || data.files.length) return false;
              const text = data.getData('text/plain');
              if (text.length < options.minSize) return false;
              const plan = planBatches(view.state, textSlice(view.state, text));
              if (!plan) return false;
              event.preventDefault();
              void insertInBatches(view, plan, options).catch((err) => console.error('large paste failed', err));
              return true;
            },
          },
          handlePaste(view, _event, slice) {
            if (key.getState(view.state) || slice.size < options.minSize) return false;
            const plan = planBatches(view.state, slice);
            if (!plan) return false;
            void insertInBatches(view, plan, options).catch((err) => console.error('large paste failed', err));
            return true;
          },
        },
      }),
    ];
  },
});

interface Plan {
  slice: Slice;
  nodes: PMNode[];
}

/**
 * The batched path covers the common shape — a caret or selection in a top-level textblock and a
 * slice of top-level blocks (pasted text, most pasted pages); anything else takes ProseMirror's path.
 */
function planBatches(state: EditorState, slice: Slice): Plan | null {
  const { $from, $to } = state.selection;
  if ($from.depth !== 1 || $to.depth !== 1 || !$from.parent.isTextblock || $from.parent.type.spec.code) return null;
  if (slice.openStart > 1 || slice.openEnd > 1) return null;
  const nodes: PMNode[] = [];
  slice.content.forEach((n) => nodes.push(n));
  if (!state.doc.type.validContent(Fragment.from([$from.parent, ...nodes]))) return null;
  return { slice, nodes };
}

/** Plain text as ProseMirror pastes it: one paragraph per line (runs of line breaks count as one), open at both ends. */
function textSlice(state: EditorState, text: string): Slice {
  const { schema } = state;
  const marks = state.selection.$from.marks();
  const paragraphs = text.split(/(?:\r\n?|\n)+/).map((line) => schema.nodes.paragraph!.create(null, line ? schema.text(line, marks) : null));
  return new Slice(Fragment.from(paragraphs), 1, 1);
}

async function insertInBatches(view: EditorView, plan: Plan, options: LargePasteOptions): Promise<void> {
  const sync = ySyncPluginKey.getState(view.state) as { binding?: { type: Y.XmlFragment; doc: Y.Doc; mapping: Map<unknown, unknown> } } | undefined;
  const binding = sync?.binding;
  const um = (yUndoPluginKey.getState(view.state) as { undoManager?: Y.UndoManager } | undefined)?.undoManager;
  // One undo step: nothing before merges into it, every batch does.
  const captureTimeout = um?.captureTimeout;
  um?.stopCapturing();
  if (um) um.captureTimeout = Number.POSITIVE_INFINITY;
  const release = options.holdOutgoing();
  // Where the next batch goes, kept as a Yjs position so a collaborator's edit meanwhile cannot move it.
  const remember = (p: number) => (binding ? absolutePositionToRelativePosition(p, binding.type, binding.mapping as never) : null);
  const recall = (rel: Y.RelativePosition | null, fallback: number) => {
    if (!binding || !rel) return fallback;
    const abs = relativePositionToAbsolutePosition(binding.doc, binding.type, rel, binding.mapping as never);
    return abs ?? fallback;
  };
  try {
    // Split the textblock at the selection: the pasted blocks go between its halves, whole, batch by
    // batch; at the end the first and last are joined with the halves as ProseMirror's paste would.
    let tr: Transaction = view.state.tr.setMeta(key, true);
    tr.deleteSelection();
    const splitAt = tr.selection.from;
    tr.split(splitAt);
    // Caret at the end of the first half: the batches go in after it and do not move it.
    tr.setSelection(TextSelection.create(tr.doc, splitAt));
    let pos = splitAt + 1; // the boundary between the halves
    view.dispatch(tr);
    let at = remember(pos);
    let inserted = 0;
    // The paste event's own task ends here: parsing was enough for it.
    await nextTask();
    let i = 0;
    const minBatch = Math.max(20, Math.ceil(plan.nodes.length / 40));
    let perBatch = minBatch;
    while (i < plan.nodes.length) {
      if (view.isDestroyed) return;
      const t0 = performance.now();
      pos = recall(at, pos);
      const batch = plan.nodes.slice(i, i + perBatch);
      tr = view.state.tr.setMeta(key, true).setMeta('addToHistory', true);
      tr.insert(pos, Fragment.from(batch));
      const size = batch.reduce((s, n) => s + n.nodeSize, 0);
      pos += size;
      inserted += size;
      // The caret stays before the paste until the end: moving it each batch made the browser lay
      // out everything up to it.
      view.dispatch(tr);
      at = remember(pos);
      i += batch.length;
      // Aim each task at batchMs: grow or shrink the batch by what the last one took.
      const took = performance.now() - t0;
      // Never more than ~40 batches: each dispatch also costs something per block of the document.
      perBatch = Math.max(minBatch, Math.min(5000, Math.round(perBatch * Math.min(2, Math.max(0.5, options.batchMs / Math.max(1, took))))));
      await nextTask();
    }
    if (view.isDestroyed) return;
    // Join the first pasted block with the text before the caret and the last with the text after.
    tr = view.state.tr.setMeta(key, false);
    const end = recall(at, pos);
    // Nobody can edit inside the pasted blocks yet (read-only here, unseen elsewhere).
    const start = end - inserted;
    let caret = end;
    if (plan.slice.openEnd > 0 && canJoin(tr.doc, end)) {
      tr.join(end);
      caret = end - 1;
    }
    const before = tr.doc.resolve(start).nodeBefore;
    if (plan.slice.openStart > 0 && before?.isTextblock && before.content.size === 0) {
      // Pasting into an empty line: the first pasted block keeps its own type (a heading stays one).
      tr.delete(start - before.nodeSize, start);
      caret -= before.nodeSize;
    } else if (plan.slice.openStart > 0 && canJoin(tr.doc, start)) {
      tr.join(start);
      caret -= 2;
    }
    tr.setSelection(TextSelection.near(tr.doc.resolve(Math.max(0, Math.min(caret, tr.doc.content.size))), -1)).scrollIntoView();
    view.dispatch(tr);
    await nextTask();
  } finally {
    if (!view.isDestroyed && key.getState(view.state)) view.dispatch(view.state.tr.setMeta(key, false));
    await release?.();
    if (um) {
      um.captureTimeout = captureTimeout ?? 500;
      um.stopCapturing();
    }
  }
}
