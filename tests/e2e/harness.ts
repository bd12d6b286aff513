/**
 * End-to-end harness: builds the app once per run (`next build`), starts `next start` and a
 * collab-server child process on free loopback ports over one temporary DATA_DIR, launches Debian's
 * Chromium through playwright-core, and tears everything down. Each user gets its own browser
 * context (separate cookies, IndexedDB and no BroadcastChannel shortcut between users).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type BrowserContext, type ConsoleMessage, type Page } from 'playwright-core';
import { waitFor } from '../helpers/wait';
import { HARNESS_APP_ENV } from '../helpers/harness-env';

export const ROOT = resolve(import.meta.dirname, '../..');
export const SCREENSHOTS = join(ROOT, 'tests/e2e/screenshots');

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

export const E2E_TOKEN_TTL_SECONDS = 15;

/** A free TCP port on loopback (bound then released; the child binds it right after). */
export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => res(port));
    });
  });
}

interface Child {
  proc: ChildProcess;
  output: string[];
}


function startChild(cmd: string, args: string[], env: Record<string, string>): Child {
  const proc = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: false });
  const output: string[] = [];
  const keep = (d: Buffer) => {
    output.push(d.toString());
    if (output.length > 400) output.splice(0, output.length - 400);
  };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  return { proc, output };
}

async function stopChild(c: Child | null): Promise<void> {
  if (!c || c.proc.exitCode !== null || c.proc.signalCode !== null) return;
  const exited = new Promise<void>((r) => c.proc.once('exit', () => r()));
  c.proc.kill('SIGTERM');
  const t = setTimeout(() => c.proc.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(t);
}

export interface Stack {
  baseUrl: string;
  collabPort: number;
  dataDir: string;
  browser: Browser;
  appOutput: string[];
  collabOutput: string[];
  /** Stop collab-server (SIGTERM: it closes sockets with 1012), and resolve a function that starts it again on the same port. */
  stopCollab(): Promise<() => Promise<void>>;
  stop(): Promise<void>;
}

/**
 * Build (unless E2E_SKIP_BUILD=1 and a build exists), then start collab-server and the app.
 * collab-server starts first; the app creates the token key pair in DATA_DIR before it signs its first
 * token (collab-server only ever reads public keys, and picks the new pair up by itself).
 */
export async function startStack(opts: { distDir?: string; appEnv?: Record<string, string>; collabEnv?: Record<string, string> } = {}): Promise<Stack> {
  // A file that builds into its own directory (next.config.js reads NEXT_DIST_DIR) can run beside
  // the others without two `next build`s writing one `.next`.
  const dist: Record<string, string> = opts.distDir ? { NEXT_DIST_DIR: opts.distDir } : {};
  if (process.env.E2E_SKIP_BUILD !== '1') {
    const r = spawnSync(process.execPath, [join(ROOT, 'node_modules/next/dist/bin/next'), 'build'], {
      cwd: ROOT,
      env: { ...process.env, NEXT_TELEMETRY_DISABLED: '1', ...dist },
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    if (r.status !== 0) throw new Error(`next build failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'tandem-e2e-'));
  const collabPort = await freePort();
  const appPort = await freePort();
  let collab: Child | null = null;
  let app: Child | null = null;
  let browser: Browser | null = null;
  const collabOutput: string[] = [];
  const startCollab = async (): Promise<Child> => {
    const c = startChild(process.execPath, ['--import', 'tsx', join(ROOT, 'collab-server/main.ts')], {
      DATA_DIR: dataDir,
      COLLAB_PORT: String(collabPort),
      COLLAB_HOST: '127.0.0.1',
      // The browser's pages come from the app: the only Origin collab-server should admit.
      ALLOWED_ORIGINS: `http://127.0.0.1:${appPort}`,
      ACL_POLL_MS: '50',
      LOG_LEVEL: process.env.E2E_COLLAB_LOG_LEVEL ?? 'warn',
      ...opts.collabEnv,
    });
    c.output = collabOutput;
    c.proc.stdout!.removeAllListeners('data');
    c.proc.stderr!.removeAllListeners('data');
    let ready = false;
    const keep = (d: Buffer) => {
      const t = d.toString();
      if (t.includes('"collab-server ready"')) ready = true;
      collabOutput.push(t);
      if (collabOutput.length > 400) collabOutput.splice(0, collabOutput.length - 400);
    };
    c.proc.stdout!.on('data', keep);
    c.proc.stderr!.on('data', keep);
    await waitFor(() => ready || (c.proc.exitCode !== null && Promise.reject(new Error('exited'))), {
      timeout: 30_000,
      interval: 50,
      what: 'collab-server ready',
    }).catch((err) => {
      throw new Error(`${(err as Error).message}\n${collabOutput.join('')}`);
    });
    return c;
  };
  try {
    collab = await startCollab();
    app = startChild(process.execPath, [join(ROOT, 'node_modules/next/dist/bin/next'), 'start', '-p', String(appPort), '-H', '127.0.0.1'], {
      DATA_DIR: dataDir,
      COLLAB_PORT: String(collabPort),
      COLLAB_HTTP_URL: `http://127.0.0.1:${collabPort}`,
      PASSWORD_SCRYPT_LOG2N: '14',
      // Browsers sign many users up from one address: no mailed links, no per-address limits;
      // the first admin is created on /setup with this token.
      ...HARNESS_APP_ENV,
      // Short-lived collab tokens: every scenario also exercises in-band renewal, and an expired
      // session shows its banner within a test's time.
      COLLAB_TOKEN_TTL_SECONDS: String(E2E_TOKEN_TTL_SECONDS),
      LOG_LEVEL: 'warn',
      NEXT_TELEMETRY_DISABLED: '1',
      ...dist,
      ...opts.appEnv,
    });
    const a = app;
    const baseUrl = `http://127.0.0.1:${appPort}`;
    await waitFor(
      async () => {
        if (a.proc.exitCode !== null) throw new Error(`next start exited: ${a.output.join('')}`);
        const r = await fetch(`${baseUrl}/signin`);
        return r.ok;
      },
      { timeout: 60_000, interval: 100, what: 'next start serving' },
    );
    browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: CHROMIUM_ARGS });
    const b = browser;
    return {
      baseUrl,
      collabPort,
      dataDir,
      browser: b,
      appOutput: a.output,
      collabOutput,
      async stopCollab() {
        await stopChild(collab);
        return async () => {
          collab = await startCollab();
        };
      },
      async stop() {
        await b.close().catch((err: unknown) => console.error('closing chromium failed', err));
        await stopChild(a);
        await stopChild(collab);
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await browser?.close().catch(() => undefined);
    await stopChild(app);
    await stopChild(collab);
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
}

/** Console errors, page errors and hydration warnings a page produced; tests fail on any not allowed. */
export class ConsoleWatch {
  readonly problems: string[] = [];
  private allowed: RegExp[] = [];
  constructor(page: Page, label: string) {
    page.on('console', (m: ConsoleMessage) => {
      const text = m.text();
      const bad = m.type() === 'error' || /hydrat/i.test(text);
      if (bad && !this.allowed.some((r) => r.test(text))) this.problems.push(`[${label}] console.${m.type()}: ${text} @ ${m.location().url}`);
    });
    page.on('pageerror', (err) => this.problems.push(`[${label}] page error: ${err.message}`));
  }
  /** Allow messages matching `re` (e.g. the browser's own network errors while a test is offline). */
  allow(re: RegExp): () => void {
    this.allowed.push(re);
    return () => {
      this.allowed = this.allowed.filter((r) => r !== re);
    };
  }
}

export interface User {
  email: string;
  name: string;
  password: string;
  id: string;
  context: BrowserContext;
  page: Page;
  console: ConsoleWatch;
  /** Every WebSocket the page opened to collab-server (URLs), in order. */
  sockets: string[];
}

/** A new browser context and page for one user, watching its console and its collab sockets. */
export async function newUser(stack: Stack, name: string, viewport = { width: 1280, height: 800 }): Promise<Omit<User, 'id'>> {
  const context = await stack.browser.newContext({ viewport, baseURL: stack.baseUrl });
  const page = await context.newPage();
  const watch = new ConsoleWatch(page, name);
  const sockets: string[] = [];
  page.on('websocket', (ws) => {
    if (ws.url().includes(`:${stack.collabPort}/`)) sockets.push(ws.url());
  });
  const email = `${name.toLowerCase()}.${Date.now().toString(36)}@example.test`;
  return { email, name, password: 'correct horse battery', context, page, console: watch, sockets };
}

/** Sign up through the API (sharing the context's cookie jar), for users whose sign-up is not under test. */
export async function signUpViaApi(u: Omit<User, 'id'>): Promise<User> {
  const r = await u.context.request.post('/api/auth/signup', { data: { email: u.email, name: u.name, password: u.password } });
  if (!r.ok()) throw new Error(`signup failed: ${r.status()} ${await r.text()}`);
  const body = (await r.json()) as { user: { id: string } };
  return { ...u, id: body.user.id };
}

/** Text of the ProseMirror document, without the caret labels other users' carets add to the DOM. */
export async function editorText(page: Page): Promise<string> {
  return page.locator('.tiptap').evaluate((el) => {
    const clone = el.cloneNode(true) as HTMLElement;
    clone.querySelectorAll('.collaboration-carets__caret').forEach((c) => c.remove());
    return Array.from(clone.children)
      .map((c) => c.textContent ?? '')
      .join('\n');
  });
}

export { waitFor };
