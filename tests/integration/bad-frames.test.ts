// Malformed input closes only the offending socket, with a named code and a reason; the document
// and everyone else on it are untouched.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import * as encoding from 'lib0/encoding';
import type { WebsocketProvider } from 'y-websocket';
import { CloseCode } from '../../lib/close-codes';
import { encode } from '../../lib/protocol';
import { createFixture, provider, sameState, startServer, synced, waitFor, type Fixture, type InProcessServer } from '../helpers/fixture';
import { maskedFrame, rawClient } from '../helpers/raw';

let fx: Fixture;
let srv: InProcessServer;
let owner: string;
let docId: string;
let a: WebsocketProvider;
let b: WebsocketProvider;

const storedRows = () => (fx.db.prepare('SELECT COUNT(*) AS n FROM doc_updates WHERE doc_id = ?').get(docId) as { n: number }).n;

beforeAll(async () => {
  fx = await createFixture();
  srv = await startServer(fx);
  owner = fx.user();
  docId = fx.doc(owner);
  a = provider(srv.url, docId, await fx.token(owner, docId));
  b = provider(srv.url, docId, await fx.token(owner, docId));
  await Promise.all([synced(a), synced(b)]);
  a.doc.getText('t').insert(0, 'before');
  await waitFor(() => b.doc.getText('t').toString() === 'before');
});
afterAll(async () => {
  a.destroy();
  b.destroy();
  await srv.close();
  fx.cleanup();
});

/** After the bad client is gone, the others still co-edit and nothing changed in the store. */
async function othersUnaffected(rowsBefore: number) {
  expect(storedRows()).toBe(rowsBefore);
  const marker = `ok-${Math.random().toString(36).slice(2, 8)}`;
  a.doc.getText('t').insert(0, marker);
  await waitFor(() => b.doc.getText('t').toString().includes(marker), { what: 'others still co-edit' });
  await waitFor(() => storedRows() === rowsBefore + 1, { what: 'the good edit stored' });
}

const bytes = (...xs: number[]) => new Uint8Array(xs);

describe('bad frames', () => {
  const cases: [string, () => Uint8Array, number][] = [
    ['a truncated varint', () => bytes(0x80), CloseCode.INVALID_PAYLOAD],
    ['a sync update whose length runs past the frame', () => bytes(0, 2, 50, 1, 2, 3), CloseCode.INVALID_PAYLOAD],
    ['an unknown message type', () => bytes(42, 0, 0), CloseCode.UNSUPPORTED_DATA],
    ['an unknown sync message type', () => bytes(0, 9, 0), CloseCode.UNSUPPORTED_DATA],
    ['bytes Yjs cannot decode', () => encode.update(bytes(0xff, 0xff, 0xff, 0x7f, 1, 2, 3, 4, 5)), CloseCode.INVALID_PAYLOAD],
    ['an awareness update that is not JSON', () => {
      const e = encoding.createEncoder();
      encoding.writeVarUint(e, 1);
      encoding.writeVarUint(e, 12345);
      encoding.writeVarUint(e, 1);
      encoding.writeVarString(e, '{not json');
      return encode.awareness(encoding.toUint8Array(e));
    }, CloseCode.INVALID_PAYLOAD],
  ];

  it.each(cases)('%s closes that socket with the documented code and a reason', async (_name, frame, code) => {
    const rows = storedRows();
    const bad = await rawClient(srv.url, docId, await fx.token(owner, docId));
    await waitFor(() => bad.received.length > 0, { what: 'handshake' });
    bad.ws.send(frame());
    const closed = await bad.closed;
    expect(closed.code).toBe(code);
    expect(closed.reason.length).toBeGreaterThan(0);
    await othersUnaffected(rows);
  });

  it('a text frame is refused with 1003', async () => {
    const rows = storedRows();
    const bad = await rawClient(srv.url, docId, await fx.token(owner, docId));
    bad.ws.send('hello');
    expect((await bad.closed).code).toBe(CloseCode.UNSUPPORTED_DATA);
    await othersUnaffected(rows);
  });

  it('a 2 MiB frame is refused with 4413 (permanent, so a stock client does not loop)', async () => {
    const rows = storedRows();
    const bad = await rawClient(srv.url, docId, await fx.token(owner, docId));
    const big = new Y.Doc();
    big.getText('t').insert(0, 'x'.repeat(2 * 1024 * 1024));
    bad.ws.send(encode.update(Y.encodeStateAsUpdate(big)));
    const closed = await bad.closed;
    expect(closed.code).toBe(CloseCode.MESSAGE_TOO_LARGE);
    await othersUnaffected(rows);
  });

  it('a frame with RSV bits set (no extension negotiated) is refused with 1002', async () => {
    const rows = storedRows();
    const bad = await rawClient(srv.url, docId, await fx.token(owner, docId));
    await waitFor(() => bad.received.length > 0, { what: 'handshake' });
    bad.writeRaw(maskedFrame(0x80 | 0x40 | 0x2, encode.queryAwareness())); // FIN + RSV1 + binary
    const closed = await bad.closed;
    expect(closed.code).toBe(CloseCode.PROTOCOL_ERROR);
    await othersUnaffected(rows);
  });
});

describe('pre-checks before an update is applied', () => {
  it('an update with a clock gap is never applied or stored, and the sender is asked to resync', async () => {
    const rows = storedRows();
    const client = new Y.Doc();
    const updates: Uint8Array[] = [];
    client.on('update', (u: Uint8Array) => updates.push(u));
    client.getText('t').insert(0, 'one');
    client.getText('t').insert(3, 'two');
    const bad = await rawClient(srv.url, docId, await fx.token(owner, docId));
    await waitFor(() => bad.received.length > 0, { what: 'handshake' });
    const before = bad.received.length;
    bad.ws.send(encode.update(updates[1]!)); // 'two' without 'one': clock 3 when the server holds 0
    // The server answers with its sync step 1 ([0, 0, ...]).
    await waitFor(() => bad.received.slice(before).some((f) => f[0] === 0 && f[1] === 0), { what: 'resync request' });
    expect(storedRows()).toBe(rows);
    expect(b.doc.getText('t').toString()).not.toContain('two');
    bad.ws.close();
    await othersUnaffected(rows);
  });

  it('an honest client that lost an update catches up through the resync', async () => {
    const p = provider(srv.url, docId, await fx.token(owner, docId));
    await synced(p);
    // Drop one outgoing update on the floor, as a flaky network would, then keep typing.
    const ws = p.ws!;
    const realSend = ws.send.bind(ws);
    let dropped = false;
    ws.send = ((data: Uint8Array) => {
      if (!dropped && data[0] === 0 && data[1] === 2) {
        dropped = true;
        return;
      }
      realSend(data);
    }) as typeof ws.send;
    p.doc.getText('t').insert(0, 'lost-');
    p.doc.getText('t').insert(0, 'next-');
    await waitFor(() => sameState(p.doc, b.doc), { what: 'resync filled the gap' });
    expect(b.doc.getText('t').toString()).toContain('next-lost-');
    p.destroy();
  });
});
