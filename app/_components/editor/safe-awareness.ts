/**
 * Defence in depth for remote carets (issue 11 #3). collab-server drops malformed presence before
 * relaying it, but the caret plugin must not trust that: one `cursor: {anchor: null}` threw inside
 * y-tiptap's decorations, and from then on no remote edit rendered in that browser. The caret
 * extension gets a view of the awareness whose states are checked with the same rules
 * (lib/presence.ts) plus "Yjs can resolve it in this document"; what fails is left out.
 */
import * as Y from 'yjs';
import type { Awareness } from 'y-protocols/awareness';
import { cleanPresenceState, isPresenceCursor, type RelativePositionJson } from '@/lib/presence';

/** True when `p` resolves in `doc` without throwing (null, i.e. "not here yet", is fine). */
function resolves(p: RelativePositionJson, doc: Y.Doc): boolean {
  try {
    Y.createAbsolutePositionFromRelativePosition(Y.createRelativePositionFromJSON(p), doc);
    return true;
  } catch {
    return false;
  }
}

/** One remote state as the caret plugin may see it: checked, with a bad cursor or colour removed. */
export function safePresenceState(state: unknown, doc: Y.Doc): Record<string, unknown> | null {
  if (typeof state !== 'object' || state === null || Array.isArray(state)) return null;
  const { state: clean } = cleanPresenceState(state as Record<string, unknown>);
  const c = clean.cursor;
  if (c != null && !(isPresenceCursor(c) && resolves(c.anchor, doc) && resolves(c.head, doc))) delete clean.cursor;
  return clean;
}

/**
 * A view of `awareness` for the caret plugin: everything passes through, except that `states` and
 * `getStates()` hold checked copies of the remote states (our own is ours, and left as it is).
 */
export function safeAwareness(awareness: Awareness): Awareness {
  let source: Map<number, unknown> | null = null;
  let size = -1;
  let cache = new Map<number, Record<string, unknown>>();
  const checked = () => {
    const states = awareness.getStates() as Map<number, unknown>;
    // Rebuilt on every change notification would be cleaner; states change in place, so compare
    // by a cheap fingerprint (the map and the clocks) and rebuild when anything moved.
    const clocks = [...awareness.meta.values()].reduce((n, m) => n + m.clock, 0);
    if (states !== source || size !== clocks + states.size) {
      source = states;
      size = clocks + states.size;
      cache = new Map();
      for (const [id, st] of states) {
        const s = id === awareness.clientID ? (st as Record<string, unknown>) : safePresenceState(st, awareness.doc);
        if (s) cache.set(id, s);
      }
    }
    return cache;
  };
  return new Proxy(awareness, {
    get(target, prop) {
      if (prop === 'getStates') return checked;
      if (prop === 'states') return checked();
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
