/**
 * Version history, the pure part: how a version's bytes are encoded (the Yjs update between the
 * previous version's state vector and this one, with a full keyframe every few versions so a
 * rebuild reads a bounded chain), how a version is rebuilt, which versions a retention policy
 * keeps, and how a restore is written into a document. No handles, no I/O: both processes and the
 * tests use these.
 */
import * as Y from 'yjs';

/** The Y.XmlFragment Tiptap's Collaboration extension binds (its `field` option, default "default"). */
export const CONTENT_FIELD = 'default';

export type VersionKind = 'auto' | 'named' | 'restore';

/** What the store knows about a document's newest version when a new one is added. */
export interface LatestVersion {
  id: string;
  n: number;
  createdAt: number;
  uptoSeq: number;
  /** Diffs since the last keyframe (0 = this one is a keyframe). */
  depth: number;
  /** State vector of this version's content. */
  sv: Uint8Array;
}

/** How a new version is encoded relative to the newest one. */
export interface EncodedVersion {
  baseId: string | null;
  depth: number;
  sv: Uint8Array;
  data: Uint8Array;
}

/**
 * Encode `doc` as the next version after `latest`: the update from latest's state vector (a few
 * hundred bytes for a few edits), or the full state when there is no latest or the chain since the
 * last keyframe would reach `keyframeEvery`.
 */
export function encodeVersion(doc: Y.Doc, latest: LatestVersion | null, keyframeEvery: number): EncodedVersion {
  const sv = Y.encodeStateVector(doc);
  if (latest && latest.depth + 1 < Math.max(1, keyframeEvery)) {
    return { baseId: latest.id, depth: latest.depth + 1, sv, data: Y.encodeStateAsUpdate(doc, latest.sv) };
  }
  return { baseId: null, depth: 0, sv, data: Y.encodeStateAsUpdate(doc) };
}

/** Rebuild a version from its chain (keyframe first, the version itself last). */
export function rebuildFromChain(chain: readonly Uint8Array[]): Y.Doc {
  const doc = new Y.Doc({ gc: false });
  doc.transact(() => {
    for (const u of chain) Y.applyUpdate(doc, u);
  });
  return doc;
}

/** Client ids whose clock advanced from `before` to `after` (who wrote something in between). */
export function advancedClients(before: Uint8Array | null, after: Uint8Array): number[] {
  const a = before ? Y.decodeStateVector(before) : new Map<number, number>();
  const out: number[] = [];
  for (const [client, clock] of Y.decodeStateVector(after)) if (clock > (a.get(client) ?? 0)) out.push(client);
  return out;
}

// ---- retention ------------------------------------------------------------------------------

export interface RetentionPolicy {
  /** Every version younger than this is kept. */
  keepAllMs: number;
  /** Up to this age, the newest version of each hour is kept. */
  keepHourlyMs: number;
  /** Up to this age, the newest version of each day is kept; 0 = daily versions are kept forever. */
  keepDailyMs: number;
}

export interface RetentionCandidate {
  id: string;
  createdAt: number;
  named: boolean;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/**
 * Versions the policy removes. Never a named version, never the newest one (it is what the next
 * automatic version diffs against, and "the last version" must always exist).
 */
export function selectForRemoval(versions: readonly RetentionCandidate[], policy: RetentionPolicy, now: number): string[] {
  const sorted = [...versions].sort((a, b) => b.createdAt - a.createdAt); // newest first
  const seenHour = new Set<number>();
  const seenDay = new Set<number>();
  const remove: string[] = [];
  sorted.forEach((v, i) => {
    const age = now - v.createdAt;
    if (v.named || i === 0 || age < policy.keepAllMs) return;
    if (age < policy.keepHourlyMs) {
      const bucket = Math.floor(v.createdAt / HOUR);
      if (seenHour.has(bucket)) remove.push(v.id);
      else seenHour.add(bucket);
      return;
    }
    if (policy.keepDailyMs > 0 && age >= policy.keepDailyMs) {
      remove.push(v.id);
      return;
    }
    const bucket = Math.floor(v.createdAt / DAY);
    if (seenDay.has(bucket)) remove.push(v.id);
    else seenDay.add(bucket);
  });
  return remove;
}

// ---- restore --------------------------------------------------------------------------------

/** Structural identity of a block (a top-level element of the fragment). */
const blockKey = (n: Y.XmlElement | Y.XmlText): string => n.toString();

/**
 * Make `target` hold the content of `source` (another document's fragment), as one set of Yjs
 * operations on `target`: blocks equal at the start and at the end are kept as they are, so
 * concurrent edits inside them survive; the blocks in between are replaced by copies of the
 * source's. Call it inside a transaction whose origin decides who may undo it.
 */
export function replaceFragment(target: Y.XmlFragment, source: Y.XmlFragment): void {
  const cur = target.toArray() as (Y.XmlElement | Y.XmlText)[];
  const next = source.toArray() as (Y.XmlElement | Y.XmlText)[];
  let start = 0;
  while (start < cur.length && start < next.length && blockKey(cur[start]!) === blockKey(next[start]!)) start++;
  let endCur = cur.length;
  let endNext = next.length;
  while (endCur > start && endNext > start && blockKey(cur[endCur - 1]!) === blockKey(next[endNext - 1]!)) {
    endCur--;
    endNext--;
  }
  if (endCur > start) target.delete(start, endCur - start);
  if (endNext > start) target.insert(start, next.slice(start, endNext).map((n) => n.clone()));
}

/** The plain text of a fragment, one line per block (what the comparison diffs). */
export function fragmentText(fragment: Y.XmlFragment): string {
  const lines: string[] = [];
  const walk = (n: Y.XmlElement | Y.XmlText | Y.XmlHook, out: string[]): void => {
    if (n instanceof Y.XmlText) {
      out.push(n.toDelta().map((d: { insert: unknown }) => (typeof d.insert === 'string' ? d.insert : '')).join(''));
    } else if (n instanceof Y.XmlElement) {
      for (const c of n.toArray()) walk(c as Y.XmlElement | Y.XmlText, out);
    }
  };
  const block = (n: Y.XmlElement | Y.XmlText): void => {
    // A block holding other blocks (lists, quotes) gives one line per inner block.
    if (n instanceof Y.XmlElement && n.toArray().some((c) => c instanceof Y.XmlElement)) {
      for (const c of n.toArray()) block(c as Y.XmlElement | Y.XmlText);
      return;
    }
    const parts: string[] = [];
    walk(n, parts);
    lines.push(parts.join(''));
  };
  for (const n of fragment.toArray()) block(n as Y.XmlElement | Y.XmlText);
  return lines.join('\n');
}
