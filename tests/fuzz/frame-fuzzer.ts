/**
 * A fast-check-driven fuzzer for collab-server's socket path (issue 13): each case opens an
 * authorized socket and sends a short sequence of frames — valid ones of every message type
 * (sync, awareness with hostile states/ids/clocks, extensions, chunks), the same mutated (bit
 * flips, truncation, inserted bytes, overlong varints), and random bytes — then closes. What is
 * checked (by the caller): the process does not crash, no promise rejection goes unhandled, memory
 * stays bounded, and the server still serves honest clients afterwards.
 */
import fc from 'fast-check';
import WebSocket from 'ws';
import * as Y from 'yjs';
import * as encoding from 'lib0/encoding';
import { encode, encodeChunks, MessageType } from '../../lib/protocol';

export interface FuzzTarget {
  url: string;
  docId: string;
  /** A valid token for the document (a new one per case is not needed: tokens are reusable). */
  token: () => Promise<string>;
}

export interface FuzzStats {
  cases: number;
  frames: number;
  closes: Record<string, number>;
  seed: number;
}

/** Valid frames of every type, built from a small generated document. */
function validFrames(): fc.Arbitrary<Uint8Array> {
  const doc = new Y.Doc();
  const ups: Uint8Array[] = [];
  doc.on('update', (u: Uint8Array) => ups.push(u));
  doc.getText('t').insert(0, 'hello world');
  doc.getMap('m').set('k', { a: [1, 2, 3] });
  doc.getText('t').delete(2, 3);
  const awareness = (entries: { id: number; clock: number; json: string }[]) => {
    const e = encoding.createEncoder();
    encoding.writeVarUint(e, entries.length);
    for (const x of entries) {
      encoding.writeVarUint(e, x.id);
      encoding.writeVarUint(e, x.clock);
      encoding.writeVarString(e, x.json);
    }
    return encode.awareness(encoding.toUint8Array(e));
  };
  const json = fc.oneof(
    fc.constant('null'),
    fc.constant('{"user":{"name":"x","color":"#abc"},"cursor":{"anchor":{"type":null,"tname":"default","item":{"client":1,"clock":0},"assoc":0},"head":null}}'),
    fc.json({ maxDepth: 3 }),
    fc.string({ maxLength: 64 }),
    fc.nat({ max: 9000 }).map((n) => JSON.stringify({ big: 'x'.repeat(n) })),
  );
  const clientId = fc.oneof(fc.nat({ max: 0xffffffff }), fc.constant(doc.clientID), fc.constant(0));
  const clock = fc.oneof(fc.nat({ max: 1000 }), fc.constant(Number.MAX_SAFE_INTEGER), fc.constant(2 ** 32));
  return fc.oneof(
    fc.constantFrom(...ups.map((u) => encode.update(u)), ...ups.map((u) => encode.syncStep2(u))),
    fc.constant(encode.syncStep1(Y.encodeStateVector(new Y.Doc()))),
    fc.constant(encode.syncStep2(Y.encodeStateAsUpdate(doc))),
    fc.array(fc.record({ id: clientId, clock, json }), { minLength: 0, maxLength: 40 }).map(awareness),
    fc.nat({ max: 3000 }).map((n) => awareness(Array.from({ length: n }, (_, i) => ({ id: i + 1, clock: 1, json: '{}' })))),
    fc.constant(encode.queryAwareness()),
    fc.string({ maxLength: 200 }).map((s) => encode.extHello(s)),
    fc.string({ maxLength: 300 }).map((s) => encode.tokenRefresh(s)),
    fc.string({ maxLength: 80 }).map((s) => encode.traceContext(s)),
    fc.nat({ max: 5 }).map((v) => encode.chunkHello(v)),
    fc.tuple(fc.nat({ max: 5 }), fc.nat({ max: 1 << 27 }), fc.uint8Array({ maxLength: 512 })).map(([i, total, part]) => encode.chunk(i, total, part)),
    fc.constant(encodeChunks(encode.update(ups[0]!), 4)).chain((parts) => fc.constantFrom(...parts)),
    fc.boolean().map((b) => encode.background(b)),
    fc.constant(encode.permissionDenied('client says no')),
    fc.constant(new Uint8Array([MessageType.BACKGROUND, 7, 7])),
  );
}

/** A valid frame, damaged. */
function mutated(frame: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  return fc.tuple(frame, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.nat({ max: 5 })).map(([f, pos, byte, kind]) => {
    const b = Uint8Array.from(f);
    const at = b.length ? pos % b.length : 0;
    switch (kind) {
      case 0: // flip a byte
        if (b.length) b[at] = byte;
        return b;
      case 1: // truncate
        return b.slice(0, at);
      case 2: // insert a byte
        return Uint8Array.from([...b.slice(0, at), byte, ...b.slice(at)]);
      case 3: // an overlong varint where a length or type was
        return Uint8Array.from([...b.slice(0, at), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, ...b.slice(at)]);
      case 4: // duplicate the tail
        return Uint8Array.from([...b, ...b.slice(at)]);
      default: // a huge declared length
        return Uint8Array.from([...b.slice(0, Math.min(2, b.length)), 0xff, 0xff, 0xff, 0x0f, ...b.slice(2)]);
    }
  });
}

export function frameArbitrary(): fc.Arbitrary<Uint8Array> {
  const valid = validFrames();
  return fc.oneof({ weight: 3, arbitrary: valid }, { weight: 4, arbitrary: mutated(valid) }, { weight: 2, arbitrary: fc.uint8Array({ minLength: 0, maxLength: 300 }) });
}

/** One case: open, send the frames (binary; a text frame now and then), wait briefly, close. */
async function runCase(t: FuzzTarget, token: string, frames: Uint8Array[], text: boolean, stats: FuzzStats): Promise<void> {
  const ws = new WebSocket(`${t.url}/${t.docId}?token=${encodeURIComponent(token)}`);
  ws.on('error', () => {});
  const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
  const opened = await Promise.race([new Promise<boolean>((r) => ws.once('open', () => r(true))), closed.then(() => false)]);
  if (opened) {
    for (const f of frames) {
      if (ws.readyState !== ws.OPEN) break;
      ws.send(f, { binary: !text });
      stats.frames++;
    }
    // Long enough for the server to answer or close; short enough to run many cases.
    await Promise.race([closed, new Promise((r) => setTimeout(r, 30))]);
  }
  if (ws.readyState !== ws.CLOSED) ws.terminate();
  const code = await closed;
  stats.closes[code] = (stats.closes[code] ?? 0) + 1;
}

/** Fuzz for `durationMs`; throws if a case throws (it never should: the server only closes sockets). */
export async function fuzz(t: FuzzTarget, durationMs: number, seed = Date.now() % 2 ** 31, onCase?: () => void): Promise<FuzzStats> {
  const stats: FuzzStats = { cases: 0, frames: 0, closes: {}, seed };
  const token = await t.token();
  await fc.assert(
    fc.asyncProperty(fc.array(frameArbitrary(), { minLength: 1, maxLength: 12 }), fc.boolean(), fc.nat({ max: 19 }), async (frames, text, n) => {
      stats.cases++;
      await runCase(t, token, frames, text && n === 0, stats);
      onCase?.();
    }),
    { seed, numRuns: Number.MAX_SAFE_INTEGER, interruptAfterTimeLimit: durationMs, markInterruptAsFailure: false },
  );
  return stats;
}
