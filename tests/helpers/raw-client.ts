/**
 * Raw-socket helpers for the security tests: a `ws` client that speaks the y-websocket protocol by
 * hand (so a test can send frames the stock provider never would), a decoder for what the server
 * sends (including Tandem's server → client extension messages), an authenticator whose answer a
 * test can hold back (to put frames in the pre-auth window deterministically), an upgrade counter,
 * and a reader of what the store holds for a document.
 */
import { join } from 'node:path';
import WebSocket from 'ws';
import * as Y from 'yjs';
import * as awarenessProtocol from 'y-protocols/awareness';
import * as decoding from 'lib0/decoding';
import { encode, MessageType, SyncType } from '../../lib/protocol';
import { ensureKeyFiles, importPrivateKey, importPublicKey } from '../../lib/keys';
import { createSqliteAclStore } from '../../collab-server/acl-store';
import { createTokenAuthenticator, type Authenticator } from '../../collab-server/auth';
import { openSqlite } from '../../collab-server/persistence/sqlite';
import type { Fixture, InProcessServer } from './fixture';
import { waitFor } from './wait';

/** What the server can send a client. */
export type Inbound =
  | { kind: 'sync-step1'; stateVector: Uint8Array }
  | { kind: 'sync-step2'; update: Uint8Array }
  | { kind: 'update'; update: Uint8Array }
  | { kind: 'awareness'; update: Uint8Array }
  | { kind: 'auth'; reason: string }
  | { kind: 'query-awareness' }
  | { kind: 'token-result'; ok: boolean; expiresAtSec: number; reason: string }
  | { kind: 'role'; role: string }
  | { kind: 'unknown'; type: number };

/** Decode one server → client frame. */
export function decodeServerFrame(data: Uint8Array): Inbound {
  const d = decoding.createDecoder(data);
  const type = decoding.readVarUint(d);
  switch (type) {
    case MessageType.SYNC: {
      const sub = decoding.readVarUint(d);
      const bytes = decoding.readVarUint8Array(d);
      if (sub === SyncType.STEP1) return { kind: 'sync-step1', stateVector: bytes };
      if (sub === SyncType.STEP2) return { kind: 'sync-step2', update: bytes };
      return { kind: 'update', update: bytes };
    }
    case MessageType.AWARENESS:
      return { kind: 'awareness', update: decoding.readVarUint8Array(d) };
    case MessageType.AUTH:
      decoding.readVarUint(d);
      return { kind: 'auth', reason: decoding.readVarString(d) };
    case MessageType.QUERY_AWARENESS:
      return { kind: 'query-awareness' };
    case MessageType.TOKEN_RESULT: {
      const ok = decoding.readVarUint(d) === 1;
      const expiresAtSec = decoding.readVarUint(d);
      return { kind: 'token-result', ok, expiresAtSec, reason: decoding.readVarString(d) };
    }
    case MessageType.ROLE:
      return { kind: 'role', role: decoding.readVarString(d) };
    default:
      return { kind: 'unknown', type };
  }
}

/** Origin tag for updates the raw client applied from the server (so they are not sent back). */
export const FROM_SERVER = Symbol('from-server');

export interface Handshake {
  ok: boolean;
  /** HTTP status when the upgrade was refused. */
  status?: number;
  body?: string;
  /** Subprotocol the server chose (ws' `protocol`), '' if none. */
  protocol?: string;
  /** Raw Sec-WebSocket-Protocol response header. */
  protocolHeader?: string;
}

export interface RawClientOptions {
  token?: string;
  /** Offered subprotocols (Sec-WebSocket-Protocol). */
  protocols?: string[];
  origin?: string;
  /** A Y.Doc to edit (e.g. with a chosen clientID). */
  doc?: Y.Doc;
  /** Send sync step 1 on open and answer the server's step 1 (default true). */
  autoSync?: boolean;
  /** Send local doc updates as they happen (default true). */
  autoSend?: boolean;
  /** Send EXT_HELLO on open. */
  ext?: boolean;
}

export class RawClient {
  readonly ws: WebSocket;
  readonly doc: Y.Doc;
  readonly awareness: awarenessProtocol.Awareness;
  readonly received: { at: number; msg: Inbound }[] = [];
  readonly handshake: Promise<Handshake>;
  readonly closed: Promise<{ code: number; reason: string; at: number }>;
  closeInfo: { code: number; reason: string; at: number } | null = null;

  constructor(url: string, docId: string, opts: RawClientOptions = {}) {
    const qs = opts.token !== undefined ? `?token=${encodeURIComponent(opts.token)}` : '';
    this.doc = opts.doc ?? new Y.Doc();
    this.awareness = new awarenessProtocol.Awareness(this.doc);
    this.awareness.setLocalState(null);
    const ws = new WebSocket(`${url}/${docId}${qs}`, opts.protocols ?? [], opts.origin ? { origin: opts.origin } : {});
    this.ws = ws;
    let protocolHeader = '';
    ws.on('upgrade', (res) => {
      protocolHeader = String(res.headers['sec-websocket-protocol'] ?? '');
    });
    this.handshake = new Promise<Handshake>((resolve) => {
      ws.on('open', () => {
        resolve({ ok: true, protocol: ws.protocol, protocolHeader });
        if (opts.ext) ws.send(encode.extHello('raw-test-client'));
        if (opts.autoSync ?? true) ws.send(encode.syncStep1(Y.encodeStateVector(this.doc)));
      });
      ws.on('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ ok: false, status: res.statusCode, body }));
        res.on('error', () => resolve({ ok: false, status: res.statusCode, body }));
      });
      ws.on('error', () => resolve({ ok: false }));
    });
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString(), at: Date.now() };
        resolve(this.closeInfo);
      });
    });
    ws.on('message', (data: Buffer) => {
      const msg = decodeServerFrame(new Uint8Array(data));
      this.received.push({ at: Date.now(), msg });
      if (msg.kind === 'sync-step2' || msg.kind === 'update') Y.applyUpdate(this.doc, msg.update, FROM_SERVER);
      else if (msg.kind === 'sync-step1' && (opts.autoSync ?? true)) {
        this.send(encode.syncStep2(Y.encodeStateAsUpdate(this.doc, msg.stateVector)));
      } else if (msg.kind === 'awareness') awarenessProtocol.applyAwarenessUpdate(this.awareness, msg.update, FROM_SERVER);
    });
    this.doc.on('update', (u: Uint8Array, origin: unknown) => {
      if (origin !== FROM_SERVER && (opts.autoSend ?? true)) this.send(encode.update(u));
    });
  }

  send(frame: Uint8Array): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(frame);
  }

  /** Messages of one kind received so far. */
  of<K extends Inbound['kind']>(kind: K): Extract<Inbound, { kind: K }>[] {
    return this.received.filter((r) => r.msg.kind === kind).map((r) => r.msg as Extract<Inbound, { kind: K }>);
  }

  /** The server authorized us: it only starts the handshake (its sync step 1) after authorization. */
  get authorized(): boolean {
    return this.received.some((r) => r.msg.kind === 'sync-step1');
  }

  /** Wait for the server's sync step 2 (we hold the document as it was). */
  synced(timeout = 10_000): Promise<boolean> {
    return waitFor(() => this.received.some((r) => r.msg.kind === 'sync-step2'), { timeout, what: 'raw client synced' });
  }

  close(): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.terminate();
    this.awareness.destroy();
  }
}

/** Connect a raw client and wait for the upgrade to finish (resolves even when refused). */
export async function rawConnect(url: string, docId: string, opts: RawClientOptions = {}): Promise<RawClient> {
  const c = new RawClient(url, docId, opts);
  await c.handshake;
  return c;
}

/** The fixture's signing key (to mint admin tokens and hand-crafted collab tokens). */
export async function fixtureKeys(fx: Fixture) {
  const files = await ensureKeyFiles(join(fx.dir, 'keys'));
  return { privateKey: await importPrivateKey(files.privatePem), publicKey: await importPublicKey(files.publicPem), publicPem: files.publicPem };
}

/**
 * The real token authenticator, except that `authenticate` for a held token waits until the test
 * releases it. Puts frames into the pre-authorization window without racing the server.
 */
export async function gatedAuth(fx: Fixture) {
  const db = openSqlite(join(fx.dir, 'tandem.db'));
  const real = createTokenAuthenticator((await fixtureKeys(fx)).publicKey, createSqliteAclStore(db, 50));
  const gates = new Map<string, { promise: Promise<void>; release: () => void; arrived: boolean }>();
  const auth: Authenticator = {
    ...real,
    async authenticate(token, docId) {
      const g = token ? gates.get(token) : undefined;
      if (g) {
        g.arrived = true;
        await g.promise;
      }
      return real.authenticate(token, docId);
    },
  };
  return {
    auth,
    /** Hold authorization of sockets presenting `token` until `release()`. */
    hold(token: string) {
      let release!: () => void;
      const promise = new Promise<void>((r) => (release = r));
      const g = { promise, release, arrived: false };
      gates.set(token, g);
      return g;
    },
    releaseAll() {
      for (const g of gates.values()) g.release();
    },
    close() {
      this.releaseAll();
      db.close();
    },
  };
}

/** Record every HTTP upgrade request the server sees (its URL), e.g. to count reconnect attempts. */
export function upgradeLog(srv: InProcessServer): string[] {
  const urls: string[] = [];
  srv.server.http.on('upgrade', (req: { url?: string }) => urls.push(req.url ?? ''));
  return urls;
}

/** The document as the store holds it (snapshot + update log), read from SQLite. */
export function storedDoc(fx: Fixture, docId: string): Y.Doc {
  const d = new Y.Doc();
  const snap = fx.db.prepare<[string], { data: Buffer }>('SELECT data FROM doc_snapshots WHERE doc_id = ?').get(docId);
  if (snap) Y.applyUpdate(d, new Uint8Array(snap.data));
  for (const r of fx.db.prepare<[string], { data: Buffer }>('SELECT data FROM doc_updates WHERE doc_id = ? ORDER BY seq').all(docId)) {
    Y.applyUpdate(d, new Uint8Array(r.data));
  }
  return d;
}

/** Number of rows in the update log for a document. */
export function storedUpdateCount(fx: Fixture, docId: string): number {
  return fx.db.prepare<[string], { n: number }>('SELECT COUNT(*) AS n FROM doc_updates WHERE doc_id = ?').get(docId)!.n;
}

/** Current value of a prom-client counter (summed over labels). */
export async function counterValue(c: { get(): Promise<{ values: { value: number }[] }> }): Promise<number> {
  return (await c.get()).values.reduce((a, v) => a + v.value, 0);
}
