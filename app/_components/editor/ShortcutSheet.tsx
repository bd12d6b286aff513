'use client';
/** The keyboard shortcut sheet (Ctrl+/ or ⌘/): every formatting shortcut, links, undo, this sheet. */
import { useEffect } from 'react';
import { Dialog } from '../Dialog';
import { SHORTCUTS } from './FormatBar';

const MORE: [string, string][] = [
  ['Open a link (in the text)', 'Ctrl+click'],
  ['Move between toolbar buttons', '← →'],
  ['This list of shortcuts', 'Ctrl+/'],
];

/** Opens on Ctrl+/ (⌘/ on a Mac) anywhere on the page. */
export function useShortcutSheetKey(open: () => void): void {
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if ((e.ctrlKey || e.metaKey) && e.key === '/') {
        e.preventDefault();
        open();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [open]);
}

export function ShortcutSheet({ open, onClose }: { open: boolean; onClose: () => void }) {
  const mac = typeof navigator !== 'undefined' && /Mac|iPhone|iPad/.test(navigator.platform);
  const keys = (k: string) => (mac ? k.replace(/Ctrl\+/g, '⌘').replace(/Alt\+/g, '⌥') : k);
  return (
    <Dialog open={open} onClose={onClose} title="Keyboard shortcuts" testId="shortcut-sheet" footer={<button className="btn btn-primary" onClick={onClose}>Done</button>}>
      <table className="shortcuts">
        <tbody>
          {[...Object.entries(SHORTCUTS), ...MORE].map(([what, k]) => (
            <tr key={what}>
              <th scope="row">{what}</th>
              <td>
                <kbd>{keys(k)}</kbd>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </Dialog>
  );
}
