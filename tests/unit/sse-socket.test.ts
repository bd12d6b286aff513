// SseSocket and the client's URL/batch helpers without a network (issue 15): the replay buffer
// serves exactly the events after Last-Event-ID and refuses what it no longer holds; events sent
// while no stream is attached count as unsent bytes (the send cap sees them); a close is one final
// event with the code and reason; a batch round-trips.
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { ServerResponse } from 'node:http';
import { SseSocket } from '../../collab-server/sse-socket';
import { decodeBatch, encodeBatch, sseUrlFor } from '../../lib/sse-client';

/** A writable that records what is written, standing in for the HTTP response. */
function fakeRes() {
  const out: string[] = [];
  const s = new PassThrough();
  s.on('data', (d: Buffer) => out.push(d.toString()));
  const res = s as unknown as ServerResponse;
  return { res, out, text: () => out.join(''), end: () => s.emit('close') };
}
const ids = (text: string) => [...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));

describe('SseSocket', () => {
  it('resumes with exactly the events after Last-Event-ID, and counts what waits while detached', async () => {
    const s = new SseSocket('sid', 'doc', null, { replayBytes: 1 << 20, resumeMs: 60_000 });
    const a = fakeRes();
    s.attach(a.res, 0);
    for (let i = 0; i < 3; i++) s.send(new Uint8Array([i]), { binary: true });
    await new Promise((r) => setImmediate(r));
    expect(ids(a.text())).toEqual([1, 2, 3]);
    a.end(); // the stream drops
    s.send(new Uint8Array([3]), { binary: true });
    s.send(new Uint8Array([4]), { binary: true });
    expect(s.bufferedAmount).toBeGreaterThan(0);
    const b = fakeRes();
    // The client got events up to 2 only (3 was in flight when the stream dropped).
    expect(s.attach(b.res, 2)).toBe(true);
    await new Promise((r) => setImmediate(r));
    expect(ids(b.text())).toEqual([3, 4, 5]);
    expect(s.bufferedAmount).toBe(0);
    s.terminate();
  });

  it('refuses a resume from before its replay buffer (the client resyncs on a new session)', () => {
    const s = new SseSocket('sid', 'doc', null, { replayBytes: 200, resumeMs: 60_000 });
    s.attach(fakeRes().res, 0);
    for (let i = 0; i < 50; i++) s.send(new Uint8Array(16), { binary: true });
    expect(s.attach(fakeRes().res, 1)).toBe(false);
    expect(s.attach(fakeRes().res, 49)).toBe(true);
    expect(s.attach(fakeRes().res, 51)).toBe(false); // an id it never sent
    s.terminate();
  });

  it('closes with one final event carrying the code and reason, then emits close once', async () => {
    const s = new SseSocket('sid', 'doc', null, { replayBytes: 1 << 20, resumeMs: 60_000 });
    const a = fakeRes();
    s.attach(a.res, 0);
    const closes: [number, string][] = [];
    s.on('close', (code: number, reason: Buffer) => closes.push([code, reason.toString()]));
    s.close(4403, 'no access');
    s.close(1000, 'again');
    s.terminate();
    await new Promise((r) => setImmediate(r));
    expect(a.text()).toContain('event: close\ndata: {"code":4403,"reason":"no access"}\n\n');
    expect(closes).toEqual([[4403, 'no access']]);
    expect(s.readyState).toBe(3);
  });

  it('a detached session ends (1006) when not resumed in time', async () => {
    const s = new SseSocket('sid', 'doc', null, { replayBytes: 1 << 20, resumeMs: 20 });
    const a = fakeRes();
    s.attach(a.res, 0);
    const closed = new Promise<number>((r) => s.once('close', (code: number) => r(code)));
    a.end();
    expect(await closed).toBe(1006);
  });
});

describe('client helpers', () => {
  it('maps a WebSocket URL to the SSE route and round-trips a batch', () => {
    expect(sseUrlFor('wss://h.example/collab/Doc_1?token=t').toString()).toBe('https://h.example/collab/sse/Doc_1?token=t');
    expect(sseUrlFor('ws://127.0.0.1:1234/abc').toString()).toBe('http://127.0.0.1:1234/sse/abc');
    const b = decodeBatch(encodeBatch(7, [new Uint8Array([1, 2]), new Uint8Array([])]));
    expect(b.first).toBe(7);
    expect(b.messages.map((m) => [...m])).toEqual([[1, 2], []]);
  });
});
