'use client';
/**
 * Links in the editor: Ctrl+K (or the toolbar) opens the link dialog, a bubble over a link offers
 * Open / Edit / Remove, and Ctrl+click (⌘+click) opens a link in a new tab. What is typed is stored
 * through normalizeHref, so `example.org/page` becomes `https://example.org/page`.
 */
import { useEffect, useState, type FormEvent } from 'react';
import { Extension, type Editor } from '@tiptap/core';
import { Plugin, PluginKey } from '@tiptap/pm/state';
import { BubbleMenu } from '@tiptap/react/menus';
import { useEditorState } from '@tiptap/react';
import { normalizeHref } from '@/lib/link-href';
import { Dialog } from '../Dialog';

/** Ctrl+K asks `open` for the link dialog; Ctrl+click (or any click while read-only) opens a link. */
export function linkKeys(open: () => void) {
  return Extension.create({
    name: 'tandemLinkKeys',
    addKeyboardShortcuts() {
      return {
        'Mod-k': () => {
          if (!this.editor.isEditable) return false;
          open();
          return true;
        },
      };
    },
    addProseMirrorPlugins() {
      return [
        new Plugin({
          key: new PluginKey('tandemLinkClick'),
          props: {
            handleClick(view, _pos, event) {
              if (event.button !== 0 || (view.editable && !event.ctrlKey && !event.metaKey)) return false;
              const a = (event.target as HTMLElement | null)?.closest('a');
              if (!a || !view.dom.contains(a) || !a.href) return false;
              window.open(a.href, '_blank', 'noopener,noreferrer');
              event.preventDefault();
              return true;
            },
          },
        }),
      ];
    },
  });
}

/** The bubble over the link at the caret: its address (opens it), Edit, Remove. */
export function LinkBubble({ editor, editable, onEdit }: { editor: Editor; editable: boolean; onEdit: () => void }) {
  const href = useEditorState({ editor, selector: ({ editor: e }) => (e.isActive('link') ? ((e.getAttributes('link').href as string | undefined) ?? '') : '') });
  return (
    <BubbleMenu
      editor={editor}
      pluginKey="tandemLinkBubble"
      shouldShow={({ editor: e }) => e.isActive('link')}
      options={{ placement: 'bottom-start' }}
      className="bubble"
    >
      {/* Attributes on the menu root are not forwarded by BubbleMenu: the test id sits inside. */}
      <div className="bubble-row" data-testid="link-bubble">
        <a href={href} target="_blank" rel="noopener noreferrer" className="bubble-href" title="Open link in a new tab" data-testid="link-bubble-open">
          {href}
        </a>
        {editable && (
          <>
            <button type="button" className="btn btn-ghost btn-sm" onClick={onEdit} data-testid="link-bubble-edit">
              Edit
            </button>
            <button
              type="button"
              className="btn btn-ghost btn-sm"
              onClick={() => editor.chain().focus().extendMarkRange('link').unsetLink().run()}
              data-testid="link-bubble-remove"
            >
              Remove
            </button>
          </>
        )}
      </div>
    </BubbleMenu>
  );
}

/** Add or change a link: the address (and the text, when nothing is selected), checked inline. */
export function LinkDialog({ editor, open, onClose }: { editor: Editor; open: boolean; onClose: () => void }) {
  const [url, setUrl] = useState('');
  const [text, setText] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [needsText, setNeedsText] = useState(false);
  useEffect(() => {
    if (!open) return;
    const inLink = editor.isActive('link');
    setUrl(inLink ? ((editor.getAttributes('link').href as string | undefined) ?? '') : '');
    setText('');
    setError(null);
    setNeedsText(editor.state.selection.empty && !inLink);
  }, [open, editor]);

  function submit(e: FormEvent) {
    e.preventDefault();
    const href = normalizeHref(url);
    if (!href) {
      setError('Enter a web address, such as example.org/page, or an email address.');
      return;
    }
    const chain = editor.chain().focus();
    if (editor.isActive('link')) chain.extendMarkRange('link').setLink({ href }).run();
    else if (editor.state.selection.empty) chain.insertContent({ type: 'text', text: text.trim() || url.trim(), marks: [{ type: 'link', attrs: { href } }] }).run();
    else chain.setLink({ href }).run();
    onClose();
  }

  return (
    <Dialog
      open={open}
      onClose={() => {
        onClose();
        editor.commands.focus();
      }}
      title={editor.isActive('link') ? 'Edit link' : 'Add link'}
      testId="link-dialog"
    >
      <form onSubmit={submit} noValidate className="link-form">
        <label className="field">
          <span>Address</span>
          <input
            className="input"
            value={url}
            onChange={(e) => {
              setUrl(e.target.value);
              setError(null);
            }}
            placeholder="example.org/page"
            aria-invalid={!!error}
            aria-describedby={error ? 'link-error' : undefined}
            data-testid="link-url"
            data-autofocus
          />
        </label>
        {error && (
          <p id="link-error" className="field-error" role="alert">
            {error}
          </p>
        )}
        {needsText && (
          <label className="field">
            <span>Text to show (optional)</span>
            <input className="input" value={text} onChange={(e) => setText(e.target.value)} data-testid="link-text" />
          </label>
        )}
        <div className="dialog-actions">
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="btn btn-primary" data-testid="link-save">
            Apply
          </button>
        </div>
      </form>
    </Dialog>
  );
}
