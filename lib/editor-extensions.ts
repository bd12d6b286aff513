/**
 * The document schema's extensions: what the editor edits and what a version's HTML is rendered
 * with on the server, so both agree on every node and mark. The editor adds Placeholder,
 * Collaboration (field CONTENT_FIELD) and the carets, which add no content types.
 */
import StarterKit from '@tiptap/starter-kit';
import { TaskItem, TaskList } from '@tiptap/extension-list';
import Link from '@tiptap/extension-link';
import { TableKit } from '@tiptap/extension-table';
import Image from '@tiptap/extension-image';
import type { Extensions } from '@tiptap/core';

/**
 * Links end where they end: text typed right after a link is plain text (the stock mark is
 * inclusive while autolink is on, so every keystroke after a link extended it).
 */
const TandemLink = Link.extend({ inclusive: () => false });

/** StarterKit (its own undo off: collaboration brings per-user undo), links, task lists, tables (a pasted table stays one), images. */
export function contentExtensions(): Extensions {
  return [
    StarterKit.configure({ undoRedo: false, link: false }),
    // Opening on click is the editor's (Ctrl+click, see app/_components/editor/links.tsx).
    TandemLink.configure({ openOnClick: false, autolink: true, linkOnPaste: true, defaultProtocol: 'https', HTMLAttributes: { rel: 'noopener noreferrer nofollow', target: '_blank' } }),
    TaskList,
    TaskItem.configure({ nested: true }),
    TableKit.configure({ table: { resizable: false } }),
    // Images live in the document's image store (/api/docs/<id>/images/<id>); no data: URLs in the Y.Doc.
    Image.configure({ inline: false, allowBase64: false }),
  ];
}
