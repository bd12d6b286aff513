'use client';
/**
 * Formatting buttons; each reflects the selection (aria-pressed), is disabled when read-only and
 * names its shortcut in its tooltip. One Tab stop: arrows move between buttons (roving tabindex).
 */
import { useRef, useState, type KeyboardEvent } from 'react';
import { useEditorState, type Editor } from '@tiptap/react';

/** The shortcut shown in tooltips and the shortcut sheet (Tiptap's defaults, plus Ctrl+K). */
export const SHORTCUTS: Record<string, string> = {
  Undo: 'Ctrl+Z',
  Redo: 'Ctrl+Shift+Z',
  'Heading 1': 'Ctrl+Alt+1',
  'Heading 2': 'Ctrl+Alt+2',
  'Heading 3': 'Ctrl+Alt+3',
  Bold: 'Ctrl+B',
  Italic: 'Ctrl+I',
  Underline: 'Ctrl+U',
  Strikethrough: 'Ctrl+Shift+S',
  'Inline code': 'Ctrl+E',
  Link: 'Ctrl+K',
  'Bulleted list': 'Ctrl+Shift+8',
  'Numbered list': 'Ctrl+Shift+7',
  'Task list': 'Ctrl+Shift+9',
  'Code block': 'Ctrl+Alt+C',
  Quote: 'Ctrl+Shift+B',
};

const words = (t: string) => t.toLowerCase().match(/[a-z0-9]+/g) ?? [];

/**
 * The button's name holds its visible text (WCAG 2.5.3, label in name): "Bold" for B, but
 * "H1 (Heading 1)" and "1. List (Numbered list)" where the name alone would not contain it.
 */
export function accessibleName(label: string, name: string): string {
  const l = words(label).join(' ');
  // One letter (B, I, U, S) is a glyph, not a word a speech user would say.
  if (l.length <= 1 || ` ${words(name).join(' ')} `.includes(` ${l} `)) return name;
  return `${label.replace(/^[^A-Za-z0-9]+/, '')} (${name})`;
}

export function FormatBar({ editor, editable, onLink }: { editor: Editor; editable: boolean; onLink: () => void }) {
  const s = useEditorState({
    editor,
    selector: ({ editor: e }) => ({
      bold: e.isActive('bold'),
      italic: e.isActive('italic'),
      underline: e.isActive('underline'),
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
  const bar = useRef<HTMLDivElement>(null);
  // The button that holds the toolbar's one Tab stop.
  const [current, setCurrent] = useState(0);
  let index = 0;

  const b = (label: string, name: string, pressed: boolean | undefined, run: () => void, disabled = false) => {
    const i = index++;
    const keys = SHORTCUTS[name];
    return (
      <button
        type="button"
        title={keys ? `${name} (${keys})` : name}
        aria-label={accessibleName(label, name)}
        aria-keyshortcuts={keys?.replace(/Ctrl/g, 'Control')}
        aria-pressed={pressed}
        onClick={run}
        disabled={!editable || disabled}
        tabIndex={i === current ? 0 : -1}
        onFocus={() => setCurrent(i)}
        onMouseDown={(e) => e.preventDefault()}
      >
        {label}
      </button>
    );
  };

  function onKeyDown(e: KeyboardEvent<HTMLDivElement>) {
    const buttons = Array.from(bar.current?.querySelectorAll<HTMLButtonElement>('button') ?? []);
    const at = buttons.indexOf(document.activeElement as HTMLButtonElement);
    if (at < 0) return;
    const to = e.key === 'ArrowRight' ? (at + 1) % buttons.length : e.key === 'ArrowLeft' ? (at - 1 + buttons.length) % buttons.length : e.key === 'Home' ? 0 : e.key === 'End' ? buttons.length - 1 : -1;
    if (to < 0) return;
    e.preventDefault();
    setCurrent(to);
    buttons[to]!.focus();
  }

  return (
    <div className="format-bar" role="toolbar" aria-label="Formatting" ref={bar} onKeyDown={onKeyDown} data-testid="format-bar">
      {b('↶', 'Undo', undefined, () => chain().undo().run(), !s.canUndo)}
      {b('↷', 'Redo', undefined, () => chain().redo().run(), !s.canRedo)}
      <span className="sep" />
      {b('H1', 'Heading 1', s.h1, () => chain().toggleHeading({ level: 1 }).run())}
      {b('H2', 'Heading 2', s.h2, () => chain().toggleHeading({ level: 2 }).run())}
      {b('H3', 'Heading 3', s.h3, () => chain().toggleHeading({ level: 3 }).run())}
      <span className="sep" />
      {b('B', 'Bold', s.bold, () => chain().toggleBold().run())}
      {b('I', 'Italic', s.italic, () => chain().toggleItalic().run())}
      {b('U', 'Underline', s.underline, () => chain().toggleUnderline().run())}
      {b('S', 'Strikethrough', s.strike, () => chain().toggleStrike().run())}
      {b('</>', 'Inline code', s.code, () => chain().toggleCode().run())}
      {b('Link', 'Link', s.link, onLink)}
      <span className="sep" />
      {b('• List', 'Bulleted list', s.bullet, () => chain().toggleBulletList().run())}
      {b('1. List', 'Numbered list', s.ordered, () => chain().toggleOrderedList().run())}
      {b('☑ Tasks', 'Task list', s.task, () => chain().toggleTaskList().run())}
      {b('{ }', 'Code block', s.codeBlock, () => chain().toggleCodeBlock().run())}
      {b('❝', 'Quote', s.quote, () => chain().toggleBlockquote().run())}
      {b('▦ Table', 'Insert table', undefined, () => chain().insertTable({ rows: 3, cols: 3, withHeaderRow: true }).run())}
    </div>
  );
}
