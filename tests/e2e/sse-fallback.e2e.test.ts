/**
 * When WebSockets are blocked the editor still co-edits, over SSE + POST, and says so (issue 15).
 * A proxy in front of collab-server (tests/helpers/upgrade-gate.ts) refuses every upgrade, as a
 * corporate proxy does; two browsers open one document, fall back to SSE (the status line says
 * "HTTP fallback"), and co-edit. Then upgrades work again: both return to WebSocket (a probe gets
 * through) and nothing typed before, during or after the switch is lost.
 *
 * Path: Chromium → gate (HTTP passes, upgrades refused) → collab-server /sse/<doc> → the other Chromium.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startUpgradeGate, type UpgradeGate } from '../helpers/upgrade-gate';
import { editorText, newUser, signUpViaApi, startStack, waitFor, type Stack, type User } from './harness';

let stack: Stack;
let gate: UpgradeGate;
let alice: User;
let bob: User;

beforeAll(async () => {
  gate = await startUpgradeGate();
  gate.blockUpgrades = true;
  // The browsers reach collab-server only through the gate; its own build dir runs beside the other e2e files.
  stack = await startStack({ distDir: '.next-e2e-sse', appEnv: { COLLAB_PUBLIC_URL: gate.wsUrl } });
  gate.target = stack.collabPort;
}, 300_000);

afterAll(async () => {
  for (const u of [alice, bob]) await u?.context.close().catch(() => undefined);
  await stack?.stop();
  await gate?.close();
}, 60_000);

const transportOf = (u: User) => u.page.getByTestId('conn-status').getAttribute('data-transport');

async function openDoc(u: User, id: string) {
  await u.page.goto(`/d/${id}`);
  await u.page.locator('.tiptap').waitFor({ state: 'visible', timeout: 20_000 });
  await waitFor(async () => (await u.page.getByTestId('conn-status').getAttribute('data-status')) === 'connected', { timeout: 20_000, what: `${u.name} connected` }).catch((err: Error) => {
    throw new Error(`${err.message}\n${u.console.problems.join('\n')}\n${stack.collabOutput.slice(-20).join('')}`);
  });
}

async function typeAtEnd(u: User, text: string) {
  await u.page.locator('.tiptap').click();
  await u.page.keyboard.press('Control+End');
  await u.page.keyboard.type(text);
}

describe('SSE fallback in the browser', () => {
  test('with upgrades refused the editor co-edits over SSE and shows it; when they work again it returns to WebSocket without losing edits', async () => {
    alice = await signUpViaApi(await newUser(stack, 'Alice'));
    bob = await signUpViaApi(await newUser(stack, 'Bob'));
    // The refused upgrades are the browser's own console errors; nothing else may appear.
    for (const u of [alice, bob]) u.console.allow(/WebSocket connection to .* failed|ERR_CONNECTION|status of 40[34]/);
    const created = (await (await alice.context.request.post('/api/docs', { data: { title: 'Behind a proxy' } })).json()) as { doc: { id: string } };
    const docId = created.doc.id;
    await alice.context.request.put(`/api/docs/${docId}/access/grants/${encodeURIComponent(bob.email)}`, { data: { role: 'editor' } });

    await openDoc(alice, docId);
    await openDoc(bob, docId);
    expect(await transportOf(alice)).toBe('sse');
    expect(await transportOf(bob)).toBe('sse');
    await expect.poll(() => alice.page.getByTestId('conn-status').textContent()).toContain('HTTP fallback');
    expect(gate.refused).toBeGreaterThan(0);

    await typeAtEnd(alice, 'Alice over SSE. ');
    await waitFor(async () => (await editorText(bob.page)).includes('Alice over SSE.'), { timeout: 10_000, what: 'Bob sees Alice over SSE' });
    await typeAtEnd(bob, 'Bob over SSE. ');
    await waitFor(async () => (await editorText(alice.page)).includes('Bob over SSE.'), { timeout: 10_000, what: 'Alice sees Bob over SSE' });

    // The proxy lets WebSockets through again: the next probe (10 s, then 20 s…) switches both back.
    gate.blockUpgrades = false;
    await typeAtEnd(alice, 'During the switch. ');
    await waitFor(async () => (await transportOf(alice)) === 'websocket' && (await transportOf(bob)) === 'websocket', { timeout: 45_000, interval: 250, what: 'both back on WebSocket' });
    await waitFor(async () => (await alice.page.getByTestId('conn-status').getAttribute('data-status')) === 'connected', { timeout: 10_000, what: 'connected' });
    await typeAtEnd(bob, 'Bob over WebSocket.');
    const all = ['Alice over SSE.', 'Bob over SSE.', 'During the switch.', 'Bob over WebSocket.'];
    for (const u of [alice, bob]) {
      await waitFor(async () => {
        const t = await editorText(u.page);
        return all.every((s) => t.includes(s));
      }, { timeout: 10_000, what: `${u.name} has every edit` });
    }
    expect(await alice.page.getByTestId('conn-status').textContent()).not.toContain('HTTP fallback');
    expect([...alice.console.problems, ...bob.console.problems]).toEqual([]);
  }, 180_000);
});
