'use client';
/** A small menu over the table at the caret: add or remove rows and columns, delete the table. */
import type { Editor } from '@tiptap/core';
import { BubbleMenu } from '@tiptap/react/menus';

export function TableMenu({ editor, editable }: { editor: Editor; editable: boolean }) {
  const item = (label: string, title: string, run: () => boolean, testId?: string) => (
    <button type="button" className="btn btn-ghost btn-sm" title={title} aria-label={title} onMouseDown={(e) => e.preventDefault()} onClick={() => run()} data-testid={testId}>
      {label}
    </button>
  );
  return (
    <BubbleMenu
      editor={editor}
      pluginKey="tandemTableMenu"
      shouldShow={({ editor: e }) => editable && e.isEditable && e.isActive('table')}
      options={{ placement: 'top-start' }}
      className="bubble"
    >
      <div className="bubble-row" role="toolbar" aria-label="Table" data-testid="table-menu">
        {item('+ Row', 'Add a row below', () => editor.chain().focus().addRowAfter().run(), 'table-add-row')}
        {item('+ Column', 'Add a column to the right', () => editor.chain().focus().addColumnAfter().run(), 'table-add-column')}
        {item('− Row', 'Delete this row', () => editor.chain().focus().deleteRow().run())}
        {item('− Column', 'Delete this column', () => editor.chain().focus().deleteColumn().run())}
        {item('Delete table', 'Delete the table', () => editor.chain().focus().deleteTable().run(), 'table-delete')}
      </div>
    </BubbleMenu>
  );
}
