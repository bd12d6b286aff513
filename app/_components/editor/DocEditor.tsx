'use client';
/**
 * The editor page: title, presence, connection status, formatting, the Tiptap editor bound to the
 * document's Y.Doc, banners for read-only / no access / expired sessions, word count, sharing.
 */
import Link from 'next/link';
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type * as Y from 'yjs';
import { EditorContent, useEditor } from '@tiptap/react';
import StarterKit from '@tiptap/starter-kit';
import { Placeholder } from '@tiptap/extensions';
import Collaboration from '@tiptap/extension-collaboration';
import CollaborationCaret from '@tiptap/extension-collaboration-caret';
import { roleAtLeast, type Role } from '@/lib/acl';
import { CloseCode } from '@/lib/close-codes';
import { DOC_TOO_LARGE_REASON } from '@/lib/protocol';
import { api, ApiError, type DocSummary, type Me } from '../api';
import { distinctColor, userColor } from '../user-color';
import { FormatBar } from './FormatBar';
import { Presence, usePresence } from './Presence';
import { ShareDialog } from './ShareDialog';
import { HistoryPanel } from './HistoryPanel';
import { contentExtensions } from '@/lib/editor-extensions';
import { StatusLine } from './StatusLine';
import { useCollab } from './use-collab';
import { cacheForOffline } from './offline';
import { safeAwareness } from './safe-awareness';
import { LargePaste, holdProviderUpdates } from './large-paste';
import { countWords } from './word-count';
import { SIGNED_OUT_REASON } from '../session-channel';
import { LinkBubble, LinkDialog, linkKeys } from './links';
import { TableMenu } from './TableMenu';
import { imageUpload } from './images';
import { ShortcutSheet, useShortcutSheetKey } from './ShortcutSheet';

/** The editor page for a document the server already checked the caller may open. */
export function DocEditor({ me, initialDoc }: { me: Me; initialDoc: DocSummary }) {
  const [doc, setDoc] = useState(initialDoc);
  const collab = useCollab(doc.id, me.id);
  return <EditorView me={me} doc={doc} setDoc={setDoc} collab={collab} />;
}

function EditorView({ me, doc, setDoc, collab }: { me: Me; doc: DocSummary; setDoc: (d: DocSummary) => void; collab: ReturnType<typeof useCollab> }) {
  const { ydoc, client, status, closed, retryAt, transfer, denied } = collab;
  // The live role wins; before the first token (e.g. offline) the role the API last told us.
  const role: Role = collab.role ?? doc.role;
  // Never synced on this device: read-only until the server's copy arrives (see useCollab).
  const loading = !collab.hasServerCopy && !closed;
  // Once an attempt failed it is "can't reach the server" until the first sync (retries alternate
  // between connecting and reconnecting; the message must not flicker back to "Loading…").
  const [failedOnce, setFailedOnce] = useState(false);
  useEffect(() => {
    if (status.state === 'reconnecting' || !status.online) setFailedOnce(true);
  }, [status.state, status.online]);
  const loadState: false | 'loading' | 'unreachable' = !loading ? false : failedOnce || !status.online ? 'unreachable' : 'loading';
  const editable = roleAtLeast(role, 'editor') && !closed && collab.hasServerCopy;
  const [shareOpen, setShareOpen] = useState(false);
  const [historyOpen, setHistoryOpen] = useState(false);
  const [linkOpen, setLinkOpen] = useState(false);
  const [sheetOpen, setSheetOpen] = useState(false);
  useShortcutSheetKey(useCallback(() => setSheetOpen(true), []));
  // Closing the tab with edits the server has not confirmed: the browser asks first.
  useEffect(() => {
    if (!status.unsynced || closed) return;
    const warn = (e: BeforeUnloadEvent) => {
      e.preventDefault();
      e.returnValue = '';
    };
    window.addEventListener('beforeunload', warn);
    return () => window.removeEventListener('beforeunload', warn);
  }, [status.unsynced, closed]);
  // Ctrl+K is bound once, when the editor is built; the dialog's state is set through this.
  const openLink = useRef(() => setLinkOpen(true));
  // An image that could not be stored says why (it is not silently dropped).
  const [imageError, setImageError] = useState<string | null>(null);
  const [words, setWords] = useState(0);
  const presence = usePresence(client);
  // Carets are drawn from checked copies of remote presence (a malformed cursor must not break the editor).
  const caretProvider = useMemo(() => (client ? { awareness: safeAwareness(client.provider.awareness) } : null), [client]);
  const color = useMemo(() => userColor(me.id), [me.id]);

  // Build the editor once the Y.Doc exists and either the connection is up or we know it is not
  // coming soon (offline): the caret extension needs the provider's awareness.
  const waitForClient = !client && status.state === 'connecting' && status.online && !closed;
  const editor = useEditor(
    {
      immediatelyRender: false,
      editable: false,
      extensions: ydoc && !waitForClient
        ? [
            // The document schema: shared with the server's HTML of a version (lib/editor-extensions.ts).
            ...contentExtensions(),
            Placeholder.configure({ placeholder: 'Start writing…' }),
            Collaboration.configure({ document: ydoc }),
            // Very large pastes go in batches and reach collaborators whole (large-paste.ts).
            LargePaste.configure({ holdOutgoing: () => (client ? holdProviderUpdates(client.provider) : null) }),
            linkKeys(() => openLink.current()),
            imageUpload(doc.id, setImageError),
            ...(client ? [CollaborationCaret.configure({ provider: caretProvider, user: { id: me.id, name: me.name, color } })] : []),
          ]
        : [StarterKit.configure({ undoRedo: false })],
      editorProps: { attributes: { 'aria-label': 'Document text', spellcheck: 'true', 'data-testid': 'editor', id: 'document-text' } },
    },
    [ydoc, client, waitForClient],
  );

  useEffect(() => {
    if (!editor || editor.isDestroyed) return;
    if (editor.isEditable !== editable) editor.setEditable(editable);
  }, [editor, editable]);

  // Two collaborators never share a caret colour: every client applies the same rule
  // (user-color.ts distinctColor) whenever who is present changes.
  useEffect(() => {
    if (!editor || editor.isDestroyed || !client) return;
    const want = distinctColor(me.id, presence);
    const current = (client.provider.awareness.getLocalState()?.user as { color?: string } | undefined)?.color;
    if (current && want !== current) editor.commands.updateUser?.({ id: me.id, name: me.name, color: want });
  }, [editor, client, presence, me.id, me.name]);

  useEffect(() => {
    if (!editor) return;
    // From the state, not the view: the view is created later than the editor in Tiptap 3.
    const count = () => {
      if (editor.isDestroyed) return;
      // Cached per block: a whole-text count on every update was O(document) per keystroke.
      setWords(countWords(editor.state.doc));
    };
    count();
    // Counted in a task of its own, at most every 100 ms: not inside a large remote update's apply.
    let timer: ReturnType<typeof setTimeout> | null = null;
    const later = () => {
      timer ??= setTimeout(() => {
        timer = null;
        count();
      }, 100);
    };
    editor.on('update', later);
    return () => {
      editor.off('update', later);
      if (timer) clearTimeout(timer);
    };
  }, [editor]);

  const [offlineReady, setOfflineReady] = useState(false);
  useEffect(() => {
    let live = true;
    // Only online: offline, the page already came from the cache.
    if (navigator.onLine) void cacheForOffline().then((ok) => live && setOfflineReady(ok));
    return () => {
      live = false;
    };
  }, []);

  const banner = closed ? (
    closed.code === CloseCode.UNAUTHORIZED ? (
      <div className="banner banner-error" role="alert" data-testid="banner-4401">
        {closed.reason === SIGNED_OUT_REASON ? (
          <div>
            <strong>You signed out.</strong>
            Sign in again to open this document.
          </div>
        ) : (
          <div>
            <strong>Your session has expired.</strong>
            Sign in again to keep editing. Changes you made are kept on this device and sync when you are back.
          </div>
        )}
        <Link className="btn btn-sm" href={`/signin?next=${encodeURIComponent(`/d/${doc.id}`)}`}>
          Sign in
        </Link>
      </div>
    ) : closed.code === CloseCode.FORBIDDEN ? (
      <div className="banner banner-error" role="alert" data-testid="banner-4403">
        <div>
          {/administrator/i.test(closed.reason) ? (
            <>
              <strong>An administrator ended your session.</strong>
              You were disconnected by an administrator. Reload the page to reconnect if you still have access.
            </>
          ) : /deleted/i.test(closed.reason) ? (
            <>
              <strong>This document was deleted.</strong>
              Its owner deleted it, so it is no longer available here or on this device.
            </>
          ) : (
            <>
              <strong>You no longer have access to this document.</strong>
              Ask its owner to share it with you again.
            </>
          )}
        </div>
        <Link className="btn btn-sm" href="/">
          Documents
        </Link>
      </div>
    ) : (
      <div className="banner banner-error" role="alert" data-testid="banner-closed">
        <div>
          <strong>Disconnected.</strong> {closed.reason || `The server closed the connection (${closed.code}).`} Reload the page to try again.
        </div>
      </div>
    )
  ) : denied?.startsWith(`${DOC_TOO_LARGE_REASON}:`) ? (
    <div className="banner banner-error" role="alert" data-testid="banner-too-large">
      <div>
        <strong>This document has reached its size limit.</strong>
        {denied.slice(DOC_TOO_LARGE_REASON.length + 1).trim()}. You can still read it; remove content or start a new document.
      </div>
    </div>
  ) : loading ? (
    loadState === 'loading' ? (
      <div className="banner banner-info" role="status" data-testid="banner-loading">
        <div>
          <strong>Loading the document…</strong>
        </div>
      </div>
    ) : (
      <div className="banner banner-error" role="alert" data-testid="banner-unreachable">
        <div>
          <strong>{status.online ? 'Can’t reach the server.' : 'You are offline.'}</strong>
          This document has not been opened on this device before, so it can’t be shown or edited until Tandem reconnects. It will load by itself.
        </div>
      </div>
    )
  ) : !editable ? (
    <div className="banner banner-info" role="status" data-testid="banner-readonly">
      <div>
        <strong>View only.</strong> You can read this document and see edits live. Ask the owner for edit access.
      </div>
    </div>
  ) : null;

  return (
    <>
      <header className="editor-top">
        {/* Past the header and toolbar to the text in one Tab (keyboard users). */}
        <a
          href="#document-text"
          className="skip-link"
          onClick={(e) => {
            e.preventDefault();
            editor?.commands.focus();
          }}
        >
          Skip to document text
        </a>
        <Link href="/" className="brand" aria-label="All documents">
          <img src="/icon.svg" alt="" />
        </Link>
        <TitleField doc={doc} setDoc={setDoc} canEdit={editable && status.online} ydoc={ydoc} />
        <StatusLine status={status} closed={!!closed} retryAt={retryAt} transfer={transfer} loading={loadState} />
        <Presence users={presence} meId={me.id} />
        {!closed && (
          <button className="btn btn-sm" onClick={() => setHistoryOpen(true)} data-testid="history-button">
            History
          </button>
        )}
        {role === 'owner' && !closed && (
          <button className="btn btn-primary btn-sm" onClick={() => setShareOpen(true)} data-testid="share-button">
            Share
          </button>
        )}
      </header>
      {editor && ydoc && !waitForClient && <FormatBar editor={editor} editable={editable} onLink={() => setLinkOpen(true)} />}
      {editor && ydoc && !waitForClient && (
        <>
          <LinkBubble editor={editor} editable={editable} onEdit={() => setLinkOpen(true)} />
          <TableMenu editor={editor} editable={editable} />
          <LinkDialog editor={editor} open={linkOpen && editable} onClose={() => setLinkOpen(false)} />
        </>
      )}
      <main className="editor-shell">
        {banner}
        {imageError && (
          <div className="banner banner-error" role="alert" data-testid="image-error">
            <div>{imageError}</div>
            <button className="btn btn-sm" onClick={() => setImageError(null)}>
              Dismiss
            </button>
          </div>
        )}
        <div className="paper" data-role={role} data-editable={editable ? 'true' : 'false'} data-loading={loading ? 'true' : 'false'} aria-busy={loading}>
          {/* Signed out, access ended or deleted: the content is gone from this device, and from the screen. */}
          {closed?.reason === SIGNED_OUT_REASON || closed?.code === CloseCode.FORBIDDEN ? null : editor && ydoc && !waitForClient ? <EditorContent editor={editor} /> : <p className="muted">Loading the document…</p>}
        </div>
        <div className="editor-foot">
          <span data-testid="word-count">{loading ? '' : `${words} ${words === 1 ? 'word' : 'words'}`}</span>
          <span>
            {role === 'viewer' ? 'Viewer' : role === 'editor' ? 'Editor' : 'Owner'}
            {offlineReady && !loading && !closed && (
              <span data-testid="offline-ready" title="This document opens and keeps your edits without a network">
                {' · available offline'}
              </span>
            )}
          </span>
        </div>
      </main>
      {role === 'owner' && <ShareDialog docId={doc.id} open={shareOpen} onClose={() => setShareOpen(false)} />}
      <ShortcutSheet open={sheetOpen} onClose={() => setSheetOpen(false)} />
      <HistoryPanel docId={doc.id} open={historyOpen} onClose={() => setHistoryOpen(false)} editor={editable ? editor : null} ydoc={ydoc} role={editable ? role : 'viewer'} />
    </>
  );
}

/**
 * The title is stored by the API (the document list reads it there); after a rename it is also
 * written into the Y.Doc's `meta` map so everyone with the document open sees it change live.
 */
function TitleField({ doc, setDoc, canEdit, ydoc }: { doc: DocSummary; setDoc: (d: DocSummary) => void; canEdit: boolean; ydoc: Y.Doc | null }) {
  const [value, setValue] = useState(doc.title);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => setValue(doc.title), [doc.title]);
  const docRef = useRef(doc);
  docRef.current = doc;
  useEffect(() => {
    if (!ydoc) return;
    const meta = ydoc.getMap<string>('meta');
    const onChange = (e: Y.YMapEvent<string>) => {
      const t = meta.get('title');
      if (!e.transaction.local && e.keysChanged.has('title') && typeof t === 'string' && t) setDoc({ ...docRef.current, title: t });
    };
    meta.observe(onChange);
    return () => meta.unobserve(onChange);
  }, [ydoc, setDoc]);
  useEffect(() => {
    document.title = `${doc.title} · Tandem`;
  }, [doc.title]);

  async function save() {
    const title = value.trim();
    if (!title) {
      setValue(doc.title);
      return;
    }
    if (title === doc.title) return;
    try {
      const updated = await api<unknown>(`/api/docs/${encodeURIComponent(doc.id)}`, { method: 'PATCH', body: { title } });
      const saved = pickTitle(updated, title);
      setDoc({ ...doc, ...saved });
      ydoc?.getMap<string>('meta').set('title', saved.title);
      setError(null);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : 'Could not rename.');
      setValue(doc.title);
    }
  }

  return (
    <>
      <input
        className="title-input"
        aria-label="Document title"
        value={value}
        maxLength={200}
        disabled={!canEdit}
        onChange={(e) => setValue(e.target.value)}
        onBlur={() => void save()}
        onKeyDown={(e) => {
          if (e.key === 'Enter') e.currentTarget.blur();
          if (e.key === 'Escape') {
            setValue(doc.title);
            e.currentTarget.blur();
          }
        }}
        data-testid="doc-title"
        aria-invalid={!!error}
        title={error ?? undefined}
      />
      {error && (
        <span className="field-error" role="alert">
          {error}
        </span>
      )}
    </>
  );
}

function pickTitle(raw: unknown, fallback: string): { title: string } {
  const r = raw as { title?: unknown; doc?: { title?: unknown } } | null;
  const t = r?.doc?.title ?? r?.title;
  return { title: typeof t === 'string' ? t : fallback };
}
