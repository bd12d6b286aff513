/**
 * Version history in Chromium: Alice names a version from the History panel, both keep writing,
 * she previews the named version, compares it with the current document (added and removed text
 * highlighted), restores it with the confirmation, and Bob's editor (another browser context,
 * through collab-server) shows the restored content; Alice's Ctrl+Z brings the newer text back for
 * both. Builds into its own dist dir so it can run beside the other e2e files.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { join } from 'node:path';
import { editorText, newUser, SCREENSHOTS, signUpViaApi, startStack, waitFor, type Stack, type User } from './harness';

let stack: Stack;
let alice: User;
let bob: User;

beforeAll(async () => {
  stack = await startStack({ distDir: '.next-e2e-versions' });
  alice = await signUpViaApi(await newUser(stack, 'Alice'));
  bob = await signUpViaApi(await newUser(stack, 'Bob'));
}, 300_000);

afterAll(async () => {
  for (const u of [alice, bob]) await u?.context.close().catch(() => undefined);
  await stack?.stop();
}, 60_000);

async function openDoc(u: User, id: string) {
  await u.page.goto(`/d/${id}`);
  await u.page.locator('.tiptap').waitFor({ state: 'visible', timeout: 20_000 });
  await waitFor(async () => (await u.page.getByTestId('conn-status').getAttribute('data-status')) === 'connected', { timeout: 20_000, what: `${u.name} connected` });
}

describe('version history', () => {
  test('open history, preview a version, see the comparison highlight, restore it, and see the other browser update', async () => {
    const created = (await (await alice.context.request.post('/api/docs', { data: { title: 'Minutes' } })).json()) as { doc: { id: string } };
    const docId = created.doc.id;
    const shared = await alice.context.request.put(`/api/docs/${docId}/access/grants/${encodeURIComponent(bob.email)}`, { data: { role: 'editor' } });
    expect(shared.ok(), await shared.text()).toBe(true);
    await openDoc(alice, docId);
    await openDoc(bob, docId);

    const ed = alice.page.locator('.tiptap');
    await ed.click();
    await alice.page.keyboard.type('Agreed: ship on Friday.');
    await waitFor(async () => (await editorText(bob.page)).includes('ship on Friday'), { what: 'Bob sees the first line' });

    // Name the current state from the History panel.
    await alice.page.getByTestId('history-button').click();
    const dialog = alice.page.getByTestId('history-dialog');
    await dialog.getByTestId('history-new-name').fill('Before the debate');
    await dialog.getByTestId('history-name-current').click();
    await dialog.getByText('Before the debate').waitFor({ timeout: 10_000 });
    await dialog.getByRole('button', { name: 'Close' }).click();

    // The document moves on: Friday becomes Monday, and Bob adds a line.
    await ed.click();
    await alice.page.keyboard.press('End');
    for (let i = 0; i < 'Friday.'.length; i++) await alice.page.keyboard.press('Backspace');
    await alice.page.keyboard.type('Monday.');
    await bob.page.locator('.tiptap').click();
    await bob.page.keyboard.press('Control+End');
    await bob.page.keyboard.press('Enter');
    await bob.page.keyboard.type('Bob: Monday works.');
    await waitFor(async () => (await editorText(alice.page)).includes('Monday works'), { what: 'Alice sees Bob' });

    // Preview the named version: the old text, read-only.
    await alice.page.getByTestId('history-button').click();
    await dialog.getByText('Before the debate').click();
    const preview = dialog.getByTestId('history-preview');
    await preview.waitFor();
    await waitFor(async () => (await preview.textContent())?.includes('ship on Friday') ?? false, { what: 'preview shows the named version' });
    expect(await preview.textContent()).not.toContain('Monday');

    // Compare with the current document: what was added since is marked, and what was removed.
    await waitFor(async () => {
      await dialog.getByTestId('history-compare').selectOption('current');
      const added = await dialog.locator('ins.diff-added').allTextContents();
      return added.join(' ').includes('Monday');
    }, { timeout: 15_000, what: 'comparison shows the added text' });
    const removed = await dialog.locator('del.diff-removed').allTextContents();
    expect(removed.join(' ')).toContain('Friday');
    await alice.page.screenshot({ path: join(SCREENSHOTS, 'version-history.png') });

    // Restore, with the confirmation; Bob's editor changes live.
    await dialog.getByTestId('history-restore').click();
    await alice.page.getByTestId('history-restore-confirm').click();
    await waitFor(async () => {
      const t = await editorText(bob.page);
      return t.includes('ship on Friday') && !t.includes('Monday');
    }, { timeout: 15_000, what: 'Bob sees the restored version' });
    expect(await editorText(alice.page)).toContain('ship on Friday');

    // The restore is itself a version, and Alice can undo it for everyone.
    const list = (await (await alice.context.request.get(`/api/docs/${docId}/versions`)).json()) as { versions: { kind: string }[] };
    expect(list.versions[0]!.kind).toBe('restore');
    await alice.page.locator('.tiptap').click();
    await alice.page.keyboard.press('Control+z');
    await waitFor(async () => (await editorText(bob.page)).includes('Monday works'), { timeout: 15_000, what: 'undo reaches Bob' });

    expect([...alice.console.problems, ...bob.console.problems]).toEqual([]);
  });
});
