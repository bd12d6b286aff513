/**
 * The first hour of a new user (issue 16), in real Chromium: honest loading while collab-server is
 * unreachable, sign-out ending every tab's editor, links (Ctrl+K, bubble, https:// added, Ctrl+click),
 * pasted tables, dialogs focusing their first field, and the toolbar on a phone.
 * One app + collab-server for the file, built into its own directory.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { editorText, newUser, signUpViaApi, startStack, waitFor, type Stack, type User } from './harness';
import { TEST_SETUP_TOKEN } from '../helpers/harness-env';

let stack: Stack;
const users: User[] = [];

async function user(name: string, viewport?: { width: number; height: number }): Promise<User> {
  const u = await signUpViaApi(await newUser(stack, name, viewport));
  users.push(u);
  return u;
}

async function newDoc(u: User, title: string): Promise<string> {
  const r = await u.context.request.post('/api/docs', { data: { title } });
  return ((await r.json()) as { doc: { id: string } }).doc.id;
}

/** Open a document and wait until it is bound and connected. */
async function openDoc(u: User, id: string, page = u.page) {
  await page.goto(`/d/${id}`);
  await page.locator('.tiptap').waitFor({ state: 'visible', timeout: 20_000 });
  await waitFor(async () => (await page.getByTestId('conn-status').getAttribute('data-status')) === 'connected', { timeout: 20_000, what: `${u.name} connected` });
}

async function typeAtEnd(u: User, text: string) {
  await u.page.locator('.tiptap').click();
  await u.page.keyboard.press('Control+End');
  await u.page.keyboard.type(text);
}

function expectCleanConsole(...us: User[]) {
  const problems = us.flatMap((u) => u.console.problems.splice(0));
  expect(problems, problems.join('\n')).toEqual([]);
}

beforeAll(async () => {
  // A small image limit, so a refused image is cheap to paste.
  stack = await startStack({ distDir: '.next-e2e-firsthour', appEnv: { IMAGE_MAX_BYTES: '65536' } });
}, 400_000);

afterAll(async () => {
  for (const u of users) await u.context.close().catch(() => undefined);
  await stack?.stop();
}, 60_000);

describe('the first hour of a new user', () => {
  test('a document never synced on this device is read-only and says the server is unreachable; it loads once the server is back', async () => {
    const owner = await user('Olive');
    const guest = await user('Gus');
    const id = await newDoc(owner, 'Never synced');
    await owner.context.request.put(`/api/docs/${id}/access/grants/${encodeURIComponent(guest.email)}`, { data: { role: 'editor' } });
    await openDoc(owner, id);
    await typeAtEnd(owner, 'The real content');
    await waitFor(async () => (await owner.page.getByTestId('conn-status').textContent())?.trim() === 'Connected', { what: 'owner saved' });

    const restart = await stack.stopCollab();
    const refused = /WebSocket|ERR_CONNECTION_REFUSED|Failed to load resource/;
    const allows = [guest.console.allow(refused), owner.console.allow(refused)];
    try {
      await guest.page.goto(`/d/${id}`);
      await guest.page.getByTestId('banner-unreachable').waitFor({ timeout: 20_000 });
      expect(await guest.page.getByTestId('banner-unreachable').textContent()).toMatch(/Can’t reach the server/);
      expect(await guest.page.getByTestId('conn-status').getAttribute('data-status')).toBe('unreachable');
      // Nothing to type into: what they wrote would be merged above the real content later.
      const editable = await guest.page.locator('.tiptap').getAttribute('contenteditable').catch(() => null);
      expect(editable === null || editable === 'false').toBe(true);
      expect(await guest.page.getByText('Start writing…').count()).toBe(0);
      expect(await guest.page.getByTestId('word-count').textContent()).toBe('');

      // The owner's copy is on this device: it keeps working offline as before.
      await owner.page.reload();
      await owner.page.locator('.tiptap').waitFor();
      await waitFor(async () => (await owner.page.locator('.tiptap').getAttribute('contenteditable')) === 'true', { what: 'owner editable offline' });
      expect(await editorText(owner.page)).toContain('The real content');
    } finally {
      await restart();
    }
    await waitFor(async () => (await guest.page.locator('.tiptap').getAttribute('contenteditable')) === 'true', { timeout: 20_000, what: 'guest editable after sync' });
    expect(await editorText(guest.page)).toContain('The real content');
    expect(await guest.page.getByTestId('banner-unreachable').count()).toBe(0);
    allows.forEach((a) => a());
    expectCleanConsole(owner, guest);
  });

  test('signing out in one tab ends the editor in another tab within 2 s', async () => {
    const u = await user('Tess');
    const id = await newDoc(u, 'Two tabs');
    const editorTab = await u.context.newPage();
    await openDoc(u, id, editorTab);
    await u.page.goto('/');
    await u.page.getByTestId('docs-empty').or(u.page.getByTestId('doc-row').first()).waitFor();
    // Timed in the browser (one clock for both tabs), from the click to the banner.
    await editorTab.evaluate(() => {
      new MutationObserver((_m, obs) => {
        if (document.querySelector('[data-testid="banner-4401"]')) {
          (window as unknown as { bannerAt: number }).bannerAt = Date.now();
          obs.disconnect();
        }
      }).observe(document.body, { childList: true, subtree: true });
    });
    await u.page.evaluate(() => {
      const b = Array.from(document.querySelectorAll('button')).find((x) => x.textContent?.trim() === 'Sign out')!;
      // localStorage: the page navigates to /signin right after.
      b.addEventListener('click', () => localStorage.setItem('e2e:clickAt', String(Date.now())), { capture: true });
    });
    await u.page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await editorTab.getByTestId('banner-4401').waitFor({ timeout: 5000 });
    const clickAt = Number(await editorTab.evaluate(() => localStorage.getItem('e2e:clickAt')));
    const bannerAt = await editorTab.evaluate(() => (window as unknown as { bannerAt: number }).bannerAt);
    expect(clickAt).toBeGreaterThan(0);
    expect(bannerAt - clickAt).toBeLessThan(2000);
    expect(await editorTab.getByTestId('banner-4401').textContent()).toMatch(/You signed out/);
    expect(await editorTab.locator('.tiptap').count()).toBe(0);
    await u.page.waitForURL(/\/signin/);
    await editorTab.close();
  });
});

describe('links, tables, dialogs, phone', () => {
  let writer: User;
  let reader: User;
  let id: string;

  beforeAll(async () => {
    writer = await user('Wren');
    reader = await user('Reid');
    id = await newDoc(writer, 'Links and tables');
    await writer.context.request.put(`/api/docs/${id}/access/grants/${encodeURIComponent(reader.email)}`, { data: { role: 'editor' } });
  });

  test('Ctrl+K adds a link with https:// added, typing after it is plain text, the bubble edits and removes, Ctrl+click opens', async () => {
    const { page } = writer;
    await openDoc(writer, id);
    await typeAtEnd(writer, 'Read ');
    await page.keyboard.press('Control+k');
    const url = page.getByTestId('link-url');
    await url.waitFor();
    // The dialog starts at its first field, not at ✕.
    expect(await url.evaluate((el) => el === document.activeElement)).toBe(true);
    // The app's own inline error, not a browser bubble.
    await url.fill('not a link');
    await page.getByTestId('link-save').click();
    await page.getByRole('alert').filter({ hasText: 'Enter a web address' }).waitFor();
    await url.fill('example.org/page');
    await page.getByTestId('link-text').fill('the page');
    await page.getByTestId('link-save').click();
    await page.keyboard.type(' today');
    const link = page.locator('.tiptap a');
    await waitFor(async () => (await link.count()) === 1 && (await link.getAttribute('href')) === 'https://example.org/page', { what: 'link stored with https://' });
    expect(await link.textContent()).toBe('the page');
    expect(await editorText(page)).toContain('Read the page today');
    await waitFor(async () => (await reader.context.request.get(`/api/docs/${id}`)).ok(), { what: 'doc readable' });

    // Ctrl+click opens the link in a new tab.
    await writer.context.route('https://example.org/**', (r) => r.fulfill({ status: 200, contentType: 'text/html', body: '<title>Example</title>' }));
    const opened = writer.context.waitForEvent('page');
    await link.click({ modifiers: ['Control'] });
    const tab = await opened;
    await waitFor(() => tab.url().startsWith('https://example.org/page'), { what: 'new tab at the link' });
    await tab.close();

    // The bubble over the link (caret moved into it): edit, then remove.
    await page.locator('.tiptap p').first().click({ position: { x: 2, y: 2 } });
    await link.click();
    await page.getByTestId('link-bubble').waitFor({ state: 'visible' });
    expect(await page.getByTestId('link-bubble-open').getAttribute('href')).toBe('https://example.org/page');
    await page.getByTestId('link-bubble-edit').click();
    await url.fill('example.com');
    await page.getByTestId('link-save').click();
    await waitFor(async () => (await link.getAttribute('href')) === 'https://example.com', { what: 'link edited' });
    await link.click();
    await page.getByTestId('link-bubble-remove').click();
    await waitFor(async () => (await link.count()) === 0, { what: 'link removed' });
    expect(await editorText(page)).toContain('Read the page today');
    expectCleanConsole(writer);
  });

  test('a pasted table stays a table, in the other browser too, with a small table menu', async () => {
    const { page } = writer;
    await openDoc(writer, id);
    await openDoc(reader, id);
    await page.locator('.tiptap').click();
    await page.keyboard.press('Control+End');
    await page.keyboard.press('Enter');
    // Paste HTML as a browser would from a spreadsheet or another document.
    await page.locator('.tiptap').evaluate((el) => {
      const data = new DataTransfer();
      data.setData('text/html', '<table><tr><th>Name</th><th>Role</th></tr><tr><td>Ann</td><td>Owner</td></tr><tr><td>Ben</td><td>Editor</td></tr></table>');
      data.setData('text/plain', 'Name\tRole\nAnn\tOwner\nBen\tEditor');
      el.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }));
    });
    // Cell texts, without the caret labels a collaborator's caret adds inside a cell.
    const cells = (p: typeof page) =>
      p.locator('.tiptap table').evaluateAll((ts) =>
        ts.map((t) => {
          const c = t.cloneNode(true) as HTMLElement;
          c.querySelectorAll('.collaboration-carets__caret').forEach((x) => x.remove());
          return Array.from(c.querySelectorAll('tr')).map((r) => Array.from(r.children).map((cell) => cell.textContent));
        }),
      );
    const want = [[['Name', 'Role'], ['Ann', 'Owner'], ['Ben', 'Editor']]];
    await waitFor(async () => JSON.stringify(await cells(page)) === JSON.stringify(want), { what: 'table pasted' });
    await waitFor(async () => JSON.stringify(await cells(reader.page)) === JSON.stringify(want), { what: 'table in the other browser' });
    // The table menu: add a row.
    await page.locator('.tiptap td').filter({ hasText: 'Ben' }).click();
    await page.getByTestId('table-menu').waitFor({ state: 'visible' });
    await page.getByTestId('table-add-row').click();
    await waitFor(async () => (await reader.page.locator('.tiptap table tr').count()) === 4, { what: 'row added, seen by the other browser' });
    expectCleanConsole(writer, reader);
  });

  test('a pasted image is stored with the document and shown to a collaborator; one over the limit says why', async () => {
    const { page } = writer;
    await openDoc(writer, id);
    await openDoc(reader, id);
    const PNG_HEX = '89504e470d0a1a0a0000000d494844520000000a0000000a0802000000025058ea0000001249444154789c63b8a3618307318c4a634300f31b7d014cad4dbb0000000049454e44ae426082';
    const paste = (hex: string, name: string) =>
      page.locator('.tiptap').evaluate(
        (el, [h, n]) => {
          const bytes = new Uint8Array(h!.match(/../g)!.map((x) => parseInt(x, 16)));
          const data = new DataTransfer();
          data.items.add(new File([bytes], n!, { type: 'image/png' }));
          el.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }));
        },
        [hex, name],
      );
    await page.locator('.tiptap').click();
    await page.keyboard.press('Control+End');
    await paste(PNG_HEX, 'dot.png');
    const loaded = (p: typeof page) =>
      p.locator('.tiptap img').evaluateAll((imgs) => imgs.map((i) => ({ src: i.getAttribute('src'), ok: (i as HTMLImageElement).complete && (i as HTMLImageElement).naturalWidth === 10 })));
    await waitFor(async () => (await loaded(reader.page)).some((i) => i.ok), { timeout: 15_000, what: 'image shown in the other browser' });
    const [img] = await loaded(page);
    expect(img!.src).toMatch(new RegExp(`^/api/docs/${id}/images/[\\w-]+$`));
    // Served like the document: to its readers, with headers that keep it an inert image.
    const res = await reader.context.request.get(img!.src!);
    expect(res.status()).toBe(200);
    expect(res.headers()['content-type']).toBe('image/png');
    expect(res.headers()['x-content-type-options']).toBe('nosniff');
    expect(res.headers()['content-security-policy']).toMatch(/default-src 'none'/);
    const outsider = await user('Otto');
    expect((await outsider.context.request.get(img!.src!)).status()).toBe(403);

    // Over IMAGE_MAX_BYTES (64 KiB here): not silently dropped. (A 10×10 PNG, generated with zlib, above.)
    const allow = writer.console.allow(/status of 413/);
    await paste(PNG_HEX.slice(0, 32) + '00'.repeat(70_000), 'huge.png');
    const err = page.getByTestId('image-error');
    await err.waitFor();
    expect(await err.textContent()).toMatch(/huge\.png.*at most 0\.1 MB|huge\.png.*at most/);
    allow();
    expectCleanConsole(writer, reader);
  });

  test('the share dialog focuses its email field, shows its own error for a malformed email, copies the link, and invites an unknown email', async () => {
    const { page } = writer;
    await openDoc(writer, id);
    await page.getByTestId('share-button').click();
    const email = page.getByTestId('share-email');
    await email.waitFor();
    await waitFor(() => email.evaluate((el) => el === document.activeElement), { what: 'email field focused' });
    await email.fill('not-an-email');
    await page.getByTestId('share-add').click();
    expect(await page.getByTestId('share-email-error').textContent()).toMatch(/Enter an email address/);
    expect(await email.evaluate((el: HTMLInputElement) => el.form!.noValidate)).toBe(true); // no browser bubble
    // Copy link puts the document's address on the clipboard.
    await writer.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: stack.baseUrl });
    await page.getByTestId('share-copy-link').click();
    await waitFor(async () => (await page.getByTestId('share-copy-link').textContent()) === 'Link copied', { what: 'copied' });
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(`${stack.baseUrl}/d/${id}`);
    // An address without an account is invited, and gets access once it signs up.
    const later = await newUser(stack, 'Lena');
    await email.fill(later.email);
    await page.getByTestId('share-add').click();
    await page.locator(`[data-testid="share-invitation"][data-email="${later.email}"]`).waitFor();
    const lena = await signUpViaApi(later);
    users.push(lena);
    await openDoc(lena, id);
    expect(await lena.page.locator('.tiptap').getAttribute('contenteditable')).toBe('true');
    await page.keyboard.press('Escape');
  });

  test('on a 390×844 phone every toolbar action is reachable without scrolling sideways', async () => {
    const phone = await newUser(stack, 'Phoebe', { width: 390, height: 844 });
    await phone.context.request.post('/api/auth/login', { data: { email: writer.email, password: writer.password } });
    const p = { ...writer, page: phone.page, context: phone.context, console: phone.console };
    users.push({ ...p });
    await openDoc(p, id, phone.page);
    const check = await phone.page.getByTestId('format-bar').evaluate((bar) => ({
      scrolls: bar.scrollWidth > bar.clientWidth + 1,
      page: document.documentElement.scrollWidth > window.innerWidth + 1,
      outside: Array.from(bar.querySelectorAll('button'))
        .filter((b) => {
          const r = b.getBoundingClientRect();
          return r.left < 0 || r.right > window.innerWidth;
        })
        .map((b) => b.getAttribute('aria-label')),
      count: bar.querySelectorAll('button').length,
    }));
    expect(check).toEqual({ scrolls: false, page: false, outside: [], count: expect.any(Number) });
    expect(check.count).toBeGreaterThanOrEqual(17);
  });

  test('on a 390×844 phone the editor header is two tidy rows and the share dialog shows its placeholder and options whole', async () => {
    const phone = await newUser(stack, 'Phil', { width: 390, height: 844 });
    await phone.context.request.post('/api/auth/login', { data: { email: writer.email, password: writer.password } });
    const p = { ...writer, page: phone.page, context: phone.context, console: phone.console };
    users.push({ ...p });
    await openDoc(p, id, phone.page);
    const page = phone.page;
    // Row 1: logo, title, History, Share; row 2: status (and presence). Nothing outside the screen.
    const head = await page.locator('header.editor-top').evaluate((h) => {
      const top = (sel: string) => Math.round(h.querySelector(sel)!.getBoundingClientRect().top);
      const all = Array.from(h.children).filter((c) => !c.classList.contains('skip-link'));
      return {
        outside: all.filter((c) => { const r = c.getBoundingClientRect(); return r.left < 0 || r.right > window.innerWidth + 0.5; }).map((c) => c.className),
        titleWidth: h.querySelector('.title-input')!.getBoundingClientRect().width,
        sameRow: [top('.brand'), top('[data-testid=history-button]'), top('[data-testid=share-button]')].every((t, _, a) => Math.abs(t - a[0]!) < 12),
        statusBelow: top('[data-testid=conn-status]') > top('.title-input') + 10,
        height: h.getBoundingClientRect().height,
      };
    });
    expect(head.outside).toEqual([]);
    expect(head.sameRow).toBe(true);
    expect(head.statusBelow).toBe(true);
    expect(head.titleWidth).toBeGreaterThan(120);
    expect(head.height).toBeLessThan(110);

    await page.getByTestId('share-button').click();
    const dialog = page.getByTestId('share-dialog');
    await dialog.waitFor();
    await page.getByTestId('share-general').waitFor();
    const fit = await dialog.evaluate((d) => {
      const email = d.querySelector<HTMLInputElement>('[data-testid=share-email]')!;
      // The placeholder's own width, measured in the field's font.
      const ctx = document.createElement('canvas').getContext('2d')!;
      const cs = getComputedStyle(email);
      ctx.font = `${cs.fontWeight} ${cs.fontSize} ${cs.fontFamily}`;
      const pad = parseFloat(cs.paddingLeft) + parseFloat(cs.paddingRight);
      const general = d.querySelector<HTMLSelectElement>('[data-testid=share-general]')!;
      const gs = getComputedStyle(general);
      ctx.font = `${gs.fontWeight} ${gs.fontSize} ${gs.fontFamily}`;
      const longest = Math.max(...Array.from(general.options).map((o) => ctx.measureText(o.text).width));
      const dr = d.getBoundingClientRect();
      return {
        placeholderFits: email.clientWidth - pad >= ctx.measureText(email.placeholder).width,
        optionsFit: general.clientWidth - 36 >= longest, // 36: the select's arrow and padding
        inScreen: dr.left >= 0 && dr.right <= window.innerWidth + 0.5,
        clipped: Array.from(d.querySelectorAll('input, select, button'))
          .filter((e) => { const r = e.getBoundingClientRect(); return r.width > 0 && (r.left < dr.left - 0.5 || r.right > dr.right + 0.5); })
          .map((e) => e.getAttribute('aria-label') ?? e.textContent),
        sideways: d.scrollWidth > d.clientWidth + 1,
      };
    });
    expect(fit).toEqual({ placeholderFits: true, optionsFit: true, inScreen: true, clipped: [], sideways: false });
    await page.keyboard.press('Escape');
  });
});

describe('messages that talk like a product', () => {
  test('a deleted document says so and leaves the screen; a missing one is a 404 with the top bar', async () => {
    const owner = await user('Dora');
    const guest = await user('Gil');
    const id = await newDoc(owner, 'Soon gone');
    await owner.context.request.put(`/api/docs/${id}/access/grants/${encodeURIComponent(guest.email)}`, { data: { role: 'editor' } });
    await openDoc(guest, id);
    expect((await owner.context.request.delete(`/api/docs/${id}`)).ok()).toBe(true);
    const banner = guest.page.getByTestId('banner-4403');
    await banner.waitFor({ timeout: 10_000 });
    expect(await banner.textContent()).toMatch(/This document was deleted/);
    expect(await banner.textContent()).not.toMatch(/server said/i);
    expect(await guest.page.locator('.tiptap').count()).toBe(0);
    expect(await guest.page.getByTestId('offline-ready').count()).toBe(0);

    const allow = guest.console.allow(/status of 404/);
    const res = await guest.page.goto(`/d/${id}`);
    expect(res?.status()).toBe(404);
    await guest.page.getByTestId('doc-unavailable').waitFor();
    expect(await guest.page.locator('header.topbar').count()).toBe(1);
    allow();
  });

  test('sign-up with a taken email offers "Sign in instead?"; an expired session on the list links to sign-in', async () => {
    const taken = await user('Tara');
    const visitor = await newUser(stack, 'Vic');
    users.push({ ...visitor, id: '' });
    await visitor.page.goto('/signup');
    await visitor.page.getByLabel('Name').fill('Vic');
    await visitor.page.getByLabel('Email').fill(taken.email);
    await visitor.page.getByLabel('Password').fill('correct horse battery');
    const allow = visitor.console.allow(/status of 409/);
    await visitor.page.getByRole('button', { name: 'Create account' }).click();
    const err = visitor.page.locator('#email-error');
    await err.waitFor();
    expect(await err.textContent()).toMatch(/^An account with this email already exists\./);
    await visitor.page.getByTestId('signin-instead').click();
    await visitor.page.waitForURL(/\/signin/);
    allow();

    await taken.page.goto('/');
    await taken.page.getByTestId('doc-search').waitFor();
    await taken.context.clearCookies();
    const allow401 = taken.console.allow(/status of 401/);
    await taken.page.getByTestId('doc-search').fill('anything');
    const expired = taken.page.getByTestId('list-expired');
    await expired.waitFor();
    expect(await expired.textContent()).toMatch(/Your session has expired/);
    expect(await expired.getByRole('link', { name: 'Sign in' }).getAttribute('href')).toMatch(/^\/signin/);
    allow401();
  });
});

describe('accessibility (axe-core)', () => {
  test('no serious or critical violations on sign-in, the list, the editor, the share dialog and the admin console', async () => {
    const { default: AxeBuilder } = await import('@axe-core/playwright');
    const admin = await newUser(stack, 'Ada');
    const r = await admin.context.request.post('/api/auth/setup', { data: { setupToken: TEST_SETUP_TOKEN, email: admin.email, name: 'Ada Admin', password: admin.password } });
    expect(r.ok(), await r.text()).toBe(true);
    users.push({ ...admin, id: '' });
    const anon = await stack.browser.newContext({ baseURL: stack.baseUrl });
    const scan = async (page: import('playwright-core').Page, where: string, include?: string) => {
      const b = new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']);
      if (include) b.include(include);
      const res = await b.analyze();
      return res.violations
        .filter((v) => v.impact === 'serious' || v.impact === 'critical')
        .map((v) => `${where}: ${v.id} (${v.impact}) ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ')}`);
    };
    const found: string[] = [];
    const signin = await anon.newPage();
    await signin.goto('/signin');
    await signin.getByRole('button', { name: 'Sign in' }).waitFor();
    found.push(...(await scan(signin, 'sign-in')));
    await anon.close();

    const { page } = admin;
    const id = await newDoc({ ...admin, id: '' }, 'Accessible');
    await page.goto('/');
    await page.getByTestId('doc-row').first().waitFor();
    found.push(...(await scan(page, 'list')));
    await openDoc({ ...admin, id: '' }, id);
    await typeAtEnd({ ...admin, id: '' }, 'Some text to check');
    found.push(...(await scan(page, 'editor')));
    await page.getByTestId('share-button').click();
    await page.getByTestId('share-people').waitFor();
    found.push(...(await scan(page, 'share dialog', '[data-testid="share-dialog"]')));
    await page.keyboard.press('Escape');
    await page.goto('/admin');
    await page.locator('main').waitFor();
    await page.waitForLoadState('networkidle');
    found.push(...(await scan(page, 'admin console')));
    expect(found, found.join('\n')).toEqual([]);
  });
});

describe('smaller items', () => {
  test('tooltips name shortcuts, an underline button, Ctrl+/ opens the shortcut sheet, a skip link reaches the text', async () => {
    const u = await user('Sky');
    const id = await newDoc(u, 'Small things');
    const { page } = u;
    await openDoc(u, id);
    expect(await page.getByRole('button', { name: 'Strikethrough' }).getAttribute('title')).toBe('Strikethrough (Ctrl+Shift+S)');
    expect(await page.getByRole('button', { name: 'Inline code' }).getAttribute('title')).toBe('Inline code (Ctrl+E)');
    await typeAtEnd(u, 'under');
    await page.keyboard.press('Shift+Home');
    await page.getByRole('button', { name: 'Underline' }).click();
    await waitFor(async () => (await page.locator('.tiptap u').count()) === 1, { what: 'underlined' });
    expect(await page.getByRole('button', { name: 'Underline' }).getAttribute('aria-pressed')).toBe('true');

    await page.keyboard.press('Control+/');
    const sheet = page.getByTestId('shortcut-sheet');
    await sheet.getByText('Ctrl+K').waitFor();
    expect(await sheet.textContent()).toMatch(/Bold\s*Ctrl\+B/);
    await page.keyboard.press('Escape');

    // One Tab stop for the whole toolbar, and a skip link first.
    expect(await page.locator('.format-bar button[tabindex="0"]').count()).toBe(1);
    await page.goto(`/d/${id}`);
    // Editable means synced with the connection up: the editor is not rebuilt (and focus lost) after.
    await page.locator('.tiptap[contenteditable="true"]').waitFor();
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Skip to document text');
    await page.keyboard.press('Enter');
    await waitFor(() => page.evaluate(() => document.activeElement?.id === 'document-text'), { what: 'text focused' });
  });

  test('the document list updates by itself when a document is shared with you', async () => {
    const owner = await user('Liv');
    const viewer = await user('Len');
    await viewer.page.goto('/');
    await viewer.page.getByTestId('docs-empty').waitFor();
    const id = await newDoc(owner, 'Shared while you look');
    await owner.context.request.put(`/api/docs/${id}/access/grants/${encodeURIComponent(viewer.email)}`, { data: { role: 'viewer' } });
    await viewer.page.locator(`[data-doc-id="${id}"]`).waitFor({ timeout: 10_000 });
    expect(await viewer.page.locator(`[data-doc-id="${id}"]`).textContent()).toContain('Shared while you look');
  });

  test('a document opened through general access stays in the visitor\'s list; the list sorts by title and finds a word from the text', async () => {
    const owner = await user('Quinn');
    const visitor = await user('Vera');
    const id = await newDoc(owner, 'Quokka report');
    await owner.context.request.put(`/api/docs/${id}/access/general`, { data: { role: 'editor' } });
    await openDoc(owner, id);
    await typeAtEnd(owner, 'marsupial census');
    await newDoc(visitor, 'Zebu notes');
    await newDoc(visitor, 'aardvark notes');
    // The visitor follows the link once, then goes back to the list.
    await openDoc(visitor, id);
    await visitor.page.goto('/');
    await visitor.page.locator(`[data-doc-id="${id}"]`).waitFor({ timeout: 10_000 });
    await visitor.page.getByTestId('doc-sort').selectOption('title');
    const titles = async () => (await visitor.page.getByTestId('doc-row').allTextContents()).map((t) => t.match(/aardvark notes|Quokka report|Zebu notes/)?.[0]);
    await waitFor(async () => JSON.stringify(await titles()) === JSON.stringify(['aardvark notes', 'Quokka report', 'Zebu notes']), { what: 'sorted by title' });
    // The text is searchable once collab-server has compacted the document (COMPACT_IDLE_MS after the last edit).
    await waitFor(
      async () => {
        await visitor.page.getByTestId('doc-search').fill('');
        await visitor.page.getByTestId('doc-search').fill('marsupial');
        return waitFor(async () => JSON.stringify(await titles()) === JSON.stringify(['Quokka report']), { timeout: 2000, what: 'found' }).then(() => true, () => false);
      },
      { timeout: 30_000, what: 'a word from the text finds the document' },
    );
  });

  test('offline, the document list shows the documents kept on this device, with its logo, and they open', async () => {
    const u = await user('Ollie');
    const kept = await newDoc(u, 'Kept offline');
    const other = await newDoc(u, 'Never opened here');
    await openDoc(u, kept);
    await typeAtEnd(u, 'offline words');
    await u.page.getByTestId('offline-ready').waitFor({ timeout: 20_000 });
    await waitFor(async () => (await u.page.getByTestId('conn-status').textContent())?.trim() === 'Connected', { what: 'saved' });
    await u.page.goto('/');
    await u.page.locator(`[data-doc-id="${other}"]`).waitFor();
    await waitFor(() => u.page.evaluate(async () => !!(await (await caches.open('tandem-pages-v1')).match('/'))), { timeout: 20_000, what: 'list cached' });
    const allow = u.console.allow(/ERR_INTERNET_DISCONNECTED|Failed to load resource|WebSocket/);
    await u.context.setOffline(true);
    try {
      await u.page.reload();
      await u.page.getByTestId('list-offline').waitFor({ timeout: 20_000 });
      await waitFor(async () => (await u.page.getByTestId('doc-row').count()) === 1, { what: 'only the kept document' });
      expect(await u.page.locator(`[data-doc-id="${kept}"]`).textContent()).toContain('Kept offline');
      expect(await u.page.locator('.brand img').evaluate((i: HTMLImageElement) => i.complete && i.naturalWidth > 0)).toBe(true);
      await u.page.goto(`/d/${kept}`);
      await u.page.locator('.tiptap').waitFor();
      await waitFor(async () => (await editorText(u.page)).includes('offline words'), { what: 'kept content offline' });
    } finally {
      await u.context.setOffline(false);
      allow();
    }
  });

  test('closing a tab with changes the server has not confirmed asks first', async () => {
    const u = await user('Uma');
    const id = await newDoc(u, 'Unsynced');
    await openDoc(u, id);
    const restart = await stack.stopCollab();
    const allow = u.console.allow(/WebSocket|ERR_CONNECTION_REFUSED/);
    try {
      await typeAtEnd(u, 'not saved yet');
      await waitFor(async () => /unsynced/.test((await u.page.getByTestId('conn-status').textContent()) ?? ''), { what: 'unsynced shown' });
      const asked = new Promise<string>((res) => u.page.once('dialog', (d) => void d.dismiss().then(() => res(d.type()))));
      await u.page.close({ runBeforeUnload: true });
      expect(await asked).toBe('beforeunload');
    } finally {
      await restart();
      allow();
    }
  });
});
