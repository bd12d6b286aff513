// The Quick start's promise: `npm start` on a fresh data directory serves the whole product on
// SQLite with no other setup, and a new user can set the instance up (one-time token from the
// output), create a document and edit it.
import { afterAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import * as Y from 'yjs';
import { WebsocketProvider } from 'y-websocket';
import { ROOT, sameState } from '../helpers/fixture';
import { waitFor } from '../helpers/wait';
import { freePort } from './harness';

let proc: ChildProcess | null = null;
const dataDir = mkdtempSync(join(tmpdir(), 'tandem-npm-start-'));
const output: string[] = [];

afterAll(async () => {
  if (proc && proc.exitCode === null) {
    const exited = new Promise((r) => proc!.once('exit', r));
    process.kill(-proc.pid!, 'SIGTERM'); // the whole group: npm, concurrently, next, collab-server
    const t = setTimeout(() => process.kill(-proc!.pid!, 'SIGKILL'), 15_000);
    await exited;
    clearTimeout(t);
  }
  rmSync(dataDir, { recursive: true, force: true });
});

describe('npm start', () => {
  it('serves the product on SQLite from an empty data directory; the first user sets it up with the printed token and edits', async () => {
    const [port, collabPort] = [await freePort(), await freePort()];
    proc = spawn('npm', ['start'], {
      cwd: ROOT,
      detached: true,
      env: { ...process.env, PORT: String(port), COLLAB_PORT: String(collabPort), DATA_DIR: dataDir, NEXT_DIST_DIR: '.next-npm-start', NEXT_TELEMETRY_DISABLED: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    proc.stdout!.on('data', (d: Buffer) => output.push(d.toString()));
    proc.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
    const base = `http://127.0.0.1:${port}`;
    // Fail fast if npm start dies (a build error) instead of polling until the deadline.
    const died = new Promise<never>((_, reject) => proc!.once('exit', (code) => reject(new Error(`npm start exited with ${code}`))));
    died.catch(() => {}); // teardown kills it later; that exit is not a failure
    await Promise.race([
      died,
      waitFor(async () => (await fetch(`${base}/signin`)).ok && (await fetch(`http://127.0.0.1:${collabPort}/readyz`)).ok, {
        timeout: 420_000,
        interval: 500,
        what: 'app and collab-server up',
      }),
    ]).catch((e: Error) => {
      throw new Error(`${e.message}\n${output.join('').slice(-4000)}`);
    });

    // A fresh instance has no admin: the first account is made on /setup with the one-time token
    // npm start printed (nobody who merely reaches the page first becomes admin).
    const setupToken = await waitFor(() => /one-time setup token to create the first admin: ([A-Za-z0-9_-]{16,})/.exec(output.join(''))?.[1], {
      timeout: 30_000,
      what: 'the setup token in npm start\'s output',
    });
    const t0 = Date.now();
    const setup = await fetch(`${base}/api/auth/setup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: base },
      body: JSON.stringify({ setupToken, email: 'new@example.test', name: 'New User', password: 'correct horse battery' }),
    });
    expect(setup.status, await setup.clone().text()).toBe(201);
    const cookie = setup.headers.get('set-cookie')!.split(';')[0]!;
    const auth = { cookie, 'content-type': 'application/json' };
    const { doc } = await (await fetch(`${base}/api/docs`, { method: 'POST', headers: auth, body: JSON.stringify({ title: 'First' }) })).json();
    expect((await fetch(`${base}/d/${doc.id}`, { headers: { cookie } })).status).toBe(200);

    const tok = await (await fetch(`${base}/api/docs/${doc.id}/token`, { method: 'POST', headers: auth })).json();
    expect(tok.url).toBe(`ws://127.0.0.1:${collabPort}`);
    const providers = [0, 1].map(
      () => new WebsocketProvider(tok.url, doc.id, new Y.Doc(), { WebSocketPolyfill: WebSocket as never, params: { token: tok.token }, disableBc: true }),
    );
    try {
      providers[0]!.doc.getText('t').insert(0, 'hello from npm start');
      await waitFor(() => providers.every((p) => p.synced) && sameState(providers[0]!.doc, providers[1]!.doc) && providers[1]!.doc.getText('t').length > 0, {
        timeout: 20_000,
        what: 'two providers co-edit',
      });
    } finally {
      providers.forEach((p) => p.destroy());
    }
    console.log(`npm start: setup to first co-edit took ${Date.now() - t0} ms`);
    expect(Date.now() - t0).toBeLessThan(60_000);
  }, 600_000);
});
