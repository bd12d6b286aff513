'use client';
/** The app header: brand, optional admin link, the signed-in user and sign-out. */
import Link from 'next/link';
import { useRouter } from 'next/navigation';
import { useState } from 'react';
import { api, type Me } from './api';
import { Avatar } from './Avatar';
import { PAGE_CACHE } from './editor/offline';

export function TopBar({ me, children }: { me: Me | null; children?: React.ReactNode }) {
  const router = useRouter();
  const [busy, setBusy] = useState(false);
  async function signOut() {
    setBusy(true);
    try {
      await api('/api/auth/logout', { method: 'POST' });
    } catch (err) {
      // Signing out locally still makes sense when the server is unreachable.
      console.warn('sign-out request failed', err);
    }
    // Pages cached for offline use carry this user's identity: drop them with the session.
    if ('caches' in window) await caches.delete(PAGE_CACHE).catch((err: unknown) => console.warn('could not clear the offline cache', err));
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
          <button className="btn btn-sm" onClick={signOut} disabled={busy}>
            Sign out
          </button>
        </>
      )}
    </header>
  );
}
