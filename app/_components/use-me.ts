'use client';
/** The signed-in user, loaded once per page; redirects to sign-in when there is none. */
import { usePathname, useRouter } from 'next/navigation';
import { useEffect, useState } from 'react';
import { ApiError, fetchMe, type Me } from './api';

export type MeState = { status: 'loading' } | { status: 'ready'; me: Me } | { status: 'error'; message: string };

export function useMe(): MeState {
  const router = useRouter();
  const path = usePathname();
  const [state, setState] = useState<MeState>({ status: 'loading' });
  useEffect(() => {
    const ac = new AbortController();
    fetchMe(ac.signal).then(
      (me) => {
        if (me) setState({ status: 'ready', me });
        else router.replace(`/signin?next=${encodeURIComponent(path || '/')}`);
      },
      (err: unknown) => {
        if ((err as Error).name === 'AbortError') return;
        setState({ status: 'error', message: err instanceof ApiError ? err.message : 'Could not load your account.' });
      },
    );
    return () => ac.abort();
  }, [router, path]);
  return state;
}
