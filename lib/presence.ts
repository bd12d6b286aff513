/**
 * What a presence (awareness) state may look like. One definition for collab-server, which drops
 * what fails before relaying it, and the browser, which checks again before drawing carets
 * (issue 11: one viewer's `cursor: {anchor: null}` threw inside every other editor's caret plugin,
 * and a `user.color` of `url(...)` would be fetched by every viewer). Pure: no Y.Doc, no DOM.
 */

/** Largest presence state (JSON bytes) relayed: a caret and a user are ~200 bytes. */
export const MAX_PRESENCE_STATE_BYTES = 4096;
/** Longest `user.name` shown (the server sets it from the token; this bounds what it relays). */
export const MAX_PRESENCE_NAME_CHARS = 120;
/** Longest root type name in a relative position (Tandem's are one short word). */
const MAX_TNAME_CHARS = 64;

/** `#rgb` or `#rrggbb`: a colour that can only ever be a colour in CSS (no `url()`, no `;`). */
const COLOR = /^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/;

/** A colour safe to put into a style attribute. */
export const isPresenceColor = (c: unknown): c is string => typeof c === 'string' && COLOR.test(c);

const isUint = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A Yjs id (`{client, clock}`) as JSON. */
export interface IdJson {
  client: number;
  clock: number;
}

/** Y.RelativePosition as JSON (what y-tiptap publishes as `cursor.anchor` / `cursor.head`). */
export interface RelativePositionJson {
  type?: IdJson | null;
  tname?: string | null;
  item?: IdJson | null;
  assoc?: number | null;
}

function isIdJson(v: unknown): v is IdJson {
  return isPlainObject(v) && isUint(v.client) && isUint(v.clock) && Object.keys(v).length === 2;
}

/**
 * A relative position Yjs can decode without throwing: ids are non-negative integers, at least
 * one of type / tname / item is set (all null makes Yjs throw "unexpected case"), assoc an int32.
 */
export function isRelativePositionJson(v: unknown): v is RelativePositionJson {
  if (!isPlainObject(v)) return false;
  for (const k of Object.keys(v)) if (k !== 'type' && k !== 'tname' && k !== 'item' && k !== 'assoc') return false;
  const { type, tname, item, assoc } = v;
  if (type != null && !isIdJson(type)) return false;
  if (item != null && !isIdJson(item)) return false;
  if (tname != null && (typeof tname !== 'string' || tname.length === 0 || tname.length > MAX_TNAME_CHARS)) return false;
  if (assoc != null && !(Number.isInteger(assoc) && (assoc as number) >= -(2 ** 31) && (assoc as number) < 2 ** 31)) return false;
  return type != null || tname != null || item != null;
}

/** The ids a relative position refers to (what must exist in the document for it to resolve). */
export function positionIds(p: RelativePositionJson): IdJson[] {
  const ids: IdJson[] = [];
  if (p.type) ids.push(p.type);
  if (p.item) ids.push(p.item);
  return ids;
}

/** `cursor`: absent/null (no selection) or `{anchor, head}` of well-formed relative positions. */
export function isPresenceCursor(v: unknown): v is { anchor: RelativePositionJson; head: RelativePositionJson } {
  return isPlainObject(v) && isRelativePositionJson(v.anchor) && isRelativePositionJson(v.head);
}

export type PresenceCheck =
  /** The state, cleaned (fields that failed removed); `problems` names what was removed. */
  | { ok: true; state: Record<string, unknown> | null; problems: string[] }
  /** Nothing of it can be relayed. */
  | { ok: false; problem: string };

/**
 * Check one presence state as received (JSON text). A state that is not a JSON object (or null,
 * "this client left"), or larger than MAX_PRESENCE_STATE_BYTES, is refused whole; a malformed
 * `cursor` or `user.color` is removed and the rest kept. `user` keeps only name, id and colour
 * (nothing else in it is ever rendered, so nothing else in it can be abused).
 * `knows(id)`, when given, says whether an id a cursor refers to exists in the document.
 */
export function checkPresenceJson(json: string, knows?: (id: IdJson) => boolean): PresenceCheck {
  // Characters, not bytes: a cheap bound before parsing; UTF-8 is at most 3 bytes per UTF-16 unit.
  if (json.length > MAX_PRESENCE_STATE_BYTES) return { ok: false, problem: 'too-large' };
  let state: unknown;
  try {
    state = JSON.parse(json);
  } catch {
    return { ok: false, problem: 'not-json' };
  }
  if (state === null) return { ok: true, state: null, problems: [] };
  if (!isPlainObject(state)) return { ok: false, problem: 'not-an-object' };
  return { ok: true, ...cleanPresenceState(state, knows) };
}

/** The same checks on a parsed state (the browser's copy of what it received). */
export function cleanPresenceState(state: Record<string, unknown>, knows?: (id: IdJson) => boolean): { state: Record<string, unknown>; problems: string[] } {
  const problems: string[] = [];
  const out: Record<string, unknown> = { ...state };
  if ('cursor' in out && out.cursor != null) {
    const c = out.cursor;
    if (!isPresenceCursor(c)) {
      problems.push('cursor-shape');
      delete out.cursor;
    } else if (knows && ![...positionIds(c.anchor), ...positionIds(c.head)].every(knows)) {
      problems.push('cursor-position');
      delete out.cursor;
    }
  }
  if ('user' in out) {
    const u = out.user;
    if (!isPlainObject(u)) {
      if (u != null) problems.push('user-shape');
      delete out.user;
    } else {
      const user: Record<string, unknown> = {};
      if (typeof u.name === 'string') user.name = u.name.slice(0, MAX_PRESENCE_NAME_CHARS);
      if (typeof u.id === 'string') user.id = u.id.slice(0, MAX_PRESENCE_NAME_CHARS);
      if (u.color !== undefined) {
        if (isPresenceColor(u.color)) user.color = u.color;
        else problems.push('user-color');
      }
      out.user = user;
    }
  }
  return { state: out, problems };
}
