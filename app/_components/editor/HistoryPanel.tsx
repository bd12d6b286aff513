'use client';
/**
 * Version history in the editor: the list (names, who edited, when; rename; name the current
 * state), a read-only preview, a comparison with the current document or another version (added
 * and removed text marked), and restore with a confirmation. A restore is made in the editor as
 * the user's own edit (so Ctrl+Z undoes it, for everyone), then recorded by the API.
 */
import { useCallback, useEffect, useState } from 'react';
import * as Y from 'yjs';
import type { Editor, JSONContent } from '@tiptap/core';
import { roleAtLeast, type Role } from '@/lib/acl';
import type { VersionContentResponse, VersionDiffResponse, VersionView } from '@/lib/version-api';
import { api, ApiError } from '../api';
import { ConfirmDialog, Dialog } from '../Dialog';

const when = (t: number) => new Date(t).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });

function label(v: VersionView, all: VersionView[]): string {
  if (v.name) return v.name;
  if (v.kind === 'restore') {
    const from = all.find((x) => x.id === v.restoredFrom);
    return from ? `Restored ${from.name ?? `version ${from.n}`}` : 'Restored an earlier version';
  }
  return `Version ${v.n}`;
}

const toBase64 = (u: Uint8Array) => btoa(String.fromCharCode(...u));

export function HistoryPanel({ docId, open, onClose, editor, ydoc, role }: { docId: string; open: boolean; onClose: () => void; editor: Editor | null; ydoc: Y.Doc | null; role: Role }) {
  const [versions, setVersions] = useState<VersionView[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const [preview, setPreview] = useState<VersionContentResponse | null>(null);
  const [against, setAgainst] = useState<'none' | 'current' | string>('none');
  const [diff, setDiff] = useState<VersionDiffResponse | null>(null);
  const [confirm, setConfirm] = useState(false);
  const [newName, setNewName] = useState('');
  const [renaming, setRenaming] = useState<{ id: string; name: string } | null>(null);
  const canEdit = roleAtLeast(role, 'editor');
  const base = `/api/docs/${encodeURIComponent(docId)}/versions`;

  const show = (err: unknown) => setError(err instanceof ApiError ? err.message : 'Something went wrong.');

  const load = useCallback(async () => {
    try {
      const r = await api<{ versions: VersionView[] }>(base);
      setVersions(r.versions);
      setError(null);
    } catch (err) {
      show(err);
    }
  }, [base]);

  useEffect(() => {
    if (!open) return;
    void load();
  }, [open, load]);

  useEffect(() => {
    setPreview(null);
    setDiff(null);
    if (!selected) return;
    let live = true;
    void api<VersionContentResponse>(`${base}/${encodeURIComponent(selected)}`).then((r) => live && setPreview(r), show);
    return () => {
      live = false;
    };
  }, [selected, base]);

  useEffect(() => {
    setDiff(null);
    if (!selected || against === 'none') return;
    let live = true;
    void api<VersionDiffResponse>(`${base}/${encodeURIComponent(selected)}/diff?against=${encodeURIComponent(against)}`).then((r) => live && setDiff(r), show);
    return () => {
      live = false;
    };
  }, [selected, against, base]);

  async function nameCurrent() {
    const name = newName.trim();
    if (!name) return;
    try {
      await api(base, { method: 'POST', body: { name } });
      setNewName('');
      await load();
    } catch (err) {
      show(err);
    }
  }

  async function rename(id: string, name: string) {
    try {
      await api(`${base}/${encodeURIComponent(id)}`, { method: 'PATCH', body: { name: name.trim() || null } });
      setRenaming(null);
      await load();
    } catch (err) {
      show(err);
    }
  }

  async function remove(id: string) {
    try {
      await api(`${base}/${encodeURIComponent(id)}`, { method: 'DELETE' });
      if (selected === id) setSelected(null);
      await load();
    } catch (err) {
      show(err);
    }
  }

  async function restore() {
    setConfirm(false);
    if (!preview || !editor || !ydoc) return;
    try {
      // The user's own edit through the collaboration binding: the UndoManager tracks it.
      editor.commands.setContent(preview.json as JSONContent, { emitUpdate: true });
      const stateVector = toBase64(Y.encodeStateVector(ydoc));
      await api(`${base}/${encodeURIComponent(preview.version.id)}/restore`, { method: 'POST', body: { applied: { stateVector } } });
      setSelected(null);
      await load();
      onClose();
    } catch (err) {
      show(err);
    }
  }

  const list = versions ?? [];
  return (
    <>
      <Dialog open={open} onClose={onClose} title="Version history" testId="history-dialog">
        <div className="history">
          <div className="history-list" data-testid="history-list">
            {canEdit && (
              <form
                className="history-name"
                onSubmit={(e) => {
                  e.preventDefault();
                  void nameCurrent();
                }}
              >
                <input className="input" placeholder="Name the current version" value={newName} maxLength={100} onChange={(e) => setNewName(e.target.value)} data-testid="history-new-name" aria-label="Name the current version" />
                <button className="btn btn-sm" type="submit" data-testid="history-name-current">
                  Save
                </button>
              </form>
            )}
            {versions === null && <p className="muted">Loading…</p>}
            {versions !== null && list.length === 0 && <p className="muted">No versions yet. One is saved after a pause in editing.</p>}
            <ul>
              {list.map((v) => (
                <li key={v.id} className={selected === v.id ? 'active' : ''} data-testid="history-item" data-version={v.id}>
                  {renaming?.id === v.id ? (
                    <form
                      onSubmit={(e) => {
                        e.preventDefault();
                        void rename(v.id, renaming.name);
                      }}
                    >
                      <input className="input" value={renaming.name} maxLength={100} autoFocus onChange={(e) => setRenaming({ id: v.id, name: e.target.value })} aria-label="Version name" data-testid="history-rename-input" />
                    </form>
                  ) : (
                    <button className="history-pick" onClick={() => setSelected(v.id)}>
                      <strong>{label(v, list)}</strong>
                      <span className="muted">{when(v.createdAt)}</span>
                      <span className="muted small">{v.contributors.map((c) => c.name).join(', ') || v.createdBy?.name || '—'}</span>
                    </button>
                  )}
                  <span className="history-actions">
                    {canEdit && renaming?.id !== v.id && (
                      <button className="btn btn-ghost btn-sm" onClick={() => setRenaming({ id: v.id, name: v.name ?? '' })} data-testid="history-rename">
                        Rename
                      </button>
                    )}
                    {role === 'owner' && !v.name && (
                      <button className="btn btn-ghost btn-sm" onClick={() => void remove(v.id)} aria-label={`Delete ${label(v, list)}`}>
                        Delete
                      </button>
                    )}
                  </span>
                </li>
              ))}
            </ul>
          </div>
          <div className="history-preview">
            {error && (
              <p className="field-error" role="alert">
                {error}
              </p>
            )}
            {!preview && <p className="muted">Pick a version to see it.</p>}
            {preview && (
              <>
                <div className="history-toolbar">
                  <label>
                    Compare with{' '}
                    <select value={against} onChange={(e) => setAgainst(e.target.value)} data-testid="history-compare">
                      <option value="none">nothing (preview)</option>
                      <option value="current">the current document</option>
                      {list
                        .filter((v) => v.id !== preview.version.id)
                        .map((v) => (
                          <option key={v.id} value={v.id}>
                            {label(v, list)}
                          </option>
                        ))}
                    </select>
                  </label>
                  {canEdit && editor && (
                    <button className="btn btn-primary btn-sm" onClick={() => setConfirm(true)} data-testid="history-restore">
                      Restore this version
                    </button>
                  )}
                </div>
                {diff ? (
                  <div className="paper history-diff" data-testid="history-diff">
                    {diff.changes.map((c, i) =>
                      c.op === 'added' ? (
                        <ins key={i} className="diff-added">
                          {c.text}
                        </ins>
                      ) : c.op === 'removed' ? (
                        <del key={i} className="diff-removed">
                          {c.text}
                        </del>
                      ) : (
                        <span key={i}>{c.text}</span>
                      ),
                    )}
                  </div>
                ) : (
                  // HTML rendered on the server from the editor's own schema (text escaped, links filtered by the Link extension).
                  <div className="paper ProseMirror history-html" data-testid="history-preview" dangerouslySetInnerHTML={{ __html: preview.html }} />
                )}
              </>
            )}
          </div>
        </div>
      </Dialog>
      <ConfirmDialog
        open={confirm}
        onCancel={() => setConfirm(false)}
        onConfirm={() => void restore()}
        title="Restore this version?"
        confirmLabel="Restore"
        confirmTestId="history-restore-confirm"
      >
        The document will look like {preview ? label(preview.version, list) : 'this version'} for everyone. Edits others make meanwhile are kept, and you can undo
        the restore (Ctrl+Z) right after.
      </ConfirmDialog>
    </>
  );
}
