'use client';
/** Formatting buttons; each reflects the selection (aria-pressed) and is disabled when read-only. */
import { useEditorState, type Editor } from '@tiptap/react';

export function FormatBar({ editor, editable }: { editor: Editor; editable: boolean }) {
  const s = useEditorState({
    editor,
    selector: ({ editor: e }) => ({
      bold: e.isActive('bold'),
      italic: e.isActive('italic'),
      strike: e.isActive('strike'),
      code: e.isActive('code'),
      h1: e.isActive('heading', { level: 1 }),
      h2: e.isActive('heading', { level: 2 }),
      h3: e.isActive('heading', { level: 3 }),
      bullet: e.isActive('bulletList'),
      ordered: e.isActive('orderedList'),
      task: e.isActive('taskList'),
      codeBlock: e.isActive('codeBlock'),
      quote: e.isActive('blockquote'),
      link: e.isActive('link'),
      canUndo: e.can().undo?.() ?? false,
      canRedo: e.can().redo?.() ?? false,
    }),
  });

  const chain = () => editor.chain().focus();
  function setLink() {
    const prev = (editor.getAttributes('link').href as string | undefined) ?? '';
    const url = window.prompt('Link address', prev || 'https://');
    if (url === null) return;
    if (url.trim() === '') chain().extendMarkRange('link').unsetLink().run();
    else chain().extendMarkRange('link').setLink({ href: url.trim() }).run();
  }

  const b = (label: string, title: string, pressed: boolean | undefined, run: () => void, disabled = false) => (
    <button type="button" title={title} aria-label={title} aria-pressed={pressed} onClick={run} disabled={!editable || disabled} onMouseDown={(e) => e.preventDefault()}>
      {label}
    </button>
  );

  return (
    <div className="format-bar" role="toolbar" aria-label="Formatting">
      {b('↶', 'Undo (Ctrl+Z)', undefined, () => chain().undo().run(), !s.canUndo)}
      {b('↷', 'Redo (Ctrl+Shift+Z)', undefined, () => chain().redo().run(), !s.canRedo)}
      <span className="sep" />
      {b('H1', 'Heading 1', s.h1, () => chain().toggleHeading({ level: 1 }).run())}
      {b('H2', 'Heading 2', s.h2, () => chain().toggleHeading({ level: 2 }).run())}
      {b('H3', 'Heading 3', s.h3, () => chain().toggleHeading({ level: 3 }).run())}
      <span className="sep" />
      {b('B', 'Bold (Ctrl+B)', s.bold, () => chain().toggleBold().run())}
      {b('I', 'Italic (Ctrl+I)', s.italic, () => chain().toggleItalic().run())}
      {b('S', 'Strikethrough', s.strike, () => chain().toggleStrike().run())}
      {b('</>', 'Inline code', s.code, () => chain().toggleCode().run())}
      {b('Link', 'Link', s.link, setLink)}
      <span className="sep" />
      {b('• List', 'Bulleted list', s.bullet, () => chain().toggleBulletList().run())}
      {b('1. List', 'Numbered list', s.ordered, () => chain().toggleOrderedList().run())}
      {b('☑ Tasks', 'Task list', s.task, () => chain().toggleTaskList().run())}
      {b('{ }', 'Code block', s.codeBlock, () => chain().toggleCodeBlock().run())}
      {b('❝', 'Quote', s.quote, () => chain().toggleBlockquote().run())}
    </div>
  );
}
