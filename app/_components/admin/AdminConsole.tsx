'use client';
/** The admin console: live sessions (with force-disconnect), every document with its access list, the audit log. */
import Link from 'next/link';
import { useCallback, useEffect, useState, type FormEvent } from 'react';
import type { AccessView, AuditEntryView } from '@/lib/api-schemas';
import { api, ApiError, relativeTime, toDocs, type DocSummary, type Me } from '../api';
import { ConfirmDialog } from '../Dialog';

interface Session {
  connId: string;
  docId: string;
  docTitle: string | null;
  userId: string;
  name: string;
  role: string | null;
  openedAt: string;
  remoteAddress?: string;
  /** The collab-server instance holding the socket (scaled out). */
  instance?: string;
}

/** A collab-server instance that did not answer the listing (scaled out). */
interface Unreachable {
  instance: string;
  message?: string;
}

const msg = (err: unknown, fallback: string) => (err instanceof ApiError ? err.message : fallback);

export function AdminConsole({ me }: { me: Me }) {
  if (!me.isAdmin) {
    return (
      <main className="page">
        <div className="card empty" role="alert">
          <h2>Admins only</h2>
          <p>The admin console is for instance administrators.</p>
          <Link className="btn" href="/">
            Back to documents
          </Link>
        </div>
      </main>
    );
  }
  return (
    <main className="page">
      <div className="page-head">
        <h1>Admin console</h1>
      </div>
      <div className="admin-grid">
        <LiveSessions />
        <AllDocuments />
        <AuditLog />
      </div>
    </main>
  );
}

function LiveSessions() {
  const [sessions, setSessions] = useState<Session[] | null>(null);
  const [unreachable, setUnreachable] = useState<Unreachable[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [confirm, setConfirm] = useState<Session | null>(null);
  const [now, setNow] = useState(() => Date.now());

  const load = useCallback(async () => {
    try {
      const body = await api<{ sessions: Session[]; unreachable?: Unreachable[] }>('/api/admin/sessions');
      setSessions(body.sessions);
      setUnreachable(body.unreachable ?? []);
      setNow(Date.now());
      setError(null);
    } catch (err) {
      setError(msg(err, 'Could not load live sessions.'));
    }
  }, []);

  // Live view: refresh every few seconds while the console is open.
  useEffect(() => {
    void load();
    const t = setInterval(() => void load(), 3000);
    return () => clearInterval(t);
  }, [load]);

  async function disconnect() {
    if (!confirm) return;
    try {
      await api(`/api/admin/sessions/${encodeURIComponent(confirm.connId)}`, { method: 'DELETE' });
      setConfirm(null);
      await load();
    } catch (err) {
      setConfirm(null);
      setError(msg(err, 'Could not disconnect that session.'));
    }
  }

  // One row per document, its sessions under it.
  const byDoc = new Map<string, Session[]>();
  for (const s of sessions ?? []) byDoc.set(s.docId, [...(byDoc.get(s.docId) ?? []), s]);
  // Scaled out, say which collab-server holds each socket (one machine: no column).
  const multiInstance = (sessions ?? []).some((s) => s.instance) || unreachable.length > 0;

  return (
    <section className="card admin-section" aria-labelledby="sessions-h">
      <h2 id="sessions-h">
        <span>Live sessions</span>
        <span className="muted small" style={{ flex: 'none' }}>
          {sessions ? `${sessions.length} connected` : ''}
        </span>
        <button className="btn btn-sm" onClick={() => void load()}>
          Refresh
        </button>
      </h2>
      {error && (
        <div className="banner banner-error" role="alert" style={{ margin: 12 }}>
          {error}
        </div>
      )}
      {unreachable.length > 0 && (
        <div className="banner banner-error" role="alert" style={{ margin: 12 }} data-testid="sessions-unreachable">
          Not shown: sessions on {unreachable.map((u) => u.instance).join(', ')}, which did not answer. The list may be incomplete.
        </div>
      )}
      {sessions === null && !error ? (
        <div className="empty">Loading…</div>
      ) : sessions && sessions.length === 0 ? (
        <div className="empty" data-testid="sessions-empty">
          Nobody is connected right now.
        </div>
      ) : (
        <div className="table-scroll">
          <table className="list" data-testid="sessions">
            <thead>
              <tr>
                <th>Document</th>
                <th>User</th>
                <th>Role</th>
                <th className="hide-sm">Connected</th>
                <th className="hide-sm">Address</th>
                {multiInstance && <th className="hide-sm">Server</th>}
                <th>
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {[...byDoc.entries()].flatMap(([docId, list]) =>
                list.map((s, i) => (
                  <tr key={s.connId} data-testid="session-row" data-conn-id={s.connId} data-user-id={s.userId} data-doc-id={s.docId}>
                    <td>{i === 0 ? <Link href={`/d/${docId}`}>{s.docTitle ?? docId}</Link> : null}</td>
                    <td>{s.name || s.userId}</td>
                    <td>{s.role ? <span className={`badge badge-${s.role}`}>{s.role}</span> : '—'}</td>
                    <td className="hide-sm muted">{relativeTime(Date.parse(s.openedAt), now)}</td>
                    <td className="hide-sm mono">{s.remoteAddress ?? ''}</td>
                    {multiInstance && <td className="hide-sm mono">{s.instance ?? ''}</td>}
                    <td>
                      <div className="row-actions">
                        <button className="btn btn-sm" style={{ color: 'var(--danger)' }} onClick={() => setConfirm(s)} aria-label={`Disconnect ${s.name}`}>
                          Disconnect
                        </button>
                      </div>
                    </td>
                  </tr>
                )),
              )}
            </tbody>
          </table>
        </div>
      )}
      <ConfirmDialog
        open={confirm !== null}
        onCancel={() => setConfirm(null)}
        onConfirm={() => void disconnect()}
        title="Disconnect this session?"
        confirmLabel="Disconnect"
        confirmTestId="confirm-disconnect"
      >
        <p style={{ margin: 0 }}>
          {confirm?.name} will be disconnected from “{confirm?.docTitle ?? confirm?.docId}” and will not reconnect on their own.
        </p>
      </ConfirmDialog>
    </section>
  );
}

function AllDocuments() {
  const [docs, setDocs] = useState<DocSummary[] | null>(null);
  const [access, setAccess] = useState<Record<string, AccessView | 'error'>>({});
  const [error, setError] = useState<string | null>(null);
  const [q, setQ] = useState('');

  useEffect(() => {
    const ac = new AbortController();
    const t = setTimeout(async () => {
      try {
        const list = toDocs(await api<unknown>(`/api/docs?all=1${q ? `&q=${encodeURIComponent(q)}` : ''}`, { signal: ac.signal }));
        setDocs(list);
        setError(null);
        // Access lists, a few at a time so a big instance does not fire hundreds of requests at once.
        const queue = list.slice(0, 100);
        const worker = async () => {
          for (let d = queue.shift(); d; d = queue.shift()) {
            const id = d.id;
            try {
              const a = await api<AccessView>(`/api/docs/${encodeURIComponent(id)}/access`, { signal: ac.signal });
              setAccess((m) => ({ ...m, [id]: a }));
            } catch (err) {
              if ((err as Error).name === 'AbortError') return;
              setAccess((m) => ({ ...m, [id]: 'error' }));
            }
          }
        };
        await Promise.all([worker(), worker(), worker(), worker()]);
      } catch (err) {
        if ((err as Error).name !== 'AbortError') setError(msg(err, 'Could not load documents.'));
      }
    }, q ? 200 : 0);
    return () => {
      clearTimeout(t);
      ac.abort();
    };
  }, [q]);

  return (
    <section className="card admin-section" aria-labelledby="docs-h">
      <h2 id="docs-h">
        <span>All documents</span>
        <span className="muted small" style={{ flex: 'none' }}>
          {docs ? docs.length : ''}
        </span>
      </h2>
      <div className="filter-row">
        <input className="input" type="search" placeholder="Search by title" aria-label="Search all documents by title" value={q} onChange={(e) => setQ(e.target.value)} />
      </div>
      {error && (
        <div className="banner banner-error" role="alert" style={{ margin: 12 }}>
          {error}
        </div>
      )}
      {docs === null && !error ? (
        <div className="empty">Loading…</div>
      ) : docs && docs.length === 0 ? (
        <div className="empty">No documents{q ? ` match “${q}”` : ' on this instance yet'}.</div>
      ) : (
        <div className="table-scroll">
          <table className="list" data-testid="admin-docs">
            <thead>
              <tr>
                <th>Title</th>
                <th>Owner</th>
                <th>Access</th>
                <th className="hide-sm">Last edit</th>
              </tr>
            </thead>
            <tbody>
              {(docs ?? []).map((d) => {
                const a = access[d.id];
                return (
                  <tr key={d.id} data-testid="admin-doc-row" data-doc-id={d.id}>
                    <td>
                      <Link className="doc-title-link" href={`/d/${d.id}`}>
                        {d.title}
                      </Link>
                    </td>
                    <td className="small">
                      {d.ownerName}
                      <div className="muted">{d.ownerEmail}</div>
                    </td>
                    <td className="small">
                      {a === undefined ? (
                        <span className="muted">…</span>
                      ) : a === 'error' ? (
                        <span className="field-error">unavailable</span>
                      ) : (
                        <>
                          {a.grants.length === 0 && !a.generalAccess && <span className="muted">Only the owner</span>}
                          {a.grants.map((g) => (
                            <div key={g.userId}>
                              {g.email} <span className={`badge badge-${g.role}`}>{g.role}</span>
                            </div>
                          ))}
                          {a.generalAccess && <div className="muted">Anyone signed in: {a.generalAccess}</div>}
                        </>
                      )}
                    </td>
                    <td className="hide-sm muted small">{relativeTime(d.lastEditAt)}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function AuditLog() {
  const [entries, setEntries] = useState<AuditEntryView[] | null>(null);
  const [nextBefore, setNextBefore] = useState<number | null>(null);
  const [filter, setFilter] = useState<{ action: string; docId: string }>({ action: '', docId: '' });
  const [error, setError] = useState<string | null>(null);

  const load = useCallback(async (f: { action: string; docId: string }, before?: number) => {
    const p = new URLSearchParams({ limit: '50' });
    if (f.action.trim()) p.set('action', f.action.trim());
    if (f.docId.trim()) p.set('docId', f.docId.trim());
    if (before) p.set('before', String(before));
    try {
      const body = await api<{ entries: AuditEntryView[]; nextBefore: number | null }>(`/api/admin/audit?${p}`);
      setEntries((prev) => (before && prev ? [...prev, ...body.entries] : body.entries));
      setNextBefore(body.nextBefore);
      setError(null);
    } catch (err) {
      setError(msg(err, 'Could not load the audit log.'));
    }
  }, []);

  useEffect(() => {
    void load({ action: '', docId: '' });
  }, [load]);

  function apply(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const next = { action: String(f.get('action') ?? ''), docId: String(f.get('docId') ?? '') };
    setFilter(next);
    void load(next);
  }

  return (
    <section className="card admin-section" aria-labelledby="audit-h">
      <h2 id="audit-h">
        <span>Audit log</span>
      </h2>
      <form className="filter-row" onSubmit={apply} data-testid="audit-filter">
        <input className="input" name="action" placeholder="Action, e.g. grant.set" aria-label="Filter by action" list="audit-actions" />
        <datalist id="audit-actions">
          {[...new Set((entries ?? []).map((e) => e.action))].map((a) => (
            <option key={a} value={a} />
          ))}
        </datalist>
        <input className="input" name="docId" placeholder="Document id" aria-label="Filter by document id" />
        <button className="btn btn-sm" type="submit" style={{ height: 38 }}>
          Filter
        </button>
      </form>
      {error && (
        <div className="banner banner-error" role="alert" style={{ margin: 12 }}>
          {error}
        </div>
      )}
      {entries === null && !error ? (
        <div className="empty">Loading…</div>
      ) : entries && entries.length === 0 ? (
        <div className="empty">No audit entries{filter.action || filter.docId ? ' match this filter' : ' yet'}.</div>
      ) : (
        <div className="table-scroll">
          <table className="list" data-testid="audit">
            <thead>
              <tr>
                <th>When</th>
                <th>Who</th>
                <th>Action</th>
                <th className="hide-sm">Document</th>
                <th className="hide-sm">Details</th>
              </tr>
            </thead>
            <tbody>
              {(entries ?? []).map((e) => (
                <tr key={e.id} data-testid="audit-row" data-action={e.action}>
                  <td className="small muted" title={new Date(e.at).toLocaleString()}>
                    {new Date(e.at).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' })}
                  </td>
                  <td className="small">{e.actorEmail ?? e.actorId ?? 'system'}</td>
                  <td>
                    <span className="badge">{e.action}</span>
                  </td>
                  <td className="hide-sm mono">{e.docId ? <Link href={`/d/${e.docId}`}>{e.docId}</Link> : '—'}</td>
                  <td className="hide-sm mono" style={{ maxWidth: 320, overflow: 'hidden', textOverflow: 'ellipsis', whiteSpace: 'nowrap' }}>
                    {[e.target, e.detail ? JSON.stringify(e.detail) : null].filter(Boolean).join(' ')}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {nextBefore && (
        <div style={{ padding: 12, textAlign: 'center' }}>
          <button className="btn btn-sm" onClick={() => void load(filter, nextBefore)}>
            Load older
          </button>
        </div>
      )}
    </section>
  );
}
