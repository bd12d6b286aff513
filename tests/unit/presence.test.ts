// The presence rules (lib/presence.ts) collab-server applies before relaying, and the browser's
// second check before drawing carets (safe-awareness.ts): what passes, what is removed.
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { Awareness } from 'y-protocols/awareness';
import { checkPresenceJson, isPresenceColor, isRelativePositionJson, MAX_PRESENCE_STATE_BYTES } from '../../lib/presence';
import { safeAwareness, safePresenceState } from '../../app/_components/editor/safe-awareness';

const pos = (client: number, clock: number) => ({ type: null, tname: 'default', item: { client, clock }, assoc: 0 });

describe('presence rules', () => {
  it('colours are #rgb or #rrggbb only', () => {
    for (const ok of ['#fff', '#0284c7', '#ABCDEF']) expect(isPresenceColor(ok), ok).toBe(true);
    for (const bad of ['url(https://evil.example/x.png)', 'red', '#12345', '#0284c7;background:url(x)', 'hsl(0 0% 0%)', 7, null]) expect(isPresenceColor(bad), String(bad)).toBe(false);
  });

  it('relative positions: ids are non-negative integers, one of type / tname / item set, nothing else', () => {
    expect(isRelativePositionJson(pos(1, 2))).toBe(true);
    expect(isRelativePositionJson({ tname: 'default' })).toBe(true);
    for (const bad of [null, 'a', 7, [], {}, { type: null, tname: null, item: null, assoc: 0 }, { item: { client: -1, clock: 0 } }, { item: { client: 1, clock: 1.5 } }, { item: { client: '1', clock: 0 } }, { tname: 'default', extra: 1 }, { tname: 'x'.repeat(65) }, { tname: 'default', assoc: 2 ** 40 }])
      expect(isRelativePositionJson(bad), JSON.stringify(bad)).toBe(false);
  });

  it('a state: too large or not an object is refused whole; a bad cursor or colour is removed, the rest kept', () => {
    expect(checkPresenceJson('null')).toEqual({ ok: true, state: null, problems: [] });
    expect(checkPresenceJson('{nope')).toEqual({ ok: false, problem: 'not-json' });
    expect(checkPresenceJson('[1]')).toEqual({ ok: false, problem: 'not-an-object' });
    expect(checkPresenceJson(JSON.stringify({ pad: 'x'.repeat(MAX_PRESENCE_STATE_BYTES) }))).toEqual({ ok: false, problem: 'too-large' });
    const r = checkPresenceJson(JSON.stringify({ cursor: { anchor: null, head: null }, user: { name: 'M', color: 'url(x)', avatar: 'https://evil.example' }, other: 1 }));
    expect(r).toEqual({ ok: true, state: { user: { name: 'M' }, other: 1 }, problems: ['cursor-shape', 'user-color'] });
    const known = checkPresenceJson(JSON.stringify({ cursor: { anchor: pos(1, 2), head: pos(1, 9) } }), (id) => id.clock < 5);
    expect(known).toEqual({ ok: true, state: {}, problems: ['cursor-position'] });
  });

  it('the browser view of awareness leaves out what would throw in the caret plugin', () => {
    const doc = new Y.Doc();
    doc.getXmlFragment('default').insert(0, [new Y.XmlText('hello')]);
    const aw = new Awareness(doc);
    const remote = new Awareness(new Y.Doc());
    const bad = [{ anchor: null, head: null }, { anchor: 'x', head: 1 }, { anchor: { tname: 'x'.repeat(100_000) }, head: { item: { client: 2 ** 60, clock: 0 } } }];
    const safe = safeAwareness(aw);
    for (const cursor of bad) {
      // States arrive as they would from the network (bypassing any server check).
      remote.setLocalState({ user: { name: 'M', color: 'url(x)' }, cursor });
      aw.states.set(remote.clientID, remote.getLocalState()!);
      aw.meta.set(remote.clientID, { clock: (aw.meta.get(remote.clientID)?.clock ?? 0) + 1, lastUpdated: Date.now() });
      const seen = safe.getStates().get(remote.clientID)!;
      expect(seen.cursor, JSON.stringify(cursor)).toBeUndefined();
      expect(seen.user).toEqual({ name: 'M' });
      // Creating the relative position from the unchecked state is what threw before.
      if (cursor.anchor === null) expect(() => Y.createAbsolutePositionFromRelativePosition(Y.createRelativePositionFromJSON(cursor.anchor), doc)).toThrow();
    }
    const good = { anchor: pos(doc.clientID, 1), head: pos(doc.clientID, 2) };
    expect(safePresenceState({ cursor: good }, doc)).toEqual({ cursor: good });
    expect(safe.clientID).toBe(aw.clientID);
    expect(safe.states.get(remote.clientID)).toBeDefined();
  });
});
