'use client';
/** Share dialog (owners and admins): add people by email with a role, change or remove them, general access. */
import { useCallback, useEffect, useState, type FormEvent } from 'react';
import type { GeneralAccess, GrantRole } from '@/lib/acl';
import type { AccessView } from '@/lib/api-schemas';
import { api, ApiError } from '../api';
import { Avatar } from '../Avatar';
import { Dialog } from '../Dialog';

export function ShareDialog({ docId, open, onClose }: { docId: string; open: boolean; onClose: () => void }) {
  const [access, setAccess] = useState<AccessView | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [email, setEmail] = useState('');
  const [newRole, setNewRole] = useState<GrantRole>('editor');
  const [emailError, setEmailError] = useState<string | null>(null);
  const [copied, setCopied] = useState(false);

  const base = `/api/docs/${encodeURIComponent(docId)}/access`;
  const load = useCallback(async () => {
    try {
      setAccess(await api<AccessView>(base));
      setError(null);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : 'Could not load who has access.');
    }
  }, [base]);

  useEffect(() => {
    if (open) void load();
  }, [open, load]);

  async function run(fn: () => Promise<unknown>) {
    setBusy(true);
    setError(null);
    try {
      await fn();
      await load();
      return true;
    } catch (err) {
      setError(err instanceof ApiError ? err.message : 'That did not work. Please try again.');
      return false;
    } finally {
      setBusy(false);
    }
  }

  async function add(e: FormEvent) {
    e.preventDefault();
    const addr = email.trim();
    if (!addr) return;
    // The app's own message next to the field (the form is noValidate: no browser bubble).
    if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(addr)) {
      setEmailError('Enter an email address, such as name@example.org.');
      return;
    }
    setEmailError(null);
    const ok = await run(() => api(`${base}/grants/${encodeURIComponent(addr)}`, { method: 'PUT', body: { role: newRole } }));
    if (ok) setEmail('');
  }

  const setRole = (addr: string, role: GrantRole) => run(() => api(`${base}/grants/${encodeURIComponent(addr)}`, { method: 'PUT', body: { role } }));
  const remove = (addr: string) => run(() => api(`${base}/grants/${encodeURIComponent(addr)}`, { method: 'DELETE' }));
  const setGeneral = (role: GeneralAccess) => run(() => api(`${base}/general`, { method: 'PUT', body: { role } }));

  async function copyLink() {
    const url = `${location.origin}/d/${encodeURIComponent(docId)}`;
    try {
      await navigator.clipboard.writeText(url);
      setCopied(true);
      setTimeout(() => setCopied(false), 2000);
    } catch (err) {
      console.warn('could not copy the link', err);
      setError(`Could not copy. The link is ${url}`);
    }
  }

  return (
    <Dialog open={open} onClose={onClose} title="Share" testId="share-dialog" footer={
        <>
          <button className="btn" onClick={() => void copyLink()} data-testid="share-copy-link">
            {copied ? 'Link copied' : 'Copy link'}
          </button>
          <span className="sr-only" role="status">
            {copied ? 'Link copied' : ''}
          </span>
          <button className="btn btn-primary" onClick={onClose}>
            Done
          </button>
        </>
      }
    >
      <form className="share-add" onSubmit={add} noValidate>
        <input
          className="input"
          type="email"
          placeholder="Add people by email"
          aria-label="Email address to share with"
          value={email}
          onChange={(e) => {
            setEmail(e.target.value);
            setEmailError(null);
          }}
          data-testid="share-email"
          aria-invalid={!!emailError}
          aria-describedby={emailError ? 'share-email-error' : undefined}
        />
        <select className="select" aria-label="Role for the new person" value={newRole} onChange={(e) => setNewRole(e.target.value as GrantRole)} data-testid="share-role">
          <option value="viewer">Viewer</option>
          <option value="editor">Editor</option>
        </select>
        <button className="btn btn-primary" type="submit" disabled={busy || !email.trim()} data-testid="share-add">
          Share
        </button>
      </form>
      {emailError && (
        <p id="share-email-error" className="field-error" role="alert" data-testid="share-email-error">
          {emailError}
        </p>
      )}
      {error && (
        <div className="banner banner-error" role="alert" style={{ marginBottom: 12 }}>
          {error}
        </div>
      )}
      <div className="section-label">People with access</div>
      {!access ? (
        <p className="muted small">Loading…</p>
      ) : (
        <ul className="people" data-testid="share-people">
          {access.owner && (
            <li>
              <Avatar id={access.owner.userId} name={access.owner.name} />
              <div className="who">
                <div>{access.owner.name}</div>
                <div className="muted small">{access.owner.email}</div>
              </div>
              <span className="muted small">Owner</span>
            </li>
          )}
          {access.grants.map((g) => (
            <li key={g.userId} data-testid="share-person" data-email={g.email}>
              <Avatar id={g.userId} name={g.name} />
              <div className="who">
                <div>{g.name}</div>
                <div className="muted small">{g.email}</div>
              </div>
              <select
                className="select"
                aria-label={`Role of ${g.email}`}
                value={g.role}
                disabled={busy}
                onChange={(e) => void setRole(g.email, e.target.value as GrantRole)}
              >
                <option value="viewer">Viewer</option>
                <option value="editor">Editor</option>
              </select>
              <button className="btn btn-ghost btn-sm" onClick={() => void remove(g.email)} disabled={busy} aria-label={`Remove ${g.email}`}>
                Remove
              </button>
            </li>
          ))}
          {(access.invitations ?? []).map((i) => (
            <li key={`invite:${i.email}`} data-testid="share-invitation" data-email={i.email}>
              <Avatar id={i.email} name={i.email} />
              <div className="who">
                <div>{i.email}</div>
                <div className="muted small">Invited: gets access once this address is confirmed</div>
              </div>
              <select
                className="select"
                aria-label={`Role of ${i.email}`}
                value={i.role}
                disabled={busy}
                onChange={(e) => void setRole(i.email, e.target.value as GrantRole)}
              >
                <option value="viewer">Viewer</option>
                <option value="editor">Editor</option>
              </select>
              <button className="btn btn-ghost btn-sm" onClick={() => void remove(i.email)} disabled={busy} aria-label={`Remove ${i.email}`}>
                Remove
              </button>
            </li>
          ))}
          {access.grants.length === 0 && !(access.invitations ?? []).length && <li className="muted small">Only you so far. Add people above.</li>}
        </ul>
      )}
      <div className="section-label">General access</div>
      <select
        className="select"
        style={{ width: '100%' }}
        aria-label="General access"
        value={access?.generalAccess ?? ''}
        disabled={!access || busy}
        onChange={(e) => void setGeneral((e.target.value || null) as GeneralAccess)}
        data-testid="share-general"
      >
        <option value="">Restricted: only people added above</option>
        <option value="viewer">Anyone signed in can view</option>
        <option value="editor">Anyone signed in can edit</option>
      </select>
    </Dialog>
  );
}
