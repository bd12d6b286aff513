'use client';
/** The document list: mine and shared with me, search by title and content, sort, create, rename, delete. */
import Link from 'next/link';
import { useRouter } from 'next/navigation';
import { useCallback, useEffect, useState, type FormEvent } from 'react';
import { api, ApiError, relativeTime, toDoc, toDocs, type DocSummary, type Me } from './api';
import { ConfirmDialog, Dialog } from './Dialog';
import { offlineList, rememberList } from './local-data';
import { cacheForOffline } from './editor/offline';

/** How often an open document list re-reads itself (shares, renames, deletions by others). */
const LIST_REFRESH_MS = 5000;

type Tab = 'all' | 'mine' | 'shared';
type Sort = 'edited' | 'title' | 'created';

/** The list's URL: the default sort is left out, so the offline copy is the plain list's. */
const listUrl = (query: string, sort: Sort) => {
  const p = new URLSearchParams();
  if (query) p.set('q', query);
  if (sort !== 'edited') p.set('sort', sort);
  const s = p.toString();
  return `/api/docs${s ? `?${s}` : ''}`;
};

export function DocList({ me }: { me: Me }) {
  const router = useRouter();
  const [docs, setDocs] = useState<DocSummary[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  // The session ended (expired, or signed out elsewhere): say so with the way back in.
  const [expired, setExpired] = useState(false);
  // No network: the list shows the documents kept on this device (they open offline).
  const [offline, setOffline] = useState(false);
  const [q, setQ] = useState('');
  const [tab, setTab] = useState<Tab>('all');
  const [sort, setSort] = useState<Sort>('edited');
  const [creating, setCreating] = useState(false);
  const [renaming, setRenaming] = useState<DocSummary | null>(null);
  const [deleting, setDeleting] = useState<DocSummary | null>(null);
  const [dialogError, setDialogError] = useState<string | null>(null);
  const [now, setNow] = useState(() => Date.now());

  const load = useCallback(async (query: string, signal?: AbortSignal) => {
    try {
      const body = await api<unknown>(listUrl(query, sort), { signal });
      const list = toDocs(body);
      setDocs(list);
      if (!query && sort === 'edited') rememberList(me.id, list);
      setNow(Date.now());
      setError(null);
      setOffline(false);
    } catch (err) {
      if ((err as Error).name === 'AbortError') return;
      if (err instanceof ApiError && err.status === 401) return setExpired(true);
      if (err instanceof ApiError && err.status === 0) {
        const local = await offlineList<DocSummary>(me.id);
        if (local) {
          const needle = query.toLowerCase();
          setDocs(local.filter((d) => !needle || d.title.toLowerCase().includes(needle)));
          setOffline(true);
          setError(null);
          return;
        }
      }
      setError(err instanceof ApiError ? err.message : 'Could not load your documents.');
    }
  }, [me.id, sort]);

  // The list opens offline too (service worker + the copies kept on this device).
  useEffect(() => {
    if (navigator.onLine) void cacheForOffline();
  }, []);

  // Search as you type, debounced so each keystroke does not cost a request.
  useEffect(() => {
    const ac = new AbortController();
    const t = setTimeout(() => void load(q.trim(), ac.signal), q ? 200 : 0);
    return () => {
      clearTimeout(t);
      ac.abort();
    };
  }, [q, load]);

  // Live: what is shared with you (or renamed, edited, deleted) shows up without a reload. The list
  // is re-read while the tab is visible, and at once when it becomes visible again.
  useEffect(() => {
    const refresh = () => {
      if (document.visibilityState === 'visible' && navigator.onLine) void load(q.trim());
    };
    const timer = setInterval(refresh, LIST_REFRESH_MS);
    document.addEventListener('visibilitychange', refresh);
    window.addEventListener('focus', refresh);
    return () => {
      clearInterval(timer);
      document.removeEventListener('visibilitychange', refresh);
      window.removeEventListener('focus', refresh);
    };
  }, [q, load]);

  async function create() {
    setCreating(true);
    try {
      const doc = toDoc(await api<unknown>('/api/docs', { method: 'POST', body: { title: 'Untitled document' } }));
      router.push(`/d/${doc.id}`);
    } catch (err) {
      setCreating(false);
      if (err instanceof ApiError && err.status === 401) return setExpired(true);
      setError(err instanceof ApiError ? err.message : 'Could not create a document.');
    }
  }

  async function rename(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    if (!renaming) return;
    const title = String(new FormData(e.currentTarget).get('title') ?? '').trim();
    try {
      await api(`/api/docs/${renaming.id}`, { method: 'PATCH', body: { title } });
      setRenaming(null);
      await load(q.trim());
    } catch (err) {
      setDialogError(err instanceof ApiError ? err.message : 'Could not rename the document.');
    }
  }

  async function remove() {
    if (!deleting) return;
    try {
      await api(`/api/docs/${deleting.id}`, { method: 'DELETE' });
      setDeleting(null);
      await load(q.trim());
    } catch (err) {
      setDialogError(err instanceof ApiError ? err.message : 'Could not delete the document.');
    }
  }

  const shown = (docs ?? []).filter((d) => (tab === 'mine' ? d.ownerId === me.id : tab === 'shared' ? d.ownerId !== me.id : true));

  return (
    <main className="page">
      <div className="page-head">
        <h1>Documents</h1>
        <button className="btn btn-primary" onClick={create} disabled={creating} data-testid="new-doc">
          {creating ? 'Creating…' : '+ New document'}
        </button>
      </div>
      <div className="toolbar-row">
        <div className="tabs" role="tablist" aria-label="Which documents">
          {(
            [
              ['all', 'All'],
              ['mine', 'Owned by me'],
              ['shared', 'Shared with me'],
            ] as const
          ).map(([k, label]) => (
            <button key={k} role="tab" aria-selected={tab === k} onClick={() => setTab(k)}>
              {label}
            </button>
          ))}
        </div>
        <div style={{ flex: 1 }} />
        <input
          className="input search"
          type="search"
          placeholder="Search titles and text"
          aria-label="Search titles and text"
          value={q}
          onChange={(e) => setQ(e.target.value)}
          data-testid="doc-search"
        />
        <select className="input" aria-label="Sort by" value={sort} onChange={(e) => setSort(e.target.value as Sort)} data-testid="doc-sort" style={{ width: 'auto' }}>
          <option value="edited">Last edited</option>
          <option value="title">Title</option>
          <option value="created">Date created</option>
        </select>
      </div>
      {offline && !expired && (
        <div className="banner banner-info" role="status" style={{ marginBottom: 14 }} data-testid="list-offline">
          <div>
            <strong>You are offline.</strong> These documents are kept on this device and open without a network; changes sync when you are back.
          </div>
        </div>
      )}
      {expired ? (
        <div className="banner banner-error" role="alert" style={{ marginBottom: 14 }} data-testid="list-expired">
          <div>
            <strong>Your session has expired.</strong> Sign in again to see your documents.
          </div>
          <Link className="btn btn-sm" href="/signin">
            Sign in
          </Link>
        </div>
      ) : (
        error && (
          <div className="banner banner-error" role="alert" style={{ marginBottom: 14 }}>
            {error}
          </div>
        )
      )}
      <div className="card">
        {docs === null && !error ? (
          <div className="empty">Loading your documents…</div>
        ) : shown.length === 0 ? (
          <div className="empty" data-testid="docs-empty">
            {q ? (
              <>
                <h2>No documents match “{q}”</h2>
                <p>Try another title.</p>
              </>
            ) : tab === 'shared' ? (
              <>
                <h2>Nothing shared with you yet</h2>
                <p>Documents others share with you will appear here.</p>
              </>
            ) : (
              <>
                <h2>No documents yet</h2>
                <p>Create your first document and invite someone to write with you.</p>
                <button className="btn btn-primary" onClick={create} disabled={creating}>
                  + New document
                </button>
              </>
            )}
          </div>
        ) : (
          <div className="table-scroll">
            <table className="list" data-testid="doc-list">
              <thead>
                <tr>
                  <th>Title</th>
                  <th className="hide-sm">Owner</th>
                  <th>Your role</th>
                  <th className="hide-sm">Last edit</th>
                  <th>
                    <span className="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {shown.map((d) => (
                  <tr key={d.id} data-testid="doc-row" data-doc-id={d.id}>
                    <td>
                      <Link className="doc-title-link" href={`/d/${d.id}`}>
                        {d.title}
                      </Link>
                    </td>
                    <td className="hide-sm muted">{d.ownerId === me.id ? 'me' : (d.ownerName ?? d.ownerEmail ?? '—')}</td>
                    <td>
                      <span className={`badge badge-${d.role}`}>{d.role}</span>
                    </td>
                    <td className="hide-sm muted" title={d.lastEditAt ? new Date(d.lastEditAt).toLocaleString() : 'never edited'}>
                      {relativeTime(d.lastEditAt, now)}
                    </td>
                    <td>
                      <div className="row-actions">
                        {d.role !== 'viewer' && (
                          <button
                            className="btn btn-ghost btn-sm"
                            onClick={() => {
                              setDialogError(null);
                              setRenaming(d);
                            }}
                            aria-label={`Rename ${d.title}`}
                          >
                            Rename
                          </button>
                        )}
                        {d.role === 'owner' && (
                          <button
                            className="btn btn-ghost btn-sm"
                            style={{ color: 'var(--danger)' }}
                            onClick={() => {
                              setDialogError(null);
                              setDeleting(d);
                            }}
                            aria-label={`Delete ${d.title}`}
                          >
                            Delete
                          </button>
                        )}
                      </div>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </div>

      <Dialog open={renaming !== null} onClose={() => setRenaming(null)} title="Rename document">
        {renaming && (
          <form onSubmit={rename} id="rename-form">
            <label className="field">
              Title
              <input className="input" name="title" defaultValue={renaming.title} autoFocus required maxLength={200} />
            </label>
            {dialogError && (
              <p className="field-error" role="alert">
                {dialogError}
              </p>
            )}
            <div className="dialog-foot" style={{ padding: '16px 0 0' }}>
              <button type="button" className="btn" onClick={() => setRenaming(null)}>
                Cancel
              </button>
              <button type="submit" className="btn btn-primary">
                Rename
              </button>
            </div>
          </form>
        )}
      </Dialog>

      <ConfirmDialog
        open={deleting !== null}
        onCancel={() => setDeleting(null)}
        onConfirm={() => void remove()}
        title="Delete document?"
        confirmLabel="Delete forever"
        confirmTestId="confirm-delete"
      >
        <p style={{ margin: 0 }}>
          “{deleting?.title}” will be deleted for everyone it is shared with. This cannot be undone.
        </p>
        {dialogError && (
          <p className="field-error" role="alert">
            {dialogError}
          </p>
        )}
      </ConfirmDialog>
    </main>
  );
}
