/**
 * A 5 MB paste in real Chromium (issue 10). Path: browser A (Tiptap → Y.Doc → CollabClient, chunk
 * frames of 256 KiB) → collab-server (reassembles, authorizes, stores, broadcasts in chunks) →
 * browser B (reassembles, applies once). Checks: the paste reaches B whole and only whole, A shows
 * "Saving 5.0 MB… n%" that finishes as "Saved", neither page has a task longer than
 * its bound below (the paste goes in batches: app/_components/editor/large-paste.ts), the paste
 * is one undo step, no console errors. Builds into its own dist dir so it can run beside the other
 * e2e files.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Page } from 'playwright-core';
import { newUser, signUpViaApi, startStack, waitFor, type Stack, type User } from './harness';

/**
 * Longest task each page may run while 5 MB is pasted, sent and received (PerformanceObserver
 * 'longtask'), on this 2-core machine shared with other builds (load average 6–13 while measured).
 * Before the batched paste: 1.6–2.8 s at the paster, 0.5–1 s at the reader. With it: 107–274 ms at
 * the paster (batches, merge in a worker). The reader applies the paste in ONE Yjs transaction and
 * one render, because it must appear whole: 410–700 ms, 1.26 s once at load average 9. The bounds
 * leave room for that noise and still fail a multi-second freeze.
 */
// Loose on purpose: `npm test` runs two test files at once on two cores, and a full run measured a
// 923 ms paster task once (110–270 ms alone). The unbatched paste froze for 1.6–2.8 s: still caught.
const PASTER_LONGEST_TASK_MS = 1200;
const READER_LONGEST_TASK_MS = 2500;

let stack: Stack;
let alice: User;
let bob: User;

beforeAll(async () => {
  stack = await startStack({ distDir: '.next-e2e-large' });
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

/** Record every state the transfer indicator shows, and the page's long tasks, from now on. */
async function watchPage(page: Page) {
  await page.evaluate(() => {
    const w = window as unknown as { seen: string[]; longest: number; counts: number[] };
    w.seen = [];
    w.longest = 0;
    w.counts = [];
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) w.longest = Math.max(w.longest, e.duration);
    }).observe({ type: 'longtask', buffered: false });
    const status = document.querySelector('[data-testid="conn-status"]')!;
    new MutationObserver(() => {
      const t = document.querySelector('[data-testid="transfer-progress"]');
      if (t) w.seen.push(`${t.getAttribute('data-direction')}:${t.getAttribute('data-done')}:${t.textContent}`);
    }).observe(status, { subtree: true, childList: true, characterData: true, attributes: true });
    const editor = document.querySelector('.tiptap')!;
    // Paragraph counts the reader ever shows: a half-applied paste would show one in between.
    new MutationObserver(() => w.counts.push(editor.childElementCount)).observe(editor, { childList: true });
  });
}

const pageState = (page: Page) =>
  page.evaluate(() => {
    const w = window as unknown as { seen: string[]; longest: number; counts: number[] };
    return { seen: [...w.seen], longest: w.longest, counts: [...w.counts] };
  });

describe('a large paste', () => {
  // First: after the 5 MB test the server may shed load for a moment (503 to a reconnect).
  test('a large HTML paste (ProseMirror parses it, the editor inserts it in batches) keeps its formatting and reaches the other browser whole', async () => {
    const created = (await (await alice.context.request.post('/api/docs', { data: { title: 'Big page' } })).json()) as { doc: { id: string } };
    const docId = created.doc.id;
    const shared = await alice.context.request.put(`/api/docs/${docId}/access/grants/${encodeURIComponent(bob.email)}`, { data: { role: 'editor' } });
    expect(shared.ok(), await shared.text()).toBe(true);
    await openDoc(alice, docId);
    await openDoc(bob, docId);
    await watchPage(bob.page);
    const bobBefore = await bob.page.locator('.tiptap').evaluate((el) => el.childElementCount);
    // ~600 KB of HTML: headings every tenth block, bold words, over the batching threshold.
    const blocks = 2000;
    await alice.page.locator('.tiptap').click();
    await alice.page.evaluate((blocks) => {
      const html = Array.from({ length: blocks }, (_, i) => (i % 10 === 0 ? `<h2>Section ${i}</h2>` : `<p>Row ${i}: <strong>figure</strong> ${'with the notes the auditors asked for. '.repeat(7)}</p>`)).join('');
      const dt = new DataTransfer();
      dt.setData('text/html', html);
      dt.setData('text/plain', 'plain fallback');
      document.querySelector('.tiptap')!.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
    }, blocks);
    await waitFor(async () => (await alice.page.locator('.tiptap').evaluate((el) => el.childElementCount)) >= blocks, { timeout: 60_000, what: 'the HTML paste at Alice' });
    const expected = await alice.page.locator('.tiptap').evaluate((el) => el.childElementCount);
    await waitFor(async () => (await bob.page.locator('.tiptap').evaluate((el) => el.childElementCount)) === expected, { timeout: 60_000, what: 'the HTML paste at Bob' });
    const bobCounts = (await pageState(bob.page)).counts;
    expect(bobCounts.every((n) => n === bobBefore || n === expected), `Bob saw paragraph counts ${[...new Set(bobCounts)].join(', ')}`).toBe(true);
    expect(await bob.page.locator('.tiptap h2').count()).toBe(blocks / 10);
    expect(await bob.page.locator('.tiptap strong').count()).toBe(blocks - blocks / 10);
    expect(await bob.page.locator('.tiptap').evaluate((el) => el.textContent!.includes('plain fallback'))).toBe(false);
    const problems = [alice, bob].flatMap((u) => u.console.problems.splice(0));
    expect(problems, problems.join('\n')).toEqual([]);
  }, 180_000);

  test('5 MB pasted in one browser reaches the other whole, with progress that finishes, and no console errors', async () => {
    const created = (await (await alice.context.request.post('/api/docs', { data: { title: 'Big report' } })).json()) as { doc: { id: string } };
    const docId = created.doc.id;
    const shared = await alice.context.request.put(`/api/docs/${docId}/access/grants/${encodeURIComponent(bob.email)}`, { data: { role: 'editor' } });
    expect(shared.ok(), await shared.text()).toBe(true);
    await openDoc(alice, docId);
    await openDoc(bob, docId);
    await watchPage(alice.page);
    await watchPage(bob.page);
    const bobBefore = await bob.page.locator('.tiptap').evaluate((el) => el.childElementCount);

    // 5 MB of text: 10 000 paragraphs of about 500 characters, like a pasted report or log.
    const line = 'Quarterly figures, region by region, with the notes the auditors asked for. '.repeat(7);
    const paragraphs = Math.ceil((5 * 1024 * 1024) / (line.length + 1));
    const t0 = Date.now();
    await alice.page.locator('.tiptap').click();
    await alice.page.evaluate(
      ({ line, paragraphs }) => {
        const text = Array.from({ length: paragraphs }, (_, i) => `${i} ${line}`).join('\n');
        const dt = new DataTransfer();
        dt.setData('text/plain', text);
        document.querySelector('.tiptap')!.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
      },
      { line, paragraphs },
    );
    const pastedAt = Date.now() - t0;

    // Alice's status line: "Saving 5.x MB… n%" and then "Saved 5.x MB".
    await waitFor(async () => (await pageState(alice.page)).seen.some((s) => s.startsWith('up:true:')), { timeout: 60_000, what: 'upload finished' });
    const seen = (await pageState(alice.page)).seen;
    expect(seen.some((s) => /^up:false:.*Saving 5\.\d MB… \d+%/.test(s)), seen.join('\n')).toBe(true);
    expect(seen.find((s) => s.startsWith('up:true:'))).toMatch(/Saved 5\.\d MB/);

    // Bob has all of it, and never a part of it.
    const expected = await alice.page.locator('.tiptap').evaluate((el) => el.childElementCount);
    expect(expected).toBeGreaterThanOrEqual(paragraphs);
    await waitFor(async () => (await bob.page.locator('.tiptap').evaluate((el) => el.childElementCount)) === expected, { timeout: 60_000, what: 'the paste at Bob' });
    const arrivedAt = Date.now() - t0;
    const bobCounts = (await pageState(bob.page)).counts;
    expect(bobCounts.every((n) => n === bobBefore || n === expected), `Bob saw paragraph counts ${[...new Set(bobCounts)].join(', ')}`).toBe(true);
    const sample = await bob.page.locator('.tiptap > p').nth(paragraphs - 1).textContent();
    // (Alice's caret label is drawn inside the paragraph she is in: compare the start.)
    expect(sample?.startsWith(`${paragraphs - 1} ${line}`.trimEnd())).toBe(true);

    const aliceLongest = (await pageState(alice.page)).longest;
    const bobLongest = (await pageState(bob.page)).longest;
    console.log(JSON.stringify({ pasteBytes: paragraphs * (line.length + 8), pasteHandledMs: pastedAt, reachedBobMs: arrivedAt, aliceLongestTaskMs: Math.round(aliceLongest), bobLongestTaskMs: Math.round(bobLongest), boundsMs: [PASTER_LONGEST_TASK_MS, READER_LONGEST_TASK_MS] }));

    // The whole paste is one undo step, and the undo reaches Bob too. (Not an exact paragraph
    // count: when the undo empties Bob's editor for a moment it may add back an empty paragraph,
    // which then syncs to both.)
    await alice.page.locator('.tiptap > p').first().click();
    await alice.page.keyboard.press('ControlOrMeta+z');
    const pasteGone = (page: Page) => page.locator('.tiptap').evaluate((el, max) => el.childElementCount <= max && !el.textContent!.includes('Quarterly'), bobBefore + 2);
    await waitFor(() => pasteGone(alice.page), { timeout: 30_000, what: 'the paste undone at Alice' });
    await waitFor(() => pasteGone(bob.page), { timeout: 30_000, what: 'the undo at Bob' });

    expect(aliceLongest, 'longest task at the pasting page (ms)').toBeLessThan(PASTER_LONGEST_TASK_MS);
    expect(bobLongest, 'longest task at the receiving page (ms)').toBeLessThan(READER_LONGEST_TASK_MS);

    const problems = [alice, bob].flatMap((u) => u.console.problems.splice(0));
    expect(problems, problems.join('\n')).toEqual([]);
  }, 180_000);
});
