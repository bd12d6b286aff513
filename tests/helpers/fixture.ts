/**
 * Test fixture: a temporary data directory with the real SQLite database and token keys, seeded
 * users and documents, token minting, and collab-servers either in this process (for white-box
 * assertions) or as a child process (for SIGKILL/SIGTERM).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { Writable } from 'node:stream';
import WebSocket from 'ws';
import * as Y from 'yjs';
import { WebsocketProvider } from 'y-websocket';
import { ensureKeyFiles, importPrivateKey, importPublicKey } from '../../lib/keys';
import { signCollabToken } from '../../lib/token';
import { newId } from '../../lib/ids';
import { createLogger } from '../../observability/logger';
import { createCollabMetrics } from '../../observability/metrics';
import { createSqliteAclStore } from '../../collab-server/acl-store';
import { createSqliteAuditSink } from '../../collab-server/audit';
import { createTokenAuthenticator } from '../../collab-server/auth';
import { createSqliteDocStore, openSqlite, type SqliteDb } from '../../collab-server/persistence/sqlite';
import { createCollabServer, type CollabServer, type CollabServerOptions } from '../../collab-server/server';
import { waitFor } from './wait';

export const ROOT = resolve(import.meta.dirname, '../..');

export interface Fixture {
  dir: string;
  db: SqliteDb;
  /** Create a user row; returns its id. */
  user(opts?: { name?: string; isAdmin?: boolean }): string;
  /** Create a document owned by `ownerId`; returns its id. */
  doc(ownerId: string, opts?: { general?: 'viewer' | 'editor' | null; id?: string }): string;
  /** Set (or remove, with null) a grant, bumping the ACL version and writing the change feed. */
  grant(docId: string, userId: string, role: 'viewer' | 'editor' | null): void;
  token(userId: string, docId: string, ttlSeconds?: number): Promise<string>;
  cleanup(): void;
}

export async function createFixture(): Promise<Fixture> {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-test-'));
  const db = openSqlite(join(dir, 'tandem.db'));
  const keys = await ensureKeyFiles(join(dir, 'keys'));
  const priv = await importPrivateKey(keys.privatePem);
  const names = new Map<string, string>();
  const bump = (docId: string) => {
    db.prepare('UPDATE docs SET acl_version = acl_version + 1, updated_at = ? WHERE id = ?').run(Date.now(), docId);
    const v = db.prepare<[string], { acl_version: number }>('SELECT acl_version FROM docs WHERE id = ?').get(docId)!.acl_version;
    db.prepare('INSERT INTO acl_changes (doc_id, version, at) VALUES (?, ?, ?)').run(docId, v, Date.now());
  };
  return {
    dir,
    db,
    user(opts = {}) {
      const id = newId();
      const name = opts.name ?? `User ${id.slice(0, 4)}`;
      names.set(id, name);
      db.prepare('INSERT INTO users (id, email, name, password_hash, is_admin, created_at) VALUES (?, ?, ?, ?, ?, ?)').run(
        id,
        `${id}@example.test`,
        name,
        'x',
        opts.isAdmin ? 1 : 0,
        Date.now(),
      );
      return id;
    },
    doc(ownerId, opts = {}) {
      const id = opts.id ?? newId();
      db.prepare('INSERT INTO docs (id, title, owner_id, general_access, acl_version, created_at, updated_at) VALUES (?, ?, ?, ?, 1, ?, ?)').run(
        id,
        'Test doc',
        ownerId,
        opts.general ?? null,
        Date.now(),
        Date.now(),
      );
      return id;
    },
    grant(docId, userId, role) {
      if (role) db.prepare('INSERT INTO grants (doc_id, user_id, role) VALUES (?, ?, ?) ON CONFLICT(doc_id, user_id) DO UPDATE SET role = excluded.role').run(docId, userId, role);
      else db.prepare('DELETE FROM grants WHERE doc_id = ? AND user_id = ?').run(docId, userId);
      bump(docId);
    },
    async token(userId, docId, ttlSeconds = 300) {
      return (await signCollabToken(priv, { sub: userId, name: names.get(userId) ?? 'someone', doc: docId }, { ttlSeconds })).token;
    },
    cleanup() {
      try {
        db.close();
      } catch {
        /* already closed */
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Collected log lines of an in-process server, for assertions. */
export class LogSink extends Writable {
  lines: Record<string, unknown>[] = [];
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    for (const l of chunk.toString().split('\n')) if (l.trim()) this.lines.push(JSON.parse(l));
    cb();
  }
}

export interface InProcessServer {
  server: CollabServer;
  port: number;
  url: string;
  logs: LogSink;
  metrics: ReturnType<typeof createCollabMetrics>;
  close(): Promise<void>;
}

/** The options every in-process test server shares (SQLite here, PostgreSQL in pg-fixture.ts). */
export function testServerDefaults(audit: { record(e: { actorId: string | null; action: string; docId: string | null; detail?: unknown }): void }) {
  return {
    maxMessageBytes: 1024 * 1024,
    sendBufferCap: 8 * 1024 * 1024,
    keepaliveMs: 30_000,
    compactAfterUpdates: 500,
    compactIdleMs: 10_000,
    shutdownTimeoutMs: 5_000,
    allowedOrigins: [] as string[],
    preauth: { maxFrames: 64, maxBytes: 2 * 1024 * 1024, timeoutMs: 10_000 },
    onRefusedWrite: (conn: { userId: string; docId: string }, reason: string, count: number) =>
      audit.record({ actorId: conn.userId, action: 'write.refused', docId: conn.docId, detail: { reason, count } }),
  };
}

/** A collab-server in this process on port 0, over the fixture's database (a second handle, as in production). */
export async function startServer(fx: Fixture, overrides: Partial<CollabServerOptions> = {}): Promise<InProcessServer> {
  const db = openSqlite(join(fx.dir, 'tandem.db'));
  const logs = new LogSink();
  const log = createLogger({ service: 'collab-server', instance: 'test', level: 'debug', destination: logs });
  const metrics = createCollabMetrics({ defaultMetrics: false });
  const acl = createSqliteAclStore(db, 50);
  const pub = await importPublicKey((await ensureKeyFiles(join(fx.dir, 'keys'))).publicPem);
  const audit = createSqliteAuditSink(db);
  const server = createCollabServer({
    store: createSqliteDocStore(db),
    acl,
    auth: createTokenAuthenticator(pub, acl),
    metrics,
    log,
    ...testServerDefaults(audit),
    ...overrides,
  });
  const port = await server.listen(0, '127.0.0.1');
  return {
    server,
    port,
    url: `ws://127.0.0.1:${port}`,
    logs,
    metrics,
    async close() {
      await server.close();
      db.close();
    },
  };
}

export interface ChildServer {
  proc: ChildProcess;
  port: number;
  url: string;
  output: string[];
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
}

/** collab-server as a real child process (`node --import tsx collab-server/main.ts`). */
export async function spawnServer(fx: Pick<Fixture, 'dir'>, env: Record<string, string> = {}, port = 0): Promise<ChildServer> {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'collab-server/main.ts')], {
    cwd: ROOT,
    env: { ...process.env, DATA_DIR: fx.dir, COLLAB_PORT: String(port), COLLAB_HOST: '127.0.0.1', LOG_LEVEL: 'info', ACL_POLL_MS: '50', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  let buf = '';
  const ready = new Promise<number>((resolvePort, reject) => {
    proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        output.push(line);
        if (line.includes('"collab-server ready"')) resolvePort(JSON.parse(line).port);
      }
    });
    proc.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
    void exited.then((code) => reject(new Error(`collab-server exited with ${code}: ${output.join('\n')}`)));
  });
  const p = await ready;
  return { proc, port: p, url: `ws://127.0.0.1:${p}`, output, exited };
}

/** A stock y-websocket provider (Node, `ws` polyfill, no BroadcastChannel). */
export function provider(url: string, docId: string, token: string, doc = new Y.Doc(), opts: { connect?: boolean } = {}): WebsocketProvider {
  return new WebsocketProvider(url, docId, doc, {
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    params: { token },
    disableBc: true,
    connect: opts.connect ?? true,
  });
}

export const synced = (p: WebsocketProvider, timeout = 10_000) => waitFor(() => p.synced, { timeout, what: 'provider synced' });

/**
 * Converged: the same state vector (every struct) and the same delete set. Compared on the encoded
 * structures, not on text; byte-comparing whole updates would be wrong because Yjs writes the
 * delete set in map insertion order, which differs between replicas.
 */
export function sameState(a: Y.Doc, b: Y.Doc): boolean {
  const sa = Y.decodeStateVector(Y.encodeStateVector(a));
  const sb = Y.decodeStateVector(Y.encodeStateVector(b));
  if (sa.size !== sb.size) return false;
  for (const [k, v] of sa) if (sb.get(k) !== v) return false;
  return Y.equalDeleteSets(Y.createDeleteSetFromStructStore(a.store), Y.createDeleteSetFromStructStore(b.store));
}

export { waitFor };
