/**
 * The editor in real Chromium through nginx (the shipped template) in front of 2 app instances and
 * 3 collab-servers on PostgreSQL + Redis: pages and API calls are balanced over the apps, the
 * editor's socket goes to ws://<nginx>/collab/<docId>, both users' sockets land on one instance,
 * and when that instance is SIGKILLed the editors reconnect through nginx to another one.
 *
 * Path of an edit: browser A → nginx → collab-server X → browser B (one instance by the hash);
 * after the kill: browser A → nginx → collab-server Y (document loaded from the PostgreSQL log) → B.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { useCluster } from '../helpers/cluster';
import { ConsoleWatch, editorText, waitFor } from './harness';

const c = useCluster({ instances: 3, apps: 2 });
let browser: Browser;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
}, 300_000);

afterAll(async () => {
  for (const ctx of contexts) await ctx.close().catch(() => undefined);
  await browser?.close().catch(() => undefined);
}, 60_000);

interface BrowserUser {
  email: string;
  page: Page;
  context: BrowserContext;
  console: ConsoleWatch;
  /** WebSocket URLs the page opened, in order. */
  sockets: string[];
}

/** A browser context signed up through nginx (the API is on the app instances behind it). */
async function signedUp(name: string): Promise<BrowserUser> {
  const context = await browser.newContext({ baseURL: c.appUrl });
  contexts.push(context);
  const page = await context.newPage();
  const watch = new ConsoleWatch(page, name);
  const sockets: string[] = [];
  page.on('websocket', (ws) => sockets.push(ws.url()));
  const email = `${name.toLowerCase()}.${Date.now().toString(36)}@example.test`;
  const r = await context.request.post('/api/auth/signup', { data: { email, name, password: 'correct horse battery' } });
  expect(r.status(), await r.text()).toBe(201);
  return { email, page, context, console: watch, sockets };
}

async function openDoc(u: BrowserUser, id: string) {
  await u.page.goto(`/d/${id}`);
  await u.page.locator('.tiptap').waitFor({ state: 'visible', timeout: 20_000 });
  await waitFor(async () => (await u.page.getByTestId('conn-status').getAttribute('data-status')) === 'connected', { timeout: 20_000, what: 'editor connected' });
}

async function typeAtEnd(u: BrowserUser, text: string) {
  await u.page.locator('.tiptap').click();
  await u.page.keyboard.press('Control+End');
  await u.page.keyboard.type(text);
}

/** Instance indexes holding sockets of `docId`. */
async function placement(docId: string): Promise<number[]> {
  const on: number[] = [];
  for (const inst of c.instances) {
    if (inst.proc.exitCode !== null || inst.proc.signalCode !== null) continue;
    for (const s of await c.sessions(inst.index)) if (s.docId === docId) on.push(inst.index);
  }
  return on;
}

describe('the editor in Chromium through nginx, 2 apps and 3 collab-servers', () => {
  test('two people edit one document through nginx; their sockets share one instance; a SIGKILLed instance is replaced on reconnect', async () => {
    const alice = await signedUp('Alice');
    const bob = await signedUp('Bob');
    const created = await alice.context.request.post('/api/docs', { data: { title: 'Through nginx' } });
    expect(created.status()).toBe(201);
    const docId = ((await created.json()) as { doc: { id: string } }).doc.id;
    const shared = await alice.context.request.put(`/api/docs/${docId}/access/grants/${encodeURIComponent(bob.email)}`, { data: { role: 'editor' } });
    expect(shared.ok(), await shared.text()).toBe(true);

    await openDoc(alice, docId);
    await openDoc(bob, docId);
    await typeAtEnd(alice, 'Hello from Alice');
    await waitFor(async () => (await editorText(bob.page)).includes('Hello from Alice'), { what: "Alice's text in Bob's editor" });
    await typeAtEnd(bob, ' and Bob');
    await waitFor(async () => (await editorText(alice.page)).includes('and Bob'), { what: "Bob's text in Alice's editor" });

    // The editors' sockets went to nginx's /collab/<docId>, and landed on one instance.
    for (const u of [alice, bob]) expect(u.sockets[0]).toMatch(new RegExp(`^${c.nginxUrl}/${docId}(\\?|$)`));
    const on = await waitFor(async () => {
      const p = await placement(docId);
      return p.length === 2 ? p : null;
    }, { what: 'both sockets listed' });
    expect(new Set(on).size).toBe(1);
    // Pages and API calls were balanced over both app instances.
    const log = readFileSync(join(c.nginx!.prefix, 'access.log'), 'utf8');
    const appUpstreams = new Set([...log.matchAll(/"(?:GET|POST|PUT) (?!\/collab\/)\S*" \d+ \d+ \S+ upstream=(\S+)/g)].map((m) => m[1]));
    expect([...appUpstreams].sort()).toEqual(c.apps.map((a) => `127.0.0.1:${a.port}`).sort());

    // SIGKILL the instance: both editors reconnect through nginx to a survivor and keep editing.
    const victim = on[0]!;
    const offline = [alice, bob].map((u) => u.console.allow(/WebSocket|ERR_CONNECTION|net::/));
    await c.kill(victim, 'SIGKILL');
    await typeAtEnd(alice, ' after the failover');
    await waitFor(async () => (await editorText(bob.page)).includes('after the failover'), { timeout: 20_000, what: 'edit after the failover reaches Bob' });
    const now = await waitFor(async () => {
      const p = await placement(docId);
      return p.length === 2 ? p : null;
    }, { what: 'both sockets on a survivor' });
    expect(now).not.toContain(victim);
    expect(await editorText(alice.page)).toBe(await editorText(bob.page));
    for (const f of offline) f();
    const problems = [alice, bob].flatMap((u) => u.console.problems);
    expect(problems, problems.join('\n')).toEqual([]);
  });
});
