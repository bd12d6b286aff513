'use client';
/** Follows a verification link: one click posts its token, then the new account lands on its documents. */
import Link from 'next/link';
import { useRouter, useSearchParams } from 'next/navigation';
import { useState } from 'react';
import { api, ApiError } from './api';

export function VerifyEmail() {
  const router = useRouter();
  const token = useSearchParams().get('token') ?? '';
  const [state, setState] = useState<{ kind: 'idle' | 'busy' | 'already' } | { kind: 'error'; message: string }>({ kind: 'idle' });

  async function confirm() {
    setState({ kind: 'busy' });
    try {
      const r = await api<{ verification?: string }>('/api/auth/verify', { method: 'POST', body: { token } });
      if (r?.verification === 'already') return setState({ kind: 'already' });
      router.replace('/');
      router.refresh();
    } catch (err) {
      setState({ kind: 'error', message: err instanceof ApiError ? err.message : 'Something went wrong. Please try again.' });
    }
  }

  return (
    <main className="auth-wrap">
      <div className="card auth-card">
        <h1>Confirm your email</h1>
        {state.kind === 'already' ? (
          <p>
            This address already has a confirmed account. <Link href="/signin">Sign in</Link>
          </p>
        ) : (
          <>
            <p>Confirm this address to finish creating your account. Documents shared with it will then appear in your list.</p>
            {state.kind === 'error' && (
              <div className="banner banner-error" role="alert">
                {state.message}
              </div>
            )}
            <button className="btn btn-primary" onClick={confirm} disabled={!token || state.kind === 'busy'} data-testid="confirm-email">
              {state.kind === 'busy' ? 'Please wait…' : 'Confirm my email'}
            </button>
          </>
        )}
      </div>
    </main>
  );
}
