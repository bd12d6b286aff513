/**
 * The editor's word count (app/_components/editor/word-count.ts) is cached per top-level block; it
 * must equal the whole-text count it replaced, before and after an edit.
 */
import { describe, expect, test } from 'vitest';
import { getSchema } from '@tiptap/core';
import { EditorState } from '@tiptap/pm/state';
import { contentExtensions } from '@/lib/editor-extensions';
import { countWords } from '@/app/_components/editor/word-count';

const schema = getSchema(contentExtensions());
const wholeText = (doc: EditorState['doc']) => {
  const t = doc.textBetween(0, doc.content.size, '\n', ' ').trim();
  return t ? t.split(/\s+/).length : 0;
};

describe('countWords', () => {
  test('equals the whole-text count, and follows an edit', () => {
    const doc = schema.nodeFromJSON({
      type: 'doc',
      content: [
        { type: 'heading', attrs: { level: 1 }, content: [{ type: 'text', text: 'Quarterly  report' }] },
        { type: 'paragraph' },
        { type: 'paragraph', content: [{ type: 'text', text: ' figures, region by region ' }, { type: 'hardBreak' }, { type: 'text', text: 'notes' }] },
        { type: 'bulletList', content: [{ type: 'listItem', content: [{ type: 'paragraph', content: [{ type: 'text', text: 'one two' }] }] }, { type: 'listItem', content: [{ type: 'paragraph', content: [{ type: 'text', text: 'three' }] }] }] },
      ],
    });
    expect(countWords(doc)).toBe(wholeText(doc));
    expect(countWords(doc)).toBe(10);
    let state = EditorState.create({ schema, doc });
    state = state.apply(state.tr.insertText(' and more', 3));
    expect(countWords(state.doc)).toBe(wholeText(state.doc));
    expect(countWords(schema.nodeFromJSON({ type: 'doc', content: [{ type: 'paragraph' }] }))).toBe(0);
  });
});
