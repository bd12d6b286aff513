'use client';
/** The app header: brand, optional admin link, the signed-in user and sign-out. */
import Link from 'next/link';
import { useRouter } from 'next/navigation';
import { useState } from 'react';
import { api, type Me } from './api';
import { Avatar } from './Avatar';
import { purgeUserLocal } from './local-data';
import { announceSignOut } from './session-channel';

export function TopBar({ me, children }: { me: Me | null; children?: React.ReactNode }) {
  const router = useRouter();
  const [busy, setBusy] = useState(false);
  async function signOut(everywhere = false) {
    setBusy(true);
    // Other tabs stop editing at once (before the request: signing out holds even if it fails),
    // and close their offline copies so they can be deleted below.
    if (me) announceSignOut(me.id);
    try {
      await api(`/api/auth/logout${everywhere ? '?everywhere=1' : ''}`, { method: 'POST' });
    } catch (err) {
      // Signing out locally still makes sense when the server is unreachable.
      console.warn('sign-out request failed', err);
    }
    // Offline copies of documents and cached pages carry this user's content: drop them with the session.
    if (me) await purgeUserLocal(me.id);
    router.replace('/signin');
    router.refresh();
  }
  return (
    <header className="topbar">
      <Link href="/" className="brand">
        <img src="/icon.svg" alt="" /> Tandem
      </Link>
      {children}
      <div className="topbar-spacer" />
      {me && (
        <>
          {me.isAdmin && (
            <Link href="/admin" className="btn btn-ghost btn-sm">
              Admin
            </Link>
          )}
          <span className="user-chip">
            <Avatar id={me.id} name={me.name} />
            <span className="hide-sm" data-testid="me-name">{me.name}</span>
          </span>
          <button className="btn btn-sm" onClick={() => void signOut()} disabled={busy}>
            Sign out
          </button>
          <button className="btn btn-ghost btn-sm hide-sm" onClick={() => void signOut(true)} disabled={busy} title="End your sessions on every device">
            Sign out everywhere
          </button>
        </>
      )}
    </header>
  );
}
