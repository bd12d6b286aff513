'use client';
/** The signed-in user, loaded once per page; redirects to sign-in when there is none. */
import { usePathname, useRouter } from 'next/navigation';
import { useEffect, useState } from 'react';
import { ApiError, fetchMe, type Me } from './api';

export type MeState = { status: 'loading' } | { status: 'ready'; me: Me; offline?: boolean } | { status: 'error'; message: string };

const ME_KEY = 'tandem:me';

function readCachedMe(): Me | null {
  try {
    const raw = localStorage.getItem(ME_KEY);
    return raw ? (JSON.parse(raw) as Me) : null;
  } catch {
    return null;
  }
}

export function useMe(): MeState {
  const router = useRouter();
  const path = usePathname();
  const [state, setState] = useState<MeState>({ status: 'loading' });
  useEffect(() => {
    const ac = new AbortController();
    fetchMe(ac.signal).then(
      (me) => {
        if (me) {
          setState({ status: 'ready', me });
          try {
            localStorage.setItem(ME_KEY, JSON.stringify(me));
          } catch (err) {
            console.warn('could not cache the account for offline use', err);
          }
        } else {
          try {
            localStorage.removeItem(ME_KEY);
          } catch {
            /* storage unavailable: nothing cached to forget */
          }
          router.replace(`/signin?next=${encodeURIComponent(path || '/')}`);
        }
      },
      (err: unknown) => {
        if ((err as Error).name === 'AbortError') return;
        // Offline: the last known account lets an open document keep working from this device.
        const cached = err instanceof ApiError && err.status === 0 ? readCachedMe() : null;
        if (cached) setState({ status: 'ready', me: cached, offline: true });
        else setState({ status: 'error', message: err instanceof ApiError ? err.message : 'Could not load your account.' });
      },
    );
    return () => ac.abort();
  }, [router, path]);
  return state;
}
