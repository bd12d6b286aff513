import { describe, expect, it } from 'vitest';
import { accessibleName } from '../../app/_components/editor/FormatBar';

describe('toolbar button names hold their visible text (WCAG 2.5.3)', () => {
  it('keeps the plain name when it already contains the text, or the text is a glyph', () => {
    expect(accessibleName('B', 'Bold')).toBe('Bold');
    expect(accessibleName('Link', 'Link')).toBe('Link');
    expect(accessibleName('• List', 'Bulleted list')).toBe('Bulleted list');
    expect(accessibleName('</>', 'Inline code')).toBe('Inline code');
    expect(accessibleName('▦ Table', 'Insert table')).toBe('Insert table');
  });
  it('leads with the visible text otherwise', () => {
    expect(accessibleName('H1', 'Heading 1')).toBe('H1 (Heading 1)');
    expect(accessibleName('1. List', 'Numbered list')).toBe('1. List (Numbered list)');
    expect(accessibleName('☑ Tasks', 'Task list')).toBe('Tasks (Task list)');
  });
});
