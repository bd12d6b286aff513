/**
 * The document schema's extensions: what the editor edits and what a version's HTML is rendered
 * with on the server, so both agree on every node and mark. The editor adds Placeholder,
 * Collaboration (field CONTENT_FIELD) and the carets, which add no content types.
 */
import StarterKit from '@tiptap/starter-kit';
import { TaskItem, TaskList } from '@tiptap/extension-list';
import type { Extensions } from '@tiptap/core';

/** StarterKit (its own undo off: collaboration brings per-user undo), links, task lists. */
export function contentExtensions(): Extensions {
  return [
    StarterKit.configure({ undoRedo: false, link: { openOnClick: false, autolink: true, defaultProtocol: 'https' } }),
    TaskList,
    TaskItem.configure({ nested: true }),
  ];
}
