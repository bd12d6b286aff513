// Yjs updates are idempotent and order-independent: the property the whole update path relies on
// (duplicates after a resync, reordered delivery after a reconnect, replays from the update log).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as Y from 'yjs';
import { sameState } from '../helpers/fixture';

type Op = { client: number; kind: 'insert' | 'delete' | 'map'; pos: number; text: string };

const opArb: fc.Arbitrary<Op> = fc.record({
  client: fc.integer({ min: 0, max: 2 }),
  kind: fc.constantFrom('insert', 'insert', 'delete', 'map'),
  pos: fc.nat({ max: 50 }),
  text: fc.string({ minLength: 1, maxLength: 5 }),
});

/** Run edits on three replicas that sync after every step, recording every update once. */
function record(ops: Op[]): Uint8Array[] {
  const docs = [0, 1, 2].map(() => new Y.Doc());
  const updates: Uint8Array[] = [];
  docs.forEach((d) =>
    d.on('update', (u: Uint8Array, origin: unknown) => {
      if (origin !== 'sync') updates.push(u);
    }),
  );
  for (const op of ops) {
    const d = docs[op.client]!;
    const t = d.getText('t');
    if (op.kind === 'insert') t.insert(Math.min(op.pos, t.length), op.text);
    else if (op.kind === 'delete' && t.length > 0) t.delete(Math.min(op.pos, t.length - 1), 1);
    else d.getMap('m').set(op.text, op.pos);
    // Sometimes replicas see each other's edits before the next one (causal chains), sometimes not.
    if (op.pos % 3 === 0) for (const o of docs) if (o !== d) Y.applyUpdate(o, Y.encodeStateAsUpdate(d), 'sync');
  }
  return updates;
}

function replay(updates: Uint8Array[]): Y.Doc {
  const d = new Y.Doc();
  for (const u of updates) Y.applyUpdate(d, u);
  return d;
}

describe('Yjs update semantics Tandem relies on', () => {
  it('applying every update twice gives the same document as applying each once in order', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 40 }), (ops) => {
        const updates = record(ops);
        const once = replay(updates);
        const twice = replay(updates.flatMap((u) => [u, u]));
        expect(sameState(once, twice)).toBe(true);
        expect(twice.getText('t').toString()).toBe(once.getText('t').toString());
      }),
      { numRuns: 200 },
    );
  });

  it('applying the updates in any order (with duplicates) gives the same document', () => {
    fc.assert(
      fc.property(
        fc.array(opArb, { minLength: 1, maxLength: 40 }).chain((ops) => {
          const updates = record(ops);
          return fc.tuple(fc.constant(updates), fc.shuffledSubarray([...updates.keys(), ...updates.keys()], { minLength: updates.length * 2 }));
        }),
        ([updates, order]) => {
          const inOrder = replay(updates);
          const shuffled = replay(order.map((i) => updates[i]!));
          expect(sameState(inOrder, shuffled)).toBe(true);
          expect(shuffled.getText('t').toString()).toBe(inOrder.getText('t').toString());
          expect(shuffled.getMap('m').toJSON()).toEqual(inOrder.getMap('m').toJSON());
        },
      ),
      { numRuns: 200 },
    );
  });
});
