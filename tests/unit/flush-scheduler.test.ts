// The flush scheduler starts every dirty document's flush in ONE setImmediate per turn, once per
// document however many updates it queued, so the SQLite store can commit them together.
import { describe, expect, it } from 'vitest';
import { createFlushScheduler } from '../../collab-server/flush-scheduler';
import type { LiveDoc } from '../../collab-server/live-doc';

describe('flush scheduler', () => {
  it('flushes each dirty document once, all in the same turn, after the current one', async () => {
    const schedule = createFlushScheduler();
    const started: string[] = [];
    const doc = (id: string) => ({ startFlush: () => started.push(id) }) as unknown as LiveDoc;
    const [a, b] = [doc('a'), doc('b')];
    schedule(a);
    schedule(b);
    schedule(a);
    expect(started).toEqual([]); // nothing before the turn's reads are done
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual(['a', 'b']);
    schedule(b);
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual(['a', 'b', 'b']);
  });
});
