/** The benchmark load generator's wire helpers produce and read exactly what Yjs does. */
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { encodeRun, framePrefix, oneCharFrame, readInbound, syncFrame, updateEnds, charsFor, SYNC_UPDATE, TEXT_KEY } from '../load/wire';
import { median, quantile, Samples } from '../load/stats';

const slow = (u: Uint8Array) => Y.parseUpdateMeta(u).to;

/** What Yjs emits when client `id` types `n` characters one by one at the end of its own text. */
function yjsTyping(id: number, n: number): Uint8Array[] {
  const d = new Y.Doc();
  d.clientID = id;
  const out: Uint8Array[] = [];
  d.on('update', (u: Uint8Array) => out.push(u));
  const t = d.getText(TEXT_KEY);
  for (let k = 0; k < n; k++) t.insert(k, charsFor(k, k + 1));
  return out;
}

describe('bench wire helpers', () => {
  it('the template update for one typed character is byte-identical to what Yjs emits', () => {
    for (const id of [1, 300, 123456789]) {
      const ys = yjsTyping(id, 200);
      ys.forEach((u, k) => expect(encodeRun(id, k, k + 1)).toEqual(u));
    }
  });

  it('a run of characters applies to the same text as typing them one by one', () => {
    const a = new Y.Doc();
    for (const u of yjsTyping(77, 50)) Y.applyUpdate(a, u);
    const b = new Y.Doc();
    Y.applyUpdate(b, encodeRun(77, 0, 20));
    Y.applyUpdate(b, encodeRun(77, 20, 50));
    expect(b.getText(TEXT_KEY).toString()).toBe(a.getText(TEXT_KEY).toString());
  });

  it('the one-allocation frame equals the generic frame, in both framings', () => {
    for (const prefix of [framePrefix('yws', 'doc'), framePrefix('hocus', 'some-document')]) {
      for (const clock of [0, 1, 127, 128, 20_000, 3_000_000]) {
        expect(oneCharFrame(prefix, 987654, clock)).toEqual(syncFrame(prefix, SYNC_UPDATE, encodeRun(987654, clock, clock + 1)));
      }
    }
  });

  it('the fast clock-range reader agrees with Y.parseUpdateMeta, and falls back for merged updates', () => {
    for (const clock of [1, 5, 1000]) {
      const u = encodeRun(4242, clock, clock + 3);
      expect(updateEnds(u, slow)).toEqual([4242, clock + 3]);
    }
    const merged = Y.mergeUpdates([encodeRun(1, 0, 2), encodeRun(2, 0, 3), encodeRun(1, 2, 4)]);
    const ends = updateEnds(merged, slow);
    expect(ends).toBeInstanceOf(Map);
    expect([...(ends as Map<number, number>)].sort()).toEqual([
      [1, 4],
      [2, 3],
    ]);
  });

  it('reads a Hocuspocus frame past its document name', () => {
    const u = encodeRun(9, 3, 4);
    const m = readInbound('hocus', syncFrame(framePrefix('hocus', 'doc-ü'), SYNC_UPDATE, u));
    expect(m.sub).toBe(SYNC_UPDATE);
    expect(m.payload).toEqual(u);
  });

  it('percentiles and medians', () => {
    const s = new Samples();
    for (let i = 1; i <= 2000; i++) s.add(i);
    expect(s.summary()).toEqual({ n: 2000, p50: 1000, p95: 1900, p99: 1980, max: 2000 });
    expect(quantile([1, 2, 3], 0.99)).toBe(3);
    expect(median([3, NaN, 1, 2])).toBe(2);
  });
});
