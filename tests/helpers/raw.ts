/** Raw WebSocket clients for crafting frames the stock provider never sends. */
import WebSocket from 'ws';
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { waitFor } from './wait';

export interface RawClient {
  ws: WebSocket;
  received: Uint8Array[];
  closed: Promise<{ code: number; reason: string }>;
  /** Write bytes straight to the TCP socket (for malformed frames). */
  writeRaw(bytes: Uint8Array): void;
}

export async function rawClient(url: string, docId: string, token: string, opts: { protocols?: string[]; headers?: Record<string, string> } = {}): Promise<RawClient> {
  const ws = new WebSocket(`${url}/${docId}?token=${encodeURIComponent(token)}`, opts.protocols, { headers: opts.headers });
  const received: Uint8Array[] = [];
  ws.on('message', (d: Buffer) => received.push(new Uint8Array(d)));
  ws.on('error', () => {});
  const closed = new Promise<{ code: number; reason: string }>((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString() })));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    ws.once('error', reject);
  });
  return {
    ws,
    received,
    closed,
    writeRaw(bytes) {
      (ws as unknown as { _socket: Socket })._socket.write(bytes);
    },
  };
}

/** A masked client frame with the given first byte (FIN/RSV/opcode) and payload. */
export function maskedFrame(firstByte: number, payload: Uint8Array): Uint8Array {
  const mask = randomBytes(4);
  const len = payload.length;
  const header = len < 126 ? Buffer.from([firstByte, 0x80 | len]) : Buffer.from([firstByte, 0x80 | 126, len >> 8, len & 0xff]);
  const body = Buffer.alloc(len);
  for (let i = 0; i < len; i++) body[i] = payload[i]! ^ mask[i % 4]!;
  return Buffer.concat([header, mask, body]);
}

/** Wait until the raw client has received a frame matching `pred`. */
export const receivedWhere = (c: RawClient, pred: (f: Uint8Array) => boolean, what = 'frame') =>
  waitFor(() => c.received.find(pred), { what });
