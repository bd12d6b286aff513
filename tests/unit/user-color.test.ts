// Collaborators present at once never share a caret colour (issue 16): the smaller user id keeps
// its colour, the other takes the next one nobody shows.
import { describe, expect, it } from 'vitest';
import { distinctColor, userColor } from '../../app/_components/user-color';

/** Two ids whose own colours collide (found by search, so the test does not depend on the hash). */
function collidingPair(): [string, string] {
  const seen = new Map<string, string>();
  for (let i = 0; ; i++) {
    const id = `user-${i}`;
    const c = userColor(id);
    const other = seen.get(c);
    if (other) return [other, id];
    seen.set(c, id);
  }
}

describe('distinctColor', () => {
  it('keeps a user’s own colour when nobody else shows it', () => {
    expect(distinctColor('alice', [])).toBe(userColor('alice'));
    expect(distinctColor('alice', [{ id: 'alice', color: userColor('alice') }])).toBe(userColor('alice'));
  });

  it('two users with the same own colour end up with different ones, the same way on both sides', () => {
    const [a, b] = collidingPair().sort();
    expect(userColor(a!)).toBe(userColor(b!));
    const aColor = distinctColor(a!, [{ id: b!, color: userColor(b!) }]);
    const bColor = distinctColor(b!, [{ id: a!, color: aColor }]);
    expect(aColor).toBe(userColor(a!));
    expect(bColor).not.toBe(aColor);
    // Re-evaluated with the new colours, nobody moves again.
    expect(distinctColor(a!, [{ id: b!, color: bColor }])).toBe(aColor);
    expect(distinctColor(b!, [{ id: a!, color: aColor }])).toBe(bColor);
  });

  it('never picks a colour another present user already shows', () => {
    const [a, b] = collidingPair().sort();
    const taken = [{ id: a!, color: userColor(a!) }, { id: 'zz-1', color: '#be123c' }, { id: 'zz-2', color: '#be185d' }];
    const c = distinctColor(b!, taken);
    expect(taken.map((t) => t.color)).not.toContain(c);
  });
});
